import { afterEach, describe, expect, it } from '@jest/globals';
import { cleanup, render } from 'ink-testing-library';
import type { ReactElement } from 'react';
import type { ExecuteOutcome } from '../../src/engine/executor.js';
import { RunMachine } from '../../src/engine/run-machine.js';
import type { ApprovalRequest } from '../../src/engine/types.js';
import { InkRenderer } from '../../tui/ink-renderer.js';

const delay = (ms = 40): Promise<void> => new Promise((r) => setTimeout(r, ms));

const STEPS = [
  { id: 'preflight', title: 'Check the source, the key and DMS', hasGate: false },
  { id: 'snapshot', title: 'Snapshot the source', hasGate: false },
  { id: 'catch-up', title: 'Wait for CDC to catch up', hasGate: false },
  { id: 'fence', title: 'Fence writes on the source', hasGate: true },
  { id: 'switch', title: 'Rename the new cluster into place', hasGate: false },
];

const request: ApprovalRequest = {
  runId: 'r-42',
  stepId: 'fence',
  id: 'cutover',
  summary: 'Fence writes and cut over to the new key?',
  facts: { latencySeconds: 1.2 },
  actions: [
    { kind: 'sql', target: 'source', summary: 'fence writer roles' },
    { kind: 'aws', target: 'rds:ModifyDBCluster', summary: 'rename orders-db away' },
  ],
  confirmText: 'orders-db',
};

function setup() {
  const machine = new RunMachine('r-42', STEPS, { runbook: 'orders-rekey', source: 'orders-db', target: 'orders-db-rekey-r42', newKey: 'alias/new', provider: 'rehearsal' });
  const controller = new AbortController();
  const lines: string[] = [];
  let ui: ReturnType<typeof render> | undefined;
  let interrupts = 0;
  const renderer = new InkRenderer({
    stateDirArg: ' --state-dir /tmp/x',
    mount: (tree: ReactElement) => {
      ui = render(tree);
      return ui;
    },
    out: (l) => lines.push(l),
    err: (l) => lines.push(`err: ${l}`),
    user: () => 'alice',
    interrupt: () => interrupts++,
    color: false,
  });
  const { approver } = renderer.attach(machine, controller);
  const frame = (): string => ui!.lastFrame() ?? '';
  return { machine, controller, renderer, approver: approver!, ui: ui!, frame, lines, interrupts: () => interrupts };
}

const now = (): string => new Date().toISOString();

async function type(stdin: { write(s: string): void }, text: string): Promise<void> {
  for (const ch of text) {
    stdin.write(ch);
    await delay(5);
  }
  await delay();
}

describe('the TUI over a running machine', () => {
  afterEach(cleanup);

  it('advances the step list as the engine moves, finished steps printed once', async () => {
    const { machine, frame, ui } = setup();
    machine.setRunStatus('running');
    machine.setStepStatus('preflight', { kind: 'running', startedAt: now(), attempt: 1 });
    await delay(150);
    expect(frame()).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Check the source, the key and DMS/);
    expect(frame()).toContain('○ Snapshot the source');

    machine.setStepStatus('preflight', { kind: 'succeeded', startedAt: now(), endedAt: now(), durationMs: 1500, resumed: false });
    machine.setStepStatus('snapshot', { kind: 'running', startedAt: now(), attempt: 1 });
    machine.progress('snapshot', 'creating snapshot', 25, 60);
    await delay(150);
    const f = frame();
    expect(f).toMatch(/✔ Check the source, the key and DMS\s+1\.5s/);
    expect(f).toMatch(/Snapshot the source/);
    expect(f).toMatch(/25% eta 1m00s/);
    expect(f).not.toContain('○ Snapshot the source');

    machine.setStepStatus('snapshot', { kind: 'succeeded', startedAt: now(), endedAt: now(), durationMs: 61_000, resumed: false });
    machine.setStepStatus('catch-up', { kind: 'running', startedAt: now(), attempt: 1 });
    for (const [name, value] of [['cdc.threshold', 10], ['cdc.sustain.required', 60], ['cdc.latency.source', 4], ['cdc.latency.target', 3], ['cdc.sustained', 20]] as const) machine.metric(name, value, 's');
    machine.metric('load.acknowledged', 5000);
    machine.metric('load.perSecond', 100);
    machine.metric('load.errors', 0);
    machine.publish('validation-pre-fence', { at: now(), tables: 1, mismatched: 1, results: [{ table: 'public.orders', sourceRows: 10, targetRows: 9, matches: false }], durationMs: 5 });
    await delay(150);
    const g = frame();
    expect(g).toMatch(/✔ Snapshot the source\s+1m01s/);
    expect(g).toContain('CDC latency');
    expect(g).toContain('under threshold for 20s of 60s required');
    expect(g).toMatch(/100\/s acknowledged 5,000 errors 0/);
    // Before the fence a difference is drift: the target is behind, not a mismatch.
    expect(g).toMatch(/public\.orders\s+10\s+9\s+behind/);
    // Each finished step is in the output exactly once (Static).
    expect(g.split('✔ Check the source').length - 1).toBe(1);
    for (const line of g.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    ui.unmount();
  });

  it('renders a burst of engine events a few times, not once per event', async () => {
    const { machine, ui } = setup();
    machine.setStepStatus('catch-up', { kind: 'awaiting_approval', request: { ...request, stepId: 'catch-up' } });
    await delay(150);
    const before = ui.frames.length;
    // 100 events over ~0.6 s: unthrottled that is ~100 renders; throttled to 100 ms it is at most ~8.
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      machine.metric('cdc.latency.source', i % 20, 's');
      await delay(5);
    }
    await delay(150);
    const seconds = (Date.now() - started) / 1000;
    const renders = ui.frames.length - before;
    expect(renders).toBeGreaterThanOrEqual(2);
    // 10 a second, plus one for the trailing change and one for the elapsed-time clock.
    expect(renders).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 2);
    ui.unmount();
  });

  it('approves the gate through the approver only with the typed identifier, by the OS user', async () => {
    const { machine, controller, approver, frame, ui } = setup();
    machine.setStepStatus('fence', { kind: 'awaiting_approval', request });
    machine.gate(request);
    const decided = approver.decide(request, controller.signal);
    let settled = false;
    void decided.then(() => (settled = true));
    await delay(150);
    expect(frame()).toContain('Gate “cutover”');
    expect(frame()).toContain('1. [source] fence writer roles');

    await type(ui.stdin, 'orders');
    ui.stdin.write('\r');
    await delay();
    expect(settled).toBe(false);
    expect(frame()).toContain('not approved');

    await type(ui.stdin, '-db');
    ui.stdin.write('\r');
    const d = await decided;
    expect(d).toMatchObject({ id: 'cutover', decision: 'approved', by: 'alice' });
    expect(Number.isNaN(Date.parse(d!.at))).toBe(false);
    ui.unmount();
  });

  it('declines with n, and answers nothing when the run is aborted at the gate', async () => {
    const a = setup();
    a.machine.setStepStatus('fence', { kind: 'awaiting_approval', request });
    a.machine.gate(request);
    const declined = a.approver.decide(request, a.controller.signal);
    await delay(100);
    a.ui.stdin.write('n');
    expect(await declined).toMatchObject({ decision: 'declined', by: 'alice' });
    a.ui.unmount();

    const b = setup();
    b.machine.setStepStatus('fence', { kind: 'awaiting_approval', request });
    b.machine.gate(request);
    const aborted = b.approver.decide(request, b.controller.signal);
    await delay(50);
    b.controller.abort(new Error('SIGTERM'));
    expect(await aborted).toBeUndefined();
    b.ui.unmount();
  });

  it('keys: ? help, l log, a aborts through the controller; keys off while a gate waits', async () => {
    const { machine, controller, frame, ui } = setup();
    machine.setStepStatus('catch-up', { kind: 'running', startedAt: now(), attempt: 1 });
    machine.log('warn', 'latency is rising', 'catch-up');
    await delay(100);
    ui.stdin.write('?');
    await delay();
    expect(frame()).toContain('abort safely: finish or undo');
    ui.stdin.write('l');
    await delay();
    expect(frame()).toMatch(/warn \[catch-up\] latency is rising/);
    ui.stdin.write('l');
    await delay();
    expect(frame()).not.toContain('latency is rising');

    machine.setStepStatus('fence', { kind: 'awaiting_approval', request });
    machine.gate(request);
    await delay(150);
    ui.stdin.write('a');
    await delay();
    expect(controller.signal.aborted).toBe(false);
    ui.unmount();

    const second = setup();
    second.machine.setStepStatus('catch-up', { kind: 'running', startedAt: now(), attempt: 1 });
    await delay(100);
    // `a` asks first; any key but y keeps the run going, y aborts.
    second.ui.stdin.write('a');
    await delay(150);
    expect(second.controller.signal.aborted).toBe(false);
    expect(second.frame()).toContain('abort safely? ');
    second.ui.stdin.write('x');
    await delay(150);
    expect(second.controller.signal.aborted).toBe(false);
    expect(second.frame()).not.toContain('abort safely? ');
    second.ui.stdin.write('a');
    await delay(150);
    second.ui.stdin.write('y');
    await delay(150);
    expect(second.controller.signal.aborted).toBe(true);
    expect(second.frame()).toContain('aborting safely');
    second.ui.unmount();
  });

  it('q stops the run and done() prints the outcome and the exact resume command', async () => {
    const { machine, controller, renderer, frame, lines, ui } = setup();
    machine.setStepStatus('catch-up', { kind: 'running', startedAt: now(), attempt: 1 });
    await delay(100);
    ui.stdin.write('q');
    await delay();
    expect(controller.signal.aborted).toBe(true);
    expect(frame()).toContain('quitting safely');
    renderer.notice('a notice while mounted goes to the log pane');
    expect(lines).toEqual([]);
    machine.setRunStatus('interrupted', 'interrupted during catch-up');
    const outcome: ExecuteOutcome = { status: 'interrupted', stepId: 'catch-up' };
    await renderer.done(outcome, machine, 130, { writes: { acknowledged: 1200, lost: 0, duplicated: 0 } });
    expect(lines).toContain('run r-42: interrupted (exit 130): interrupted during catch-up');
    expect(lines).toContain('  writes: 1200 acknowledged, 0 lost, 0 duplicated');
    expect(lines[lines.length - 1]).toBe('continue with: rekey resume r-42 --state-dir /tmp/x');
    renderer.notice('after the app is gone, notices go to stderr');
    expect(lines[lines.length - 1]).toBe('err: rekey: after the app is gone, notices go to stderr');
  });

  it('Ctrl-C asks the session to stop (as a signal would)', async () => {
    const { interrupts, ui } = setup();
    await delay(50);
    ui.stdin.write('\u0003');
    await delay();
    expect(interrupts()).toBe(1);
    ui.unmount();
  });

  it('prints the approve-and-continue command when declined at the gate', async () => {
    const { machine, renderer, lines } = setup();
    const outcome: ExecuteOutcome = { status: 'awaiting_approval', request, declined: true };
    await renderer.done(outcome, machine, 3, {});
    expect(lines[lines.length - 1]).toBe('approve and continue: rekey resume r-42 --state-dir /tmp/x --approve cutover');
  });
});
