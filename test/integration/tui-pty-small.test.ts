// A rehearsal in a real 80x24 terminal (tmux): the cutover gate fits the screen, its question and the approval
// prompt are on the visible screen (not scrolled off the top), the new key's ARN is whole, and declining stops the
// run at the gate (exit 3) with the resume command. Made narrower at the gate, the screen shows the gate once,
// redrawn at the new width, with no fragments of the old frame.
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

    // Narrower mid-run: the terminal re-wraps the old frame; the screen is cleared once and redrawn, no fragments.
    tmux('resize-window', '-t', SESSION, '-x', '64', '-y', '24');
    await new Promise((r) => setTimeout(r, 1500));
    const narrow = await waitFor('the gate redrawn at 64 columns', visible, /To approve, type orders-db/, 10_000);
    if (process.env.SHOW_FRAME) console.log(narrow);
    expect(narrow.split('Gate “cutover”').length - 1).toBe(1);
    expect(narrow.split('To approve, type orders-db').length - 1).toBe(1);
    // One gate box, drawn at the new width: the old 79-column borders would re-wrap into extra ╔/╚ runs.
    expect(narrow.split('╔').length - 1).toBe(1);
    expect(narrow.split('╚').length - 1).toBe(1);
    expect(/╔═+╗/.exec(narrow)?.[0].length).toBeLessThanOrEqual(64);
    // Every box side on screen lies inside that box: a fragment of the old frame (seen without the clear: a re-wrapped
    // `║ latency …` line above the step list) would sit outside it.
    const rows = narrow.split('\n');
    const top = rows.findIndex((l) => l.includes('╔'));
    const bottom = rows.findIndex((l) => l.includes('╚'));
    const sides = rows.flatMap((l, i) => (l.includes('║') ? [i] : []));
    expect(sides.every((i) => i > top && i < bottom)).toBe(true);

    tmux('send-keys', '-t', SESSION, 'Escape');
    const end = await waitFor('the run to stop at the gate', everything, /^EXITED \d+$/m, 60_000);
    expect(end).toMatch(/^EXITED 3$/m);
    expect(end).toMatch(/rekey resume \w+ --state-dir .* --approve cutover/);
  }, 400_000);
});
