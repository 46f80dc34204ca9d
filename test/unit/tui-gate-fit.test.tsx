// The cutover gate as the App lays it out at 80x24 and 120x40: never taller than the terminal (a taller frame makes
// Ink clear the whole screen on every render), the approval line always on screen, the new key's ARN whole.
import { afterEach, describe, expect, it } from '@jest/globals';
import { cleanup, render } from 'ink-testing-library';
import { RunMachine } from '../../src/engine/run-machine.js';
import type { ApprovalRequest } from '../../src/engine/types.js';
import { App, liveFacts } from '../../tui/App.js';
import { wrapText } from '../../tui/wrap.js';

const delay = (ms = 60): Promise<void> => new Promise((r) => setTimeout(r, ms));
const NEW_KEY = 'arn:aws:kms:us-east-1:123456789012:key/b4544a68-0b9c-4839-aa4e-27375ea34a11';
const OLD_KEY = 'arn:aws:kms:us-east-1:123456789012:key/12f81dd0-7f66-45ad-aaa4-f0538ef3390f';

const IDS = ['preflight', 'prepare-source', 'snapshot', 'restore', 'capture-position', 'dms-setup', 'start-cdc', 'catch-up', 'validate', 'before-fence', 'fence', 'drain', 'stop-task', 'final-validate', 'fix-sequences', 'switch', 'verify', 'after-switch', 'cleanup'];

/** The gate as the engine asks it on a real run: its facts and its 26 actions. */
const request: ApprovalRequest = {
  runId: 'ab12cd34',
  stepId: 'before-fence',
  id: 'cutover',
  summary: 'Fence writes on the source and cut over to the new cluster?',
  facts: {
    source: 'orders-db',
    newKey: NEW_KEY,
    switch: 'rename',
    latencySeconds: 0,
    validationAgeSeconds: 0,
    tablesCompared: 7,
    tablesDifferingBeforeFence: 2,
    predictedWindowSeconds: 6,
    tablesWithoutPrimaryKey: 1,
  },
  actions: Array.from({ length: 26 }, (_, i) => ({ kind: 'aws' as const, target: `rds:Action${i + 1}`, summary: `action number ${i + 1} of the cutover, described at some length to fill the line` })),
  confirmText: 'orders-db',
};

function setup(columns: number, rows: number) {
  const machine = new RunMachine('ab12cd34', IDS.map((id) => ({ id, title: `Title of ${id}`, hasGate: id === 'before-fence' })), {
    runbook: 'orders-db onto the 2026 key', source: 'orders-db', target: 'orders-db-rekey-ab12cd34', newKey: 'alias/orders-2026', provider: 'rehearsal',
  });
  const at = new Date().toISOString();
  machine.setRunStatus('running');
  for (const id of IDS.slice(0, 9)) {
    machine.setStepStatus(id, { kind: 'running', startedAt: at, attempt: 1 });
    machine.setStepStatus(id, { kind: 'succeeded', startedAt: at, endedAt: at, durationMs: 1000, resumed: false });
  }
  machine.publish('preflight', { tablesWithoutPk: ['public.audit_log'], estimate: { totalSeconds: 6, awsRenameDnsSeconds: 0 }, source: { kmsKeyId: OLD_KEY } });
  machine.metric('cdc.latency.source', 0.4);
  machine.metric('cdc.latency.target', 0.7);
  machine.setStepStatus('before-fence', { kind: 'awaiting_approval', request });
  machine.gate(request);
  const ui = render(<App run={machine} size={{ columns, rows }} onAbort={() => undefined} onQuit={() => undefined} onInterrupt={() => undefined} onAnswer={() => undefined} throttleMs={10} />);
  return { machine, ui };
}

/** The live part of the frame: finished steps are printed once above it (Ink's <Static>) and scroll away. */
function live(frame: string): string {
  const lines = frame.split('\n');
  const lastFinished = lines.map((l) => /^✔ Title of /.test(l)).lastIndexOf(true);
  return lines.slice(lastFinished + 1).join('\n');
}

/** What the screen shows of the gate, without borders and padding, for finding text that wrapped. */
function unwrapped(frame: string): string {
  return frame.replace(/[║│╔╗╚╝═\s]/g, '');
}

describe.each([
  [80, 24],
  [120, 40],
])('the gate at %ix%i', (columns, rows) => {
  afterEach(cleanup);

  it('fits the terminal, keeps the approval line on screen and shows the new key whole', async () => {
    const { ui } = setup(columns, rows);
    await delay(150);
    const frame = ui.lastFrame() ?? '';
    if (process.env.SHOW_FRAME) console.log(frame);
    const lines = live(frame).split('\n');
    // Ink clears the screen when the frame is as tall as the terminal: one line less at most.
    expect(lines.length).toBeLessThanOrEqual(rows - 1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(columns);
    expect(frame).toContain('Gate “cutover”: Fence writes on the source');
    expect(frame).toMatch(/To approve, type orders-db and press\s/);
    expect(frame).toMatch(/› /);
    expect(frame).not.toContain('…b4544');
    expect(unwrapped(frame)).toContain(NEW_KEY.replace(/\s/g, ''));
    expect(frame).toMatch(/ 1\. \[rds:Action1\]/);
    // Live facts: the latency sampled now, not the gate's frozen 0.
    expect(frame).toMatch(/latency\s+source 0\.4s, target 0\.7s, sampled/);
    ui.unmount();
  });

  it('scrolls what does not fit, keeping the prompt', async () => {
    const { ui } = setup(columns, rows);
    await delay(150);
    expect(ui.lastFrame()).toMatch(/actions 1-\d+ of 26: ↑\/↓ to scroll the rest/);
    for (let i = 0; i < 30; i++) ui.stdin.write('\u001b[B');
    await delay(150);
    const frame = ui.lastFrame() ?? '';
    expect(frame).toMatch(/26\. \[rds:Action26\]/);
    expect(frame).toMatch(/To approve, type orders-db/);
    expect(live(frame).split('\n').length).toBeLessThanOrEqual(rows - 1);
    ui.unmount();
  });
});

describe('wrapText', () => {
  it('breaks at spaces and splits a word longer than the line without losing a character', () => {
    expect(wrapText('one two three', 7)).toEqual(['one two', 'three']);
    const parts = wrapText(`newKey ${NEW_KEY}`, 30);
    expect(parts.every((p) => p.length <= 30)).toBe(true);
    expect(parts.join('').replace('newKey', '')).toBe(NEW_KEY);
  });
});

describe('the gate facts while it waits', () => {
  afterEach(cleanup);

  it('after a resume shows the latency sampled now, not the old run\'s, and the validation age ticks', async () => {
    // A resumed runner: nothing published in this session, the gate's facts as the engine read them at the opening.
    const machine = new RunMachine('ab12cd34', IDS.map((id) => ({ id, title: `Title of ${id}`, hasGate: id === 'before-fence' })), { source: 'orders-db', provider: 'rehearsal' });
    machine.setRunStatus('running');
    const resumed: ApprovalRequest = { ...request, facts: { ...request.facts, latencySeconds: 7, latencySampledAt: '2026-01-01T00:00:00.000Z', validationAgeSeconds: 42 } };
    machine.setStepStatus('before-fence', { kind: 'awaiting_approval', request: resumed });
    machine.gate(resumed);
    const t0 = Date.now();
    const before = liveFacts(machine.getSnapshot(), resumed.facts, t0);
    // No sample yet in this session: the gate's own value stays, the validation age counts on from 42 s.
    expect(before.latencySeconds).toBeUndefined();
    expect(before.validationAgeSeconds).toBe('42.0s');
    expect(liveFacts(machine.getSnapshot(), resumed.facts, t0 + 5000).validationAgeSeconds).toBe('47.0s');
    // The gate's watcher samples CloudWatch: the newest reading replaces the old one, with its time.
    machine.metric('cdc.latency.source', 0.2);
    machine.metric('cdc.latency.target', 0.3);
    const after = liveFacts(machine.getSnapshot(), resumed.facts, Date.now());
    expect(after.latencySeconds).toMatch(/^source 0\.2s, target 0\.3s, sampled just now$/);
    expect(after.latencySampledAt).toBe(machine.getSnapshot().metrics['cdc.latency.target']?.at);
    const ui = render(<App run={machine} size={{ columns: 100, rows: 30 }} onAbort={() => undefined} onQuit={() => undefined} onInterrupt={() => undefined} onAnswer={() => undefined} throttleMs={10} />);
    await delay(150);
    const frame = ui.lastFrame() ?? '';
    expect(frame).toMatch(/latency\s+source 0\.2s, target 0\.3s, sampled/);
    expect(frame).not.toMatch(/latency \(s\)\s+7/);
    ui.unmount();
  });
});
