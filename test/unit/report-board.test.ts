// The report as a change board reads it: keys at the top, times with the zone, the window against the prediction,
// per-table validation, warnings, caveats, rollback and cleanup, resumes, version and runbook hash; steps by title.
import { describe, expect, test } from '@jest/globals';
import { replay, type JournalRecord } from '../../src/engine/journal.js';
import { renderHtmlReport } from '../../src/report/html.js';
import { renderReport, type ReportInput } from '../../src/report/markdown.js';
import { runbookSchema } from '../../src/runbook/schema.js';

const OLD = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const NEW = 'arn:aws:kms:us-east-1:123456789012:key/b4544a68-0b9c-4839-aa4e-27375ea34a11';
const runbook = runbookSchema.parse({
  version: 1, name: 'board test', region: 'us-east-1',
  source: { engine: 'aurora-postgresql', identifier: 'orders-db', database: 'd', username: 'u', password: { env: 'PW' } },
  target: { kmsKeyId: 'alias/new' },
  dms: { replicationInstance: { identifier: 'ri' }, certificateArn: 'arn:aws:dms:us-east-1:123456789012:cert:ABC' },
});
const steps = [{ id: 'preflight', title: 'Preflight checks (read-only)' }, { id: 'final-validate', title: 'Validate while fenced' }, { id: 'switch', title: 'Switch: rename' }];
const at = (s: number): string => new Date(Date.UTC(2026, 11, 3, 12, 0, s)).toISOString();

function input(failed: boolean): ReportInput {
  const records: JournalRecord[] = [
    { t: 'runner_started', at: at(0), pid: 1, command: 'rekey run' },
    { t: 'step_started', at: at(1), stepId: 'preflight', attempt: 1 },
    { t: 'step_succeeded', at: at(2), stepId: 'preflight', output: { warnings: ['pg.primary_keys: tables without a primary key: public.audit_log'] }, durationMs: 1000 },
    { t: 'runner_started', at: at(3), pid: 2, command: 'rekey resume' },
    { t: 'step_started', at: at(4), stepId: 'final-validate', attempt: 1 },
    failed
      ? { t: 'step_failed', at: at(5), stepId: 'final-validate', error: { stepId: 'final-validate', phase: 'run', kind: 'fatal', message: 'final validation failed: 1 of 1 tables differ' } }
      : { t: 'step_succeeded', at: at(5), stepId: 'final-validate', output: { results: [{ table: 'public.orders', sourceRows: 10, targetRows: 10, checksumMatch: true, matches: true }] }, durationMs: 1000 },
  ];
  const state = replay(records, steps.map((s) => s.id));
  const summary = {
    keys: { old: OLD, new: NEW },
    timing: { startedAt: at(0), endedAt: at(9), durationMs: 9000, timeZone: 'Europe/Paris', resumes: 1 },
    window: { fencedAt: at(4), fencedMs: 3063, predictedSeconds: 6, fenceLimitSeconds: 30 },
    approval: { gate: 'cutover', decision: 'approved', by: 'alice', at: at(3), waitedMs: 2000 },
    rollback: { command: 'rekey rollback ab12cd34', kept: ['the old cluster orders-db-old-ab12cd34'] },
    cleanup: { done: [], left: ['delete orders-db-old-ab12cd34'] },
  };
  return {
    runId: 'ab12cd34', runbook, state, summary, steps,
    outcome: failed ? { status: 'failed', error: { stepId: 'final-validate', phase: 'run', kind: 'fatal', message: 'final validation failed: 1 of 1 tables differ' } } : { status: 'succeeded' },
  } as ReportInput;
}

describe('the report for a change board', () => {
  test('Markdown: keys and times at the top, then the window, tables, warnings, caveats, rollback, resumes', () => {
    const md = renderReport(input(false));
    const top = md.slice(0, md.indexOf('## Steps'));
    expect(top).toContain(`- key: \`${OLD}\` → \`${NEW}\``);
    expect(top).toContain(`started ${at(0)} (UTC; operator's zone Europe/Paris)`);
    expect(top).toMatch(/rekey \d+\.\d+\.\d+, runbook sha256 `[0-9a-f]{64}`/);
    expect(md).toContain('writes blocked (fence to switch): **3.1 s**');
    expect(md).toContain('predicted: 6 s; fence limit 30 s');
    expect(md).toContain('gate `cutover` approved by **alice**');
    expect(md).toContain('| `public.orders` | 10 | 10 | equal | match |');
    expect(md).toContain('pg.primary_keys: tables without a primary key');
    expect(md).toContain('custom endpoints were moved by name');
    expect(md).toContain('to roll back: `rekey rollback ab12cd34`');
    expect(md).toContain('resumed 1 time');
  });

  test('a failed run says which step failed, by title; the HTML shows titles and marks the window on the timeline', () => {
    const md = renderReport(input(true));
    expect(md).toContain('**failed** at Validate while fenced: final validation failed');
    const html = renderHtmlReport(input(false));
    expect(html).toContain('<td title="preflight">Preflight checks (read-only)</td>');
    expect(html).toContain('class="outage"');
    expect(html).toContain('writes blocked 3.1 s (predicted 6 s)');
    expect(html).toContain('gate cutover: approved by alice');
    expect(html).toContain('<h2>Caveats</h2>');
    expect(html).toContain(`<code>${OLD}</code> → <code>${NEW}</code>`);
  });
});
