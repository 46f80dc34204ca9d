// The engine under real process deaths: SIGKILL inside each step, a second runner, gates, SIGINT.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const RUNNER = resolve('dist/test/helpers/fake-runner.js');
const STEPS = ['s1', 's2', 's3', 's4', 's5'];
const SECRET = 'Sup3r-s3cret-pw-4711';

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function tempDir(): string {
  const root = process.env.REKEY_TEST_ROOT ?? tmpdir();
  return mkdtempSync(join(root, 'engine-'));
}

function start(args: string[]): { child: ChildProcess; done: Promise<Done> } {
  const child = spawn(process.execPath, [RUNNER, ...args], { env: { ...process.env, FAKE_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Done>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done };
}

async function waitFor(pred: () => boolean, ms = 15000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function traceOf(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

const count = (lines: string[], prefix: string): number => lines.filter((l) => l.startsWith(prefix)).length;

describe('engine: killed runners resume', () => {
  it.each(STEPS)('SIGKILL inside %s, then resume completes, re-entering only that step, once', async (victim) => {
    const dir = tempDir();
    const trace = join(dir, 'trace.log');
    const common = ['--state-dir', join(dir, 'state'), '--trace', trace, '--step-ms', '400'];
    const first = start(['run', '--run-id', 'killtest', ...common, '--approve', 'cutover']);
    // Killed mid-step, after it created its resource (killing between `enter` and `created` raced on a busy machine).
    await waitFor(() => traceOf(trace).includes(`created ${victim}`));
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');

    const resumed = await start(['resume', 'killtest', ...common, '--approve', 'cutover']).done;
    expect(resumed.stderr).toContain('took over a stale lock');
    expect(resumed.code).toBe(0);

    const lines = traceOf(trace);
    for (const id of STEPS) {
      expect(count(lines, `exit ${id}`)).toBe(1);
      expect(count(lines, `enter ${id} `)).toBe(id === victim ? 2 : 1);
      expect(count(lines, `created ${id}`)).toBe(1);
    }
    // The re-entered step found what its first attempt created, and ran as attempt 2.
    expect(lines).toContain(`found ${victim}`);
    expect(lines).toContain(`enter ${victim} 2`);
    expect(resumed.stdout).toContain(`▶ ${victim}  Fake step ${victim} (attempt 2)`);
  });

  it('refuses a second runner on a live run', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trace.log');
    const common = ['--state-dir', join(dir, 'state'), '--trace', trace];
    const first = start(['run', '--run-id', 'livetest', ...common, '--step-ms', '3000']);
    await waitFor(() => traceOf(trace).some((l) => l.startsWith('enter s1 ')));
    const second = await start(['resume', 'livetest', ...common, '--step-ms', '10']).done;
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/run livetest is held by process \d+ since \S+/);
    expect(second.stderr).not.toContain('internal error');
    first.child.kill('SIGKILL');
    await first.done;
    expect(count(traceOf(trace), 'enter s1 ')).toBe(1);
  });

  it('stops at a gate with exit 3; resume --approve continues and journals the decision with what was shown', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trace.log');
    const state = join(dir, 'state');
    const common = ['--state-dir', state, '--trace', trace, '--step-ms', '20'];
    const first = await start(['run', '--run-id', 'gatetest', ...common]).done;
    expect(first.code).toBe(3);
    expect(first.stdout).toContain('rekey resume gatetest');
    expect(first.stdout).toContain('--approve cutover');
    expect(count(traceOf(trace), 'enter s3 ')).toBe(0);

    const noApproval = await start(['resume', 'gatetest', ...common]).done;
    expect(noApproval.code).toBe(3);

    const second = await start(['resume', 'gatetest', ...common, '--approve', 'cutover', '--json']).done;
    expect(second.code).toBe(0);
    const summary = JSON.parse(second.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ type: 'summary', ok: true, status: 'succeeded', runId: 'gatetest' });
    const journal = readFileSync(join(state, 'runs', 'gatetest', 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { t: string; decision: unknown; shown: { facts: unknown; actions: { target: string }[] } });
    const decided = journal.filter((r) => r.t === 'gate_decided');
    expect(decided).toHaveLength(1);
    expect(decided[0]!.decision).toMatchObject({ id: 'cutover', decision: 'approved', by: '--approve' });
    expect(decided[0]!.shown.facts).toEqual({ latencySeconds: 0.4 });
    expect(decided[0]!.shown.actions.map((a: { target: string }) => a.target)).toEqual(['s3', 's4', 's5']);
    expect(count(traceOf(trace), 'enter s1 ')).toBe(1);
  });

  it('SIGINT during a step exits 130 with a resumable journal', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trace.log');
    const state = join(dir, 'state');
    const common = ['--state-dir', state, '--trace', trace, '--step-ms', '2000', '--yes'];
    const first = start(['run', '--run-id', 'sigintts', ...common]);
    await waitFor(() => traceOf(trace).some((l) => l.startsWith('enter s2 ')));
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stdout).toContain('rekey resume sigintts');
    const journal = readFileSync(join(state, 'runs', 'sigintts', 'journal.jsonl'), 'utf8');
    expect(journal).toContain('"t":"step_interrupted","at"');
    expect(existsSync(join(state, 'runs', 'sigintts', 'run.lock'))).toBe(false);
    expect(traceOf(trace)).toContain('make-safe after s2');

    const resumed = await start(['resume', 'sigintts', '--state-dir', state, '--trace', trace, '--step-ms', '10', '--yes']).done;
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).not.toContain('stale lock');
    const lines = traceOf(trace);
    expect(count(lines, 'enter s2 ')).toBe(2);
    expect(count(lines, 'exit s2')).toBe(1);
    expect(count(lines, 'enter s1 ')).toBe(1);
  });

  it('a second SIGINT within 2 s exits at once (130) with the resume hint, leaving a resumable journal', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trace.log');
    const state = join(dir, 'state');
    const first = start(['run', '--run-id', 'twicetst', '--state-dir', state, '--trace', trace, '--step-ms', '4000', '--yes', '--finish-on-interrupt']);
    await waitFor(() => traceOf(trace).some((l) => l.startsWith('enter s2 ')));
    first.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain('forced exit');
    expect(stopped.stderr).toContain('rekey resume twicetst');
    // It did not wait for the step: s2 never exited.
    expect(count(traceOf(trace), 'exit s2')).toBe(0);
    const resumed = await start(['resume', 'twicetst', '--state-dir', state, '--trace', trace, '--step-ms', '10', '--yes']).done;
    expect(resumed.code).toBe(0);
  });

  it('one SIGINT lets a step that finishes on interrupt complete, then stops with 130 before the next', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trace.log');
    const state = join(dir, 'state');
    const first = start(['run', '--run-id', 'oncetest', '--state-dir', state, '--trace', trace, '--step-ms', '1500', '--yes', '--finish-on-interrupt']);
    await waitFor(() => traceOf(trace).some((l) => l.startsWith('enter s2 ')));
    first.child.kill('SIGINT');
    const stopped = await first.done;
    expect(stopped.code).toBe(130);
    expect(count(traceOf(trace), 'exit s2')).toBe(1);
    expect(count(traceOf(trace), 'enter s3 ')).toBe(0);
  });

  it('a failed step exits 5 after making the source safe, and never leaks the secret', async () => {
    const dir = tempDir();
    const trace = join(dir, 'trace.log');
    const state = join(dir, 'state');
    const failed = await start(['run', '--run-id', 'failtest', '--state-dir', state, '--trace', trace, '--step-ms', '10', '--yes', '--fail-at', 's4']).done;
    expect(failed.code).toBe(5);
    expect(traceOf(trace)).toContain('make-safe after s4');
    expect(failed.stdout).toContain('s4 failed on purpose');
    const resumed = await start(['resume', 'failtest', '--state-dir', state, '--trace', trace, '--step-ms', '10', '--yes', '--json']).done;
    expect(resumed.code).toBe(0);
    const journal = readFileSync(join(state, 'runs', 'failtest', 'journal.jsonl'), 'utf8');
    for (const text of [journal, failed.stdout, failed.stderr, resumed.stdout, resumed.stderr]) {
      expect(text).not.toContain(SECRET);
    }
    expect(journal).toContain('***');
  });
});
