// ETAs where AWS gives none (earlier runs of this runbook, the rehearsal's delays) and the headless status line.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { RunMachine } from '../../src/engine/run-machine.js';
import { expectedDurations, expectedLeftMs } from '../../src/present/expected.js';
import { startHeadlessTicker, statusLine } from '../../src/present/headless-ticker.js';
import { JsonRenderer } from '../../src/present/headless.js';
import { cutoverWindow, windowText } from '../../src/present/cutover-window.js';
import { runbookSchema } from '../../src/runbook/schema.js';

const runbook = runbookSchema.parse({
  version: 1, name: 'eta test', region: 'us-east-1',
  source: { engine: 'aurora-postgresql', identifier: 'orders-db', database: 'd', username: 'u', password: { env: 'PW' } },
  target: { kmsKeyId: 'alias/new' },
  dms: { replicationInstance: { identifier: 'ri' }, certificateArn: 'arn:aws:dms:us-east-1:123456789012:cert:ABC' },
  rehearsal: { delays: { snapshotSeconds: 2, restoreSeconds: 3 } },
});

function earlierRun(root: string, id: string, restoreMs: number, name = 'eta test'): void {
  mkdirSync(join(root, 'runs', id), { recursive: true });
  const lines = [
    { t: 'run_created', at: '2026-01-01T00:00:00Z', runId: id, flowId: 'f', runbookPath: 'r', runbookName: name, provider: 'aws', meta: {} },
    { t: 'step_succeeded', at: '2026-01-01T00:10:00Z', stepId: 'restore', output: {}, durationMs: restoreMs },
  ];
  writeFileSync(join(root, 'runs', id, 'journal.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
}

describe('expectedDurations', () => {
  test('the median of earlier runs of the same runbook, else the rehearsal delays', () => {
    const root = mkdtempSync(join(tmpdir(), 'rekey-eta-'));
    earlierRun(root, 'aaaaaaa1', 600_000);
    earlierRun(root, 'aaaaaaa2', 900_000);
    earlierRun(root, 'aaaaaaa3', 1_200_000);
    earlierRun(root, 'aaaaaaa4', 5, 'another runbook');
    const aws = expectedDurations(root, runbook, 'current1', 'aws');
    expect(aws['expect.restore']).toBe('900000');
    expect(aws['expect.restore.from']).toBe('3 earlier run(s)');
    expect(expectedLeftMs(aws, 'restore', 300_000)).toEqual({ leftMs: 600_000, from: '3 earlier run(s)' });
    const rehearsal = expectedDurations(join(root, 'none'), runbook, 'current1', 'rehearsal');
    expect(rehearsal).toMatchObject({ 'expect.snapshot': '2000', 'expect.restore': '3000', 'expect.restore.from': 'the rehearsal delays' });
  });
});

describe('statusLine and the cutover window', () => {
  test('one line: where, how far, the ETA, latency and writes; the window while fenced', () => {
    const t0 = Date.parse('2026-12-03T12:00:00Z');
    const m = new RunMachine('r1', [{ id: 'restore', title: 'Restore the snapshot', hasGate: false }, { id: 'fence', title: 'Fence', hasGate: false }, { id: 'switch', title: 'Switch', hasGate: false }], { 'expect.restore': '60000', 'expect.restore.from': 'the rehearsal delays', fenceLimitSeconds: '30' }, { now: () => new Date(t0) });
    m.setStepStatus('restore', { kind: 'running', startedAt: new Date(t0).toISOString(), attempt: 1 });
    m.progress('restore', 'cluster x: creating');
    m.metric('cdc.latency.source', 1.5);
    m.metric('load.acknowledged', 120);
    const line = statusLine(m.getSnapshot(), t0 + 20_000);
    expect(line).toMatch(/^status: step 1\/3 Restore the snapshot eta ~40\.0 s \(from the rehearsal delays\) \(running 20\.0 s\) · elapsed 20\.0 s · CDC latency source 1\.5 s, target – · writes 0\/s, 120 acknowledged, 0 refused$/);
    m.setStepStatus('restore', { kind: 'succeeded', startedAt: new Date(t0).toISOString(), endedAt: new Date(t0).toISOString(), durationMs: 1, resumed: false });
    m.setStepStatus('fence', { kind: 'running', startedAt: new Date(t0 + 30_000).toISOString(), attempt: 1 });
    const open = cutoverWindow(m.getSnapshot(), t0 + 32_500);
    expect(open && windowText(open)).toBe('writes blocked 2.5 s (fence limit 30 s)');
    expect(statusLine(m.getSnapshot(), t0 + 32_500)).toContain('WRITES BLOCKED 2.5 S');
    m.setStepStatus('fence', { kind: 'succeeded', startedAt: new Date(t0 + 30_000).toISOString(), endedAt: new Date(t0 + 30_100).toISOString(), durationMs: 100, resumed: false });
    m.setStepStatus('switch', { kind: 'succeeded', startedAt: new Date(t0 + 31_000).toISOString(), endedAt: new Date(t0 + 33_100).toISOString(), durationMs: 2100, resumed: false });
    expect(cutoverWindow(m.getSnapshot(), t0 + 40_000)).toMatchObject({ phase: 'closed', blockedMs: 3100, closedBy: 'switch' });
  });

  test('during catch-up: its backlog %, ETA and the bytes behind on the source', () => {
    const t0 = Date.parse('2026-12-03T12:00:00Z');
    const m = new RunMachine('r1', [{ id: 'catch-up', title: 'Wait for CDC to catch up', hasGate: false }], {}, { now: () => new Date(t0) });
    m.setStepStatus('catch-up', { kind: 'running', startedAt: new Date(t0).toISOString(), attempt: 1 });
    m.progress('catch-up', 'behind: latency 22 s (threshold 5 s, peak 32 s)', 30, 95);
    m.metric('cdc.latency.source', 20);
    m.metric('cdc.latency.target', 2);
    m.metric('cdc.backlog.bytes', 48 * 1024 * 1024);
    expect(statusLine(m.getSnapshot(), t0 + 10_000)).toBe(
      'status: step 1/1 Wait for CDC to catch up 30% eta 1m35s (running 10.0 s) · elapsed 10.0 s · CDC latency source 20 s, target 2 s · backlog 48.0 MB of WAL/binlog on the source',
    );
  });

  const windowSteps = ['fence', 'drain', 'switch'].map((id) => ({ id, title: id, hasGate: false }));
  const iso = (t: number): string => new Date(t).toISOString();

  test('--json: a window line after the step event that blocks writes and after the one that lets them flow again', () => {
    const t0 = Date.parse('2026-12-03T12:00:00Z');
    const m = new RunMachine('r1', windowSteps, { fenceLimitSeconds: '30' });
    m.publish('preflight', { tablesWithoutPk: [], estimate: { totalSeconds: 6, awsRenameDnsSeconds: 0 } });
    const lines: string[] = [];
    new JsonRenderer({ out: (l) => lines.push(l), err: () => undefined }).attach(m);
    m.setStepStatus('fence', { kind: 'running', startedAt: iso(t0), attempt: 1 });
    m.setStepStatus('fence', { kind: 'succeeded', startedAt: iso(t0), endedAt: iso(t0 + 100), durationMs: 100, resumed: false });
    m.setStepStatus('switch', { kind: 'running', startedAt: iso(t0 + 1000), attempt: 1 });
    m.setStepStatus('switch', { kind: 'succeeded', startedAt: iso(t0 + 1000), endedAt: iso(t0 + 3063), durationMs: 2063, resumed: false });
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const windows = parsed.filter((e) => e.type === 'window');
    expect(windows).toHaveLength(2);
    expect(windows[0]).toMatchObject({ runId: 'r1', state: 'open', startedAt: iso(t0), predictedMs: 6000, fenceLimitMs: 30_000 });
    expect(windows[1]).toEqual({ type: 'window', at: expect.any(String), runId: 'r1', state: 'closed', startedAt: iso(t0), elapsedMs: 3063, predictedMs: 6000, fenceLimitMs: 30_000, closedBy: 'switch' });
    // Each right after the step event it follows.
    const at = (pred: (e: Record<string, unknown>) => boolean): number => parsed.findIndex(pred);
    expect(at((e) => e.state === 'open')).toBe(at((e) => e.type === 'step' && e.stepId === 'fence') + 1);
    expect(at((e) => e.state === 'closed')).toBe(parsed.length - 1);
  });

  test('--json: a fence undone closes the window (unfence); a rewind that fences again opens a new one', () => {
    const t0 = Date.parse('2026-12-03T12:00:00Z');
    const m = new RunMachine('r1', windowSteps, {});
    const windows: Record<string, unknown>[] = [];
    new JsonRenderer({ out: (l) => { const e = JSON.parse(l) as Record<string, unknown>; if (e.type === 'window') windows.push(e); }, err: () => undefined }).attach(m);
    m.setStepStatus('fence', { kind: 'running', startedAt: iso(t0), attempt: 1 });
    m.setStepStatus('fence', { kind: 'succeeded', startedAt: iso(t0), endedAt: iso(t0 + 100), durationMs: 100, resumed: false });
    m.setStepStatus('fence', { kind: 'rolled_back', at: iso(t0 + 5000) });
    m.setStepStatus('fence', { kind: 'pending' });
    m.setStepStatus('fence', { kind: 'running', startedAt: iso(t0 + 9000), attempt: 2 });
    expect(windows.map((w) => [w.state, w.elapsedMs === undefined ? undefined : w.state === 'closed' ? w.elapsedMs : 'live', w.closedBy])).toEqual([
      ['open', 'live', undefined],
      ['closed', 5000, 'unfence'],
      ['open', 'live', undefined],
    ]);
    expect(windows[2]).toMatchObject({ startedAt: iso(t0 + 9000) });
  });

  test('line mode: says when writes are blocked, counts against the prediction while they are, and when they flow again', async () => {
    const t0 = Date.parse('2026-12-03T12:00:00Z');
    let t = t0;
    const m = new RunMachine('r1', windowSteps, { fenceLimitSeconds: '30' });
    m.publish('preflight', { tablesWithoutPk: [], estimate: { totalSeconds: 6, awsRenameDnsSeconds: 0 } });
    const printed: string[] = [];
    const stop = startHeadlessTicker(m, (l) => printed.push(l), { now: () => t, tickMs: 5, windowEveryMs: 1000, statusEveryMs: 1e9 });
    m.setStepStatus('fence', { kind: 'running', startedAt: iso(t0), attempt: 1 });
    t = t0 + 1500;
    await new Promise((r) => setTimeout(r, 40));
    m.setStepStatus('fence', { kind: 'succeeded', startedAt: iso(t0), endedAt: iso(t0 + 100), durationMs: 100, resumed: false });
    m.setStepStatus('switch', { kind: 'succeeded', startedAt: iso(t0 + 1000), endedAt: iso(t0 + 3063), durationMs: 2063, resumed: false });
    t = t0 + 4000;
    await new Promise((r) => setTimeout(r, 40));
    stop();
    expect(printed).toEqual([
      'writes blocked from now on: the source is fenced until the switch (predicted 6 s, fence limit 30 s)',
      'writes blocked 1.5 s (predicted 6 s, fence limit 30 s)',
      'writes blocked 3.1 s (predicted 6 s, fence limit 30 s); writes flow again (switched to the new key)',
    ]);
  });
});
