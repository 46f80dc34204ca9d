// Benchmark of the TUI: time from process start to the first frame, and CPU used while a step waits.
// Runs dist/test/bench/tui-fixture.js in a real pseudo-terminal (tmux) so Ink renders as it would for a person.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What benchTui measures. */
export interface TuiBench {
  /** From the node process's start to the first frame with the running step on the terminal (target < 1000). */
  firstFrameMs: number;
  /** CPU time / wall time while a step waits, in percent of one core (target < 5). */
  idleCpuPercent: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function benchTui(opts: { idleMs?: number; timeoutMs?: number } = {}): Promise<TuiBench> {
  const idleMs = opts.idleMs ?? 3000;
  const fixture = join(dirname(fileURLToPath(import.meta.url)), 'tui-fixture.js');
  if (!existsSync(fixture)) throw new Error(`${fixture} is missing: build first (npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), 'rekey-bench-tui-'));
  const result = join(dir, 'result.json');
  const socket = `rekey-bench-tui-${process.pid}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    // CI would make Ink print only the last frame; the fixture must see a plain interactive terminal.
    const command = `env -u CI TERM=xterm-256color '${process.execPath}' '${fixture}' '${result}' ${idleMs}`;
    tmux('new-session', '-d', '-s', 'bench', '-x', '120', '-y', '40', command);
    const deadline = Date.now() + (opts.timeoutMs ?? idleMs + 30_000);
    while (!existsSync(result)) {
      if (Date.now() > deadline) throw new Error('the TUI fixture did not report in time');
      await sleep(100);
    }
    await sleep(50);
    const parsed = JSON.parse(readFileSync(result, 'utf8')) as TuiBench;
    if (parsed.firstFrameMs < 0) throw new Error('the TUI fixture never drew its first frame');
    return { firstFrameMs: Math.round(parsed.firstFrameMs), idleCpuPercent: Math.round(parsed.idleCpuPercent * 100) / 100 };
  } finally {
    try {
      tmux('kill-server');
    } catch {
      // the session ended by itself
    }
    // tmux can leave its socket file behind once the server is gone.
    try {
      rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, socket), { force: true });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node dist/test/bench/tui.js` runs it alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  benchTui().then(
    (r) => console.log(JSON.stringify(r)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
