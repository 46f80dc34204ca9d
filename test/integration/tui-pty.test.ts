// End to end in a real pseudo-terminal: `rekey rehearse` under tmux shows the TUI, the steps advance, the
// latency chart appears, the cutover gate is approved by typing the source identifier, and the run ends
// with 0 lost writes. Reads the screen with capture-pane, as a person would see it.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');

/** Why the test cannot run yet, or undefined when it can. Only a missing `rehearse` command skips it. */
function missingRehearse(): string | undefined {
  if (!existsSync(MAIN)) return `${MAIN} is not built yet (npm run build)`;
  try {
    const help = execFileSync(process.execPath, [MAIN, '--help'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } });
    return /^\s+rehearse\b/m.test(help) ? undefined : 'dist/src/cli/main.js has no `rehearse` command yet';
  } catch (err) {
    return `dist/src/cli/main.js --help failed: ${(err as Error).message}`;
  }
}

const skipReason = missingRehearse();
if (skipReason) console.warn(`tui-pty: skipped: ${skipReason}`);
const suite = skipReason ? describe.skip : describe;

const SOCKET = `rekey-tui-test-${process.pid}`;
const SESSION = 'rehearse';
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });

/** The visible screen plus scrollback (finished steps scroll up). */
const screen = (): string => tmux('capture-pane', '-p', '-J', '-S', '-400', '-t', SESSION);

async function waitFor(what: string, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = screen();
    if (re.test(last)) return last;
    if (/^EXITED \d+$/m.test(last) && !re.test(last)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (${re}); the screen was:\n${last}`);
}

suite('rekey rehearse in a terminal (tmux)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-tui-pty-'));

  afterAll(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    // tmux can leave its socket file behind once the server is gone.
    try {
      rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, SOCKET), { force: true });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the steps and the latency chart, takes the typed approval and finishes with 0 lost writes', async () => {
    try {
      execFileSync('tmux', ['-V']);
    } catch {
      throw new Error('tmux is required for this test (Debian: apt-get install tmux)');
    }
    // Jest's environment may carry CI=true, which would make rekey headless: the child must see a terminal only.
    const command = `env -u CI -u NO_COLOR AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true TERM=xterm-256color '${process.execPath}' '${MAIN}' rehearse --state-dir '${join(dir, 'state')}'; echo EXITED $?; sleep 300`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '120', '-y', '40', '-c', dir, command);

    // Steps advance: the snapshot finishes while later steps are still ahead.
    const early = await waitFor('the snapshot step to finish', /✔ Snapshot the source cluster/, 120_000);
    expect(early).toMatch(/✔ Preflight checks/);
    expect(early).toMatch(/rekey .*\[rehearsal\]/);

    const chart = await waitFor('the CDC latency chart', /CDC latency • source [\d.]+s × target [\d.]+s/, 120_000);
    expect(chart).toMatch(/0s│/);
    expect(chart).toMatch(/└ last \d+ min/);

    const gate = await waitFor('the cutover gate', /To approve, type orders-db and press Enter/, 120_000);
    expect(gate).toContain('Gate “cutover”');
    expect(gate).toMatch(/ 1\. \[/);

    // A wrong identifier first: nothing happens.
    tmux('send-keys', '-t', SESSION, '-l', 'orders-dx');
    tmux('send-keys', '-t', SESSION, 'Enter');
    await waitFor('the refusal', /“orders-dx” is not “orders-db”: not approved/, 10_000);
    tmux('send-keys', '-t', SESSION, 'BSpace');
    tmux('send-keys', '-t', SESSION, '-l', 'b');
    tmux('send-keys', '-t', SESSION, 'Enter');

    const end = await waitFor('the run to finish', /^EXITED \d+$/m, 180_000);
    expect(end).toMatch(/✔ Switch: rename the new cluster into place/);
    expect(end).toMatch(/run \w+: succeeded \(exit 0\)/);
    expect(end).toMatch(/writes: \d+ acknowledged, 0 lost, 0 duplicated/);
    expect(end).toMatch(/^EXITED 0$/m);
  }, 600_000);
});
