import { describe, expect, it } from '@jest/globals';
import { render } from 'ink-testing-library';
import type { StepView } from '../../src/engine/run-machine.js';
import { Header } from '../../tui/Header.js';
import { Help } from '../../tui/Help.js';
import { LatencyPanel } from '../../tui/LatencyPanel.js';
import { LogPane } from '../../tui/LogPane.js';
import { StepList } from '../../tui/StepList.js';
import { ValidationTable } from '../../tui/ValidationTable.js';
import type { FinishedStep } from '../../tui/use-finished.js';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();

describe('Header', () => {
  const info = { runbook: 'orders-rekey', source: 'orders-db', target: 'orders-db-rekey-abc', oldKey: 'alias/aws/rds', newKey: 'alias/orders-2026', provider: 'rehearsal' };

  it('shows the runbook, source -> target, keys, run id, elapsed time and write stats', () => {
    const { lastFrame } = render(<Header info={info} runId="r-123" status="running" startedAt={T0} now={T0 + 125_000} width={80} load={{ perSecond: 98, acknowledged: 12_345, errors: 2 }} />);
    const f = lastFrame()!;
    expect(f).toContain('orders-rekey');
    expect(f).toContain('[rehearsal]');
    expect(f).toMatch(/orders-db → orders-db-rekey-abc/);
    expect(f).toMatch(/alias\/aws\/rds → alias\/orders-2026/);
    expect(f).toContain('r-123');
    expect(f).toContain('02:05');
    expect(f).toMatch(/98\/s acknowledged 12,345 errors 2/);
  });

  it('has no write line outside a rehearsal and keeps within 80 columns', () => {
    const { lastFrame } = render(<Header info={{ ...info, provider: 'aws', runbook: 'x'.repeat(200) }} runId="r-1" status="running" startedAt={T0} now={T0} width={80} />);
    const f = lastFrame()!;
    expect(f).not.toContain('writes');
    for (const line of f.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });
});

describe('StepList', () => {
  const steps = (overrides: Partial<Record<string, StepView['status']>>, progress?: StepView['progress']): StepView[] =>
    ['preflight', 'snapshot', 'restore', 'catch-up', 'cutover', 'switch'].map((id) => ({
      id,
      title: `Title of ${id}`,
      hasGate: id === 'cutover',
      status: overrides[id] ?? { kind: 'pending' },
      ...(id === 'snapshot' && progress ? { progress } : {}),
    }));

  it('shows finished steps once with durations, the running step with a progress bar, percent and ETA', () => {
    const finished: FinishedStep[] = [{ key: 'preflight:1', id: 'preflight', title: 'Title of preflight', status: { kind: 'succeeded', startedAt: iso(0), endedAt: iso(4200), durationMs: 4200, resumed: false } }];
    const list = steps(
      { preflight: finished[0]!.status, snapshot: { kind: 'running', startedAt: iso(5000), attempt: 1 } },
      { message: 'snapshot creating', percent: 40, etaSeconds: 90, at: iso(9000) },
    );
    const { lastFrame } = render(<StepList steps={list} finished={finished} now={T0 + 15_000} width={80} />);
    const f = lastFrame()!;
    expect(f).toMatch(/✔ Title of preflight\s+4\.2s/);
    expect(f).toMatch(/Title of snapshot\s+10\.0s/);
    expect(f).toMatch(/█+░+\s+40% eta 1m30s/);
    expect(f).toContain('snapshot creating');
    // Three upcoming steps, the rest counted.
    expect(f).toContain('○ Title of restore');
    expect(f).toContain('○ Title of cutover');
    expect(f).not.toContain('Title of switch');
    expect(f).toContain('… 1 more');
  });

  it('shows a failed step with its message and details, and a step waiting at its gate', () => {
    const failed: FinishedStep = {
      key: 'restore:f',
      id: 'restore',
      title: 'Title of restore',
      status: { kind: 'failed', startedAt: iso(0), endedAt: iso(2000), error: { stepId: 'restore', phase: 'run', kind: 'fatal', message: 'KMS key disabled', details: ['enable the key'] } },
    };
    const request = { runId: 'r', stepId: 'cutover', id: 'cutover', summary: 'Cut over?', facts: {}, actions: [] };
    const { lastFrame } = render(<StepList steps={steps({ restore: failed.status, cutover: { kind: 'awaiting_approval', request } })} finished={[failed]} now={T0} width={80} />);
    const f = lastFrame()!;
    expect(f).toMatch(/✖ Title of restore/);
    expect(f).toContain('KMS key disabled');
    expect(f).toContain('- enable the key');
    expect(f).toMatch(/\? Title of cutover\s+waiting for approval/);
  });
});

describe('LatencyPanel', () => {
  const now = T0 + 300_000;
  const series = (f: (i: number) => number): { at: number; value: number }[] => Array.from({ length: 60 }, (_, i) => ({ at: now - 295_000 + i * 5000, value: f(i) }));

  it('draws both series, the threshold and that the sustain window is not met yet', () => {
    const { lastFrame } = render(<LatencyPanel source={series((i) => 60 - i)} target={series((i) => 30 - i / 2)} threshold={10} sustained={12} sustainRequired={60} now={now} width={80} />);
    const f = lastFrame()!;
    expect(f).toContain('CDC latency');
    expect(f).toContain('• source 1.0s');
    expect(f).toContain('× target 0.5s');
    expect(f).toContain('┄ threshold 10s');
    expect(f).toMatch(/60s\s*│/); // the top of the scale is the highest value
    expect(f).toMatch(/10s\s*│/);
    expect(f).toContain('┄┄');
    expect(f).toContain('under threshold for 12s of 60s required');
    for (const line of f.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('says when the sustain window is met', () => {
    const { lastFrame } = render(<LatencyPanel source={series(() => 1)} target={series(() => 1)} threshold={10} sustained={61} sustainRequired={60} now={now} width={80} />);
    expect(lastFrame()).toContain('sustain window met');
    expect(lastFrame()).toContain('◆');
  });
});

describe('ValidationTable', () => {
  it('lists mismatches first with both row counts and the age of the pass', () => {
    const validation = {
      at: iso(0),
      phase: 'pre-fence',
      tables: [
        { table: 'public.customers', sourceRows: 1000, targetRows: 1000, status: 'match' as const },
        { table: 'public.orders', sourceRows: 52_310, targetRows: 52_300, status: 'mismatch' as const },
      ],
    };
    const { lastFrame } = render(<ValidationTable validation={validation} now={T0 + 30_000} width={80} />);
    const f = lastFrame()!;
    const lines = f.split('\n');
    // Before the fence writes go on: a difference is drift, said as such (final-validate decides).
    expect(lines[0]).toMatch(/Validation \(pre-fence\) 2 tables, 1 drifting under live writes · 30\.0s ago/);
    expect(lines[1]).toMatch(/table\s+source rows\s+target rows\s+status/);
    expect(lines[2]).toMatch(/public\.orders\s+52,310\s+52,300\s+behind/);
    expect(lines[3]).toMatch(/public\.customers\s+1,000\s+1,000\s+match/);
  });

  it('says "ahead" when the target has more rows before the fence, and "mismatch" after it', () => {
    const tables = [{ table: 'public.orders', sourceRows: 100, targetRows: 103, status: 'mismatch' as const }];
    const pre = render(<ValidationTable validation={{ at: iso(0), phase: 'pre-fence', tables }} now={T0} width={80} />).lastFrame()!;
    expect(pre).toMatch(/public\.orders\s+100\s+103\s+ahead/);
    const final = render(<ValidationTable validation={{ at: iso(0), phase: 'final', tables }} now={T0} width={80} />).lastFrame()!;
    expect(final).toMatch(/1 not matching/);
    expect(final).toMatch(/public\.orders\s+100\s+103\s+mismatch/);
  });

  it('summarises rows beyond the limit', () => {
    const tables = Array.from({ length: 12 }, (_, i) => ({ table: `public.t${String(i).padStart(2, '0')}`, sourceRows: i, targetRows: i, status: 'match' as const }));
    const { lastFrame } = render(<ValidationTable validation={{ tables }} now={T0} width={80} maxRows={5} />);
    expect(lastFrame()).toContain('… 7 more (7 matching)');
    expect(lastFrame()).toContain('all match');
  });
});

describe('LogPane and Help', () => {
  it('shows the last lines with level and step', () => {
    const logs = Array.from({ length: 12 }, (_, i) => ({ at: iso(i * 1000), level: i === 11 ? ('warn' as const) : ('info' as const), message: `line ${i}`, ...(i === 11 ? { stepId: 'drain' } : {}) }));
    const { lastFrame } = render(<LogPane logs={logs} lines={4} width={80} />);
    const f = lastFrame()!;
    expect(f).toContain('last 4 of 12');
    expect(f).not.toContain('line 7');
    expect(f).toContain('line 8');
    expect(f).toMatch(/10:00:11 warn \[drain\] line 11/);
  });

  it('lists the keys', () => {
    const f = render(<Help width={80} />).lastFrame()!;
    for (const k of ['?', 'l', 'a', 'q']) expect(f).toMatch(new RegExp(`^│${k.replace('?', '\\?')}\\s`, 'm'));
    expect(f).toContain('abort safely');
    expect(f).toContain('resumable');
  });
});
