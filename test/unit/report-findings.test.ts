// Findings read from the journaled step outputs, and the report that states them: the exact start position, or
// the opt-in slot fallback's overlap with the tables that may hold duplicates.
import { describe, expect, test } from '@jest/globals';
import { replay } from '../../src/engine/journal.js';
import type { JournalRecord } from '../../src/engine/journal.js';
import { runFindings } from '../../src/report/findings.js';
import { renderReport } from '../../src/report/markdown.js';
import { runbookSchema } from '../../src/runbook/schema.js';

const ORDER = ['preflight', 'capture-position', 'validate', 'final-validate', 'fix-sequences'];
const at = '2026-11-22T07:00:00.000Z';
const done = (stepId: string, output: unknown): JournalRecord => ({ t: 'step_succeeded', at, stepId, output, durationMs: 5 });
const runbook = runbookSchema.parse({
  version: 1, name: 'billing', region: 'us-east-1',
  source: { engine: 'postgres', identifier: 'billing-db', database: 'billing', username: 'rekey_admin', password: { env: 'PW' } },
  target: { kmsKeyId: 'alias/new' },
  dms: { replicationInstance: { identifier: 'ri' }, certificateArn: 'arn:aws:dms:us-east-1:123456789012:cert:ABC', allowSlotPositionFallback: true },
});
const report = (records: JournalRecord[]): string => {
  const state = replay(records, ORDER);
  return renderReport({ runId: 'r1', runbook, outcome: { status: 'succeeded' }, state, summary: { ...runFindings(state) }, steps: ORDER.map((id) => ({ id, title: id })) });
};

describe('runFindings and the report', () => {
  test('an exact position: no overlap; final validation wins over the pre-fence one', () => {
    const records = [
      done('preflight', { tablesWithoutPk: [] }),
      done('capture-position', { position: '0/3000060', source: 'seed-function' }),
      done('validate', { tables: 7, mismatched: 1 }),
      done('final-validate', { tables: 7, mismatched: 0 }),
      done('fix-sequences', { checked: 4, behind: [] }),
    ];
    expect(runFindings(replay(records, ORDER))).toEqual({
      validation: { tables: 7, mismatched: 0 }, sequences: { checked: 4, behind: 0 }, position: { value: '0/3000060', source: 'seed-function' },
    });
    const text = report(records);
    expect(text).toContain("- `0/3000060`, from the restored database's seed function (the snapshot's exact position)");
    expect(text).not.toContain('OVERLAP');
  });

  test('the slot fallback: the overlap, its reason and the keyless tables at risk', () => {
    const records = [
      done('preflight', { tablesWithoutPk: ['public.audit_log', 'public.ticks'] }),
      done('capture-position', { position: '0/2000000', source: 'slot-fallback', overlap: { fromLsn: '0/2000000', snapshotAfter: true, reason: 'function rds_tools.logical_seed_lsn() does not exist.' } }),
    ];
    expect(runFindings(replay(records, ORDER)).overlap).toEqual({
      fromLsn: '0/2000000', reason: 'function rds_tools.logical_seed_lsn() does not exist.', tablesWithoutPk: ['public.audit_log', 'public.ticks'],
    });
    const text = report(records);
    expect(text).toContain("from the slot's confirmed_flush_lsn (opt-in fallback: before the snapshot)");
    expect(text).toContain('**OVERLAP**: CDC started at `0/2000000`, before the snapshot, because function rds_tools.logical_seed_lsn() does not exist.');
    expect(text).toContain('`ApplyErrorInsertPolicy: INSERT_RECORD`');
    expect(text).toContain('may hold duplicated rows from that replay: `public.audit_log`, `public.ticks`');
  });

  test('every table keyed: the report says the replay cannot duplicate rows', () => {
    const text = report([
      done('preflight', { tablesWithoutPk: [] }),
      done('capture-position', { position: '0/2000000', source: 'slot-fallback', overlap: { fromLsn: '0/2000000', snapshotAfter: true, reason: 'x' } }),
    ]);
    expect(text).toContain('Every table has a primary key, so the replay cannot duplicate rows.');
  });
});
