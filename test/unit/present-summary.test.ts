// The end-of-run summary for people (lines, TUI, $GITHUB_STEP_SUMMARY) and the GitHub workflow commands.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { replay, type JournalRecord } from '../../src/engine/journal.js';
import { annotation, appendStepSummary, problemAnnotation } from '../../src/present/github.js';
import { endOfRunFacts } from '../../src/present/run-facts.js';
import { humanDuration, summaryLines, summaryMarkdown } from '../../src/present/summary-text.js';
import { runbookSchema } from '../../src/runbook/schema.js';

const OLD = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const NEW = 'arn:aws:kms:us-east-1:123456789012:key/b4544a68-0b9c-4839-aa4e-27375ea34a11';
const runbook = runbookSchema.parse({
  version: 1, name: 'summary test', region: 'us-east-1',
  source: { engine: 'aurora-postgresql', identifier: 'orders-db', database: 'd', username: 'u', password: { env: 'PW' } },
  target: { kmsKeyId: 'alias/new' },
  dms: { replicationInstance: { identifier: 'ri', create: true }, certificateArn: 'arn:aws:dms:us-east-1:123456789012:cert:ABC' },
  cutover: { fenceTimeoutSeconds: 30 },
});
const STEPS = ['preflight', 'dms-setup', 'fence', 'switch', 'cleanup'].map((id) => ({ id, title: `Title of ${id}` }));

function at(s: number): string {
  return new Date(Date.UTC(2026, 11, 3, 12, 0, s)).toISOString();
}

function journal(upTo: 'switched' | 'failed-at-fence'): JournalRecord[] {
  const ok = (stepId: string, s: number, output: unknown = {}): JournalRecord[] => [
    { t: 'step_started', at: at(s), stepId, attempt: 1 },
    { t: 'step_succeeded', at: at(s + 1), stepId, output, durationMs: 1000 },
  ];
  const records: JournalRecord[] = [
    { t: 'run_created', at: at(0), runId: 'ab12cd34', flowId: 'f', runbookPath: 'r.yaml', runbookName: 'summary test', provider: 'aws', meta: {} },
    { t: 'runner_started', at: at(0), pid: 1, command: 'rekey run' },
    ...ok('preflight', 1, { source: { kmsKeyId: OLD }, key: { arn: NEW }, estimate: { totalSeconds: 6 }, estimated: true }),
    ...ok('dms-setup', 3, { createdInstance: true }),
  ];
  if (upTo === 'failed-at-fence') {
    records.push(
      { t: 'step_started', at: at(10), stepId: 'fence', attempt: 1 },
      { t: 'step_failed', at: at(11), stepId: 'fence', error: { stepId: 'fence', phase: 'run', kind: 'fatal', message: 'cannot fence: permission denied' } },
      { t: 'run_stopped', at: at(12), status: 'failed', message: 'cannot fence' },
    );
    return records;
  }
  records.push(
    { t: 'runner_started', at: at(5), pid: 2, command: 'rekey resume' },
    { t: 'gate_requested', at: at(6), request: { runId: 'ab12cd34', stepId: 'fence', id: 'cutover', summary: 'cut over?', facts: {}, actions: [] } },
    { t: 'gate_decided', at: at(9), decision: { id: 'cutover', decision: 'approved', by: 'alice', at: at(9) }, shown: { runId: 'ab12cd34', stepId: 'fence', id: 'cutover', summary: 'cut over?', facts: {}, actions: [] } },
    { t: 'step_started', at: at(10), stepId: 'fence', attempt: 1 },
    { t: 'step_succeeded', at: at(10), stepId: 'fence', output: {}, durationMs: 100 },
    { t: 'step_started', at: at(11), stepId: 'switch', attempt: 1 },
    { t: 'step_succeeded', at: new Date(Date.parse(at(13)) + 63).toISOString(), stepId: 'switch', output: { mode: 'rename' }, durationMs: 2063 },
    ...ok('cleanup', 14),
    { t: 'run_stopped', at: at(15), status: 'succeeded' },
  );
  return records;
}

function facts(records: JournalRecord[]) {
  const state = replay(records, STEPS.map((s) => s.id));
  return endOfRunFacts({ runId: 'ab12cd34', runbook, records, state, steps: STEPS, now: Date.parse(at(16)) });
}

describe('humanDuration', () => {
  test('reads as seconds with a decimal, then minutes', () => {
    expect(humanDuration(3063)).toBe('3.1 s');
    expect(humanDuration(245_000)).toBe('4m05s');
  });
});

describe('endOfRunFacts', () => {
  test('a switched run: keys, the fenced window against the prediction, approval, rollback and cleanup', () => {
    const f = facts(journal('switched'));
    expect(f.keys).toEqual({ old: OLD, new: NEW });
    expect(f.window).toEqual({ fencedAt: at(10), fencedMs: 3063, predictedSeconds: 6, fenceLimitSeconds: 30 });
    expect(f.approval).toMatchObject({ gate: 'cutover', decision: 'approved', by: 'alice', waitedMs: 3000 });
    expect(f.timing).toMatchObject({ startedAt: at(0), durationMs: 16_000, resumes: 1 });
    expect(f.rollback.command).toBe('rekey rollback ab12cd34');
    expect(f.rollback.kept.join(' ')).toContain('orders-db-old-ab12cd34');
    expect(f.cleanup.left.join(' ')).toContain('replication instance ri, created by rekey');
    expect(f.failedStep).toBeUndefined();
  });

  test('a failed run names the failed step by its title', () => {
    const f = facts(journal('failed-at-fence'));
    expect(f.failedStep).toEqual({ id: 'fence', title: 'Title of fence', message: 'cannot fence: permission denied' });
    expect(f.window.fencedMs).toBeUndefined();
  });
});

describe('summaryLines / summaryMarkdown', () => {
  const summary = {
    type: 'summary', ok: true, runId: 'ab12cd34', status: 'succeeded', exitCode: 0,
    validation: { tables: 7, mismatched: 0 }, sequences: { checked: 4, behind: 0 },
    downtimeMs: 3063, writes: { acknowledged: 1296, lost: 0, duplicated: 0, errors: 56 },
    evidence: { at: at(1), resources: [{ kind: 'cluster', role: 'x'.repeat(900), identifier: 'orders-db' }] },
    ...facts(journal('switched')),
    reportHtml: '/runs/ab12cd34/report.html',
  };

  test('says it for people: whole keys, the window in seconds, the refused writes explained, no JSON dumps', () => {
    const lines = summaryLines(summary, { next: 'nothing to do' });
    const text = lines.join('\n');
    expect(lines[0]).toBe('run ab12cd34: succeeded (exit 0)');
    expect(text).toContain(`key: ${OLD} → ${NEW}`);
    expect(text).toContain('window: writes blocked 3.1 s (predicted 6 s, fence limit 30 s)');
    expect(text).toMatch(/writes: 1296 acknowledged, 0 lost, 0 duplicated; 56 refused while writes were blocked/);
    expect(text).toContain('validation: 7 tables compared, all match');
    expect(text).toContain('sequences: 4 checked, none behind');
    expect(text).toContain('rollback: kept: ');
    // With fix-sequences' per-sequence output: the raised ones, compact, the rest left to the report.
    const items = [
      { name: 'public.orders_id_seq', source: '1001', targetBefore: '950', setTo: '1001' },
      { name: 'public.shared_seq', source: '77', targetBefore: '90' },
      ...['a', 'b', 'c'].map((n) => ({ name: `public.${n}_seq`, source: '5', targetBefore: null, setTo: '6' })),
    ];
    const compact = summaryLines({ ...summary, sequences: { checked: 5, behind: 0, items } }).join('\n');
    expect(compact).toContain('sequences: 5 checked, none behind; raised 4: public.orders_id_seq 950 → 1001 (source 1001), public.a_seq unset → 6 (source 5), public.b_seq unset → 6 (source 5), 1 more in the report');
    expect(summaryLines({ ...summary, sequences: { checked: 1, behind: 0, items: [items[1]] } }).join('\n')).toContain('sequences: 1 checked, none behind; none raised');
    expect(text).toContain('Undo with: rekey rollback ab12cd34');
    expect(text).toContain('approval: gate cutover approved by alice after 3.0 s');
    expect(text).not.toContain('downtimeMs');
    expect(text).not.toContain('{');
    expect(lines[lines.length - 1]).toBe('nothing to do');
  });

  test('a failed run says what failed; a rehearsal that lost writes is not called done', () => {
    const failed = summaryLines({ runId: 'x', status: 'failed', exitCode: 5, ...facts(journal('failed-at-fence')) });
    expect(failed.join('\n')).toContain('failed: Title of fence (fence): cannot fence: permission denied');
    const lost = summaryLines({ runId: 'x', status: 'succeeded', ok: false, exitCode: 1, writes: { acknowledged: 5, lost: 1, duplicated: 0 } });
    expect(lost[0]).toBe('run x: succeeded (exit 1), but the write check did not pass');
  });

  test('Markdown: a table, escaped, with the next command', () => {
    const md = summaryMarkdown({ ...summary, writes: { acknowledged: 1, lost: 0, duplicated: 0, verified: false, verifyError: 'a|b' } }, 'rekey resume ab12cd34');
    expect(md).toMatch(/^### rekey run ab12cd34: succeeded \(exit 0\)\n\n\| \| \|\n\|---\|---\|\n/);
    expect(md).toContain('a\\|b');
    expect(md).toContain('Next: `rekey resume ab12cd34`');
  });
});

describe('GitHub workflow commands', () => {
  test('a runbook problem becomes ::error on its file, line and column', () => {
    expect(problemAnnotation('runbooks/a,b.yaml:19:10: rehearsal.source.url: 50% wrong\nsecond line')).toBe(
      '::error file=runbooks/a%2Cb.yaml,line=19,col=10,title=rekey%3A invalid runbook::rehearsal.source.url: 50%25 wrong%0Asecond line',
    );
    expect(problemAnnotation('not a problem line')).toBeUndefined();
    expect(annotation('notice', {}, 'm')).toBe('::notice::m');
  });

  test('appendStepSummary appends to the file $GITHUB_STEP_SUMMARY names, and reports a file it cannot write', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'rekey-gh-')), 'summary.md');
    expect(appendStepSummary('# one', { GITHUB_STEP_SUMMARY: file })).toBeUndefined();
    expect(appendStepSummary('# two\n', { GITHUB_STEP_SUMMARY: file })).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe('# one\n# two\n');
    expect(appendStepSummary('x', {})).toBeUndefined();
    expect(appendStepSummary('x', { GITHUB_STEP_SUMMARY: join(file, 'not-a-dir', 'f') })).toMatch(/could not append the summary/);
  });
});
