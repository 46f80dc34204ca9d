// A rehearsal in a real 80x24 terminal (tmux): the cutover gate fits the screen, its question and the approval
// prompt are on the visible screen (not scrolled off the top), the new key's ARN is whole, and declining stops the
// run at the gate (exit 3) with the resume command.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const MAIN = join(REPO, 'dist', 'src', 'cli', 'main.js');
const suite = existsSync(MAIN) ? describe : describe.skip;

const SOCKET = `rekey-tui-small-${process.pid}`;
const SESSION = 'small';
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
/** Only what is on the screen now (no scrollback). */
const visible = (): string => tmux('capture-pane', '-p', '-t', SESSION);
/** The screen and its scrollback. */
const everything = (): string => tmux('capture-pane', '-p', '-J', '-S', '-400', '-t', SESSION);

async function waitFor(what: string, read: () => string, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const screen = read();
    if (re.test(screen)) return screen;
    if (/^EXITED \d+$/m.test(everything())) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (${re}); the screen was:\n${everything()}`);
}

suite('rekey rehearse in an 80x24 terminal (tmux)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-tui-small-'));

  afterAll(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    try {
      rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, SOCKET), { force: true });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('reaches the gate with the question and the approval prompt on screen', async () => {
    const runbook = join(dir, 'small.yaml');
    writeFileSync(runbook, readFileSync(join(REPO, 'runbooks', 'rehearsal-postgres.yaml'), 'utf8').replace(/seedRows: \d+/, 'seedRows: 2000'));
    const command = `env -u CI -u NO_COLOR AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true TERM=xterm-256color '${process.execPath}' '${MAIN}' rehearse '${runbook}' --load 20 --state-dir '${join(dir, 'state')}'; echo EXITED $?; sleep 300`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '80', '-y', '24', '-c', dir, command);

    const gate = await waitFor('the cutover gate on the visible screen', visible, /To approve, type orders-db and press/, 180_000);
    expect(gate).toContain('Gate “cutover”: Fence writes on the source');
    expect(gate).toMatch(/ 1\. \[/);
    // The new key's ARN, wrapped in its column, is whole.
    const arn = /arn:aws:kms:[^\s║]+(?:\s*║\s*\n║\s+[0-9a-f-]+)?/.exec(gate)?.[0] ?? '';
    expect(arn.replace(/[\s║]/g, '')).toMatch(/^arn:aws:kms:us-east-1:\d{12}:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (const line of gate.split('\n')) expect(line.length).toBeLessThanOrEqual(80);

    tmux('send-keys', '-t', SESSION, 'Escape');
    const end = await waitFor('the run to stop at the gate', everything, /^EXITED \d+$/m, 60_000);
    expect(end).toMatch(/^EXITED 3$/m);
    expect(end).toMatch(/rekey resume \w+ --state-dir .* --approve cutover/);
  }, 400_000);
});
