// Findings read from the journaled step outputs, and the report that states them: the exact start position, or
// the opt-in slot fallback's overlap with the tables that may hold duplicates.
import { describe, expect, test } from '@jest/globals';
import { replay } from '../../src/engine/journal.js';
import type { JournalRecord } from '../../src/engine/journal.js';
import { runFindings } from '../../src/report/findings.js';
import { renderHtmlReport } from '../../src/report/html.js';
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

  test('sessions the fence left open (cutover.openSessions: warn) are named in both reports', () => {
    const records = [done('fence', { principals: [], at, unfenced: [{ user: 'rekey_admin', client: '10.1.2.3', application: 'grafana' }] })];
    const state = replay(records, [...ORDER, 'fence']);
    expect(runFindings(state).unfencedSessions).toEqual([{ user: 'rekey_admin', client: '10.1.2.3', application: 'grafana' }]);
    const input = { runId: 'r1', runbook, outcome: { status: 'succeeded' as const }, state, summary: { ...runFindings(state) }, steps: [] };
    expect(renderReport(input)).toContain('  - `rekey_admin` from 10.1.2.3 (grafana)');
    expect(renderHtmlReport(input)).toContain('<strong>Sessions the fence left open</strong> (cutover.openSessions: warn): <code>rekey_admin</code> from 10.1.2.3 (grafana)');
    expect(runFindings(replay([done('fence', { principals: [], at })], [...ORDER, 'fence']))).not.toHaveProperty('unfencedSessions');
  });

  test('writes that could not be verified are reported as not verified, never as 0 lost', () => {
    const state = replay([], ORDER);
    const summary = { downtimeMs: 900, writes: { acknowledged: 12, lost: null, duplicated: null, verified: false, verifyError: 'could not check the acknowledged writes on billing-db: Access denied' } };
    const input = { runId: 'r1', runbook, outcome: { status: 'succeeded' as const }, state, summary, steps: [] };
    expect(renderReport(input)).toContain('- writes acknowledged 12, **not verified**: could not check the acknowledged writes on billing-db: Access denied');
    expect(renderReport(input)).not.toMatch(/lost \*\*/);
    expect(renderHtmlReport(input)).toContain('<strong class="bad">not verified</strong>');
  });

  test('the encryption evidence from verify is a table in both reports', () => {
    const resources = [
      { kind: 'cluster', role: 'serving the source identifier now', identifier: 'billing-db', kmsKeyId: 'arn:aws:kms:us-east-1:1:key/new' },
      { kind: 'snapshot', role: 'snapshot of the source', identifier: 'billing-db-rekey-r1-snap' },
    ];
    const state = replay([done('verify', { identifier: 'billing-db', evidence: { at, resources } })], [...ORDER, 'verify']);
    expect(runFindings(state).evidence).toEqual({ at, resources });
    const input = { runId: 'r1', runbook, outcome: { status: 'succeeded' as const }, state, summary: { ...runFindings(state) }, steps: [] };
    const md = renderReport(input);
    expect(md).toContain('| cluster: serving the source identifier now | `billing-db` | `arn:aws:kms:us-east-1:1:key/new` |');
    expect(md).toContain('| snapshot: snapshot of the source | `billing-db-rekey-r1-snap` | (not read) |');
    expect(renderHtmlReport(input)).toContain('<td><code>billing-db</code></td><td><code>arn:aws:kms:us-east-1:1:key/new</code></td>');
  });

  test('a failed final validation shows its own numbers (published before it failed), not the pre-fence ones', () => {
    const records: JournalRecord[] = [
      done('validate', { tables: 12, mismatched: 0 }),
      { t: 'step_failed', at, stepId: 'final-validate', error: { kind: 'fatal', phase: 'run', stepId: 'final-validate', message: 'final validation failed: 3 of 12 tables differ', details: [] } },
    ];
    const state = replay(records, ORDER);
    expect(runFindings(state, { validation: { tables: 12, mismatched: 3, results: [], at, durationMs: 5 } }).validation).toEqual({ tables: 12, mismatched: 3 });
    expect(runFindings(state).validation).toEqual({ tables: 12, mismatched: 0 });
  });

  test('after a rollback both reports say so, whatever the last runner ended with', () => {
    const records: JournalRecord[] = [
      { t: 'run_stopped', at, status: 'succeeded' },
      { t: 'rollback', at, status: 'started' },
      { t: 'rollback', at: '2026-11-22T08:00:00.000Z', status: 'succeeded' },
    ];
    const state = replay(records, ORDER);
    const input = { runId: 'r1', runbook, state, summary: {}, steps: [] };
    expect(renderReport(input)).toContain('- outcome: **rolled back** at 2026-11-22T08:00:00.000Z: the source serves its name again, unfenced');
    expect(renderHtmlReport(input)).toContain('<li>outcome <strong>rolled back</strong> at 2026-11-22T08:00:00.000Z');
    const failed = replay([...records.slice(0, 2), { t: 'rollback', at, status: 'failed', message: 'rename <back> refused' }], ORDER);
    expect(renderHtmlReport({ ...input, state: failed })).toContain('<strong class="bad">rollback failed</strong> at 2026-11-22T07:00:00.000Z: rename &lt;back&gt; refused');
    expect(renderReport({ ...input, state: replay([{ t: 'run_stopped', at, status: 'failed' }], ORDER) })).toContain('- outcome: **failed**');
  });

  test('every table keyed: the report says the replay cannot duplicate rows', () => {
    const text = report([
      done('preflight', { tablesWithoutPk: [] }),
      done('capture-position', { position: '0/2000000', source: 'slot-fallback', overlap: { fromLsn: '0/2000000', snapshotAfter: true, reason: 'x' } }),
    ]);
    expect(text).toContain('Every table has a primary key, so the replay cannot duplicate rows.');
  });
});

describe('the HTML report', () => {
  const records: JournalRecord[] = [
    { t: 'step_started', at: '2026-11-22T07:00:00.000Z', stepId: 'preflight', attempt: 1 },
    { t: 'step_succeeded', at: '2026-11-22T07:00:02.000Z', stepId: 'preflight', output: { tablesWithoutPk: ['public.t<1>'] }, durationMs: 2000 },
    { t: 'step_succeeded', at: '2026-11-22T07:00:03.000Z', stepId: 'capture-position', output: { position: '0/2000000', source: 'slot-fallback', overlap: { fromLsn: '0/2000000', snapshotAfter: true, reason: 'no <seed> & no luck' } }, durationMs: 1000 },
    { t: 'step_failed', at: '2026-11-22T07:00:04.000Z', stepId: 'validate', error: { kind: 'fatal', phase: 'run', stepId: 'validate', message: 'row counts differ on "t<1>"', details: [] } },
  ];
  const html = (metrics = {}): string => {
    const state = replay(records, ORDER);
    const evil = { ...runbook, name: '<script>alert(1)</script> & co' };
    return renderHtmlReport({ runId: 'r1', runbook: evil, outcome: { status: 'failed', error: { kind: 'fatal', phase: 'run', stepId: 'validate', message: 'row counts differ on "t<1>"', details: [] }, madeSafe: true }, state, summary: { ...runFindings(state) }, steps: ORDER.map((id) => ({ id, title: id })) }, metrics);
  };

  test('self-contained and escaped: no script, no external reference, text from names and errors escaped', () => {
    const text = html();
    expect(text.startsWith('<!doctype html>')).toBe(true);
    expect(text).not.toMatch(/<script|src=|href=/i);
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; co');
    expect(text).toContain('row counts differ on &quot;t&lt;1&gt;&quot;');
    expect(text).toContain('<code>public.t&lt;1&gt;</code>');
    expect(text).toContain('no &lt;seed&gt; &amp; no luck');
  });

  test('a timeline bar per finished step, proportional to its duration', () => {
    const text = html();
    const bars = [...text.matchAll(/<rect x="([\d.]+)" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[2]));
    expect(bars).toHaveLength(2);
    expect(bars[0]! / bars[1]!).toBeCloseTo(2, 1);
    expect(text).toContain('<title>preflight: 2.00 s</title>');
  });

  test('the latency chart: a point per sample, the threshold line, none without samples', () => {
    expect(html()).not.toContain('CDC latency');
    const text = html({ 'cdc.latency': { history: [{ at: 0, value: 4 }, { at: 1000, value: 2 }, { at: 2000, value: 0.5 }] }, 'cdc.threshold': { history: [{ at: 0, value: 2 }] } });
    expect(text).toContain('<h2>CDC latency</h2>');
    expect(/<polyline points="([^"]+)"/.exec(text)?.[1]?.split(' ')).toHaveLength(3);
    expect(text).toContain('threshold 2 s');
  });
});

describe('topology: read replicas', () => {
  const ORDER2 = ['preflight', 'switch', 'recreate-replicas', 'verify'];
  const plan = {
    found: [
      { identifier: 'billing-db-r1', region: 'us-east-1', crossRegion: false },
      { identifier: 'billing-db-eu', region: 'eu-west-1', crossRegion: true },
    ],
    regions: ['eu-west-1'], regionKeys: [{ region: 'eu-west-1', ref: 'alias/eu', arn: 'arn:aws:kms:eu-west-1:1:key/eu' }], withoutReplicasSeconds: 900, actions: [],
  };
  const preflight = done('preflight', { tablesWithoutPk: [], key: { arn: 'arn:aws:kms:us-east-1:1:key/new', keyId: 'new', aliases: [] }, replicas: plan });
  const render = (records: JournalRecord[]): string => {
    const state = replay(records, ORDER2);
    return renderReport({ runId: 'r1', runbook, outcome: { status: 'succeeded' }, state, summary: { ...runFindings(state) }, steps: ORDER2.map((id) => ({ id, title: id })) });
  };

  test('until recreate-replicas succeeded, every Region with a replica elsewhere is without one; then none is', () => {
    const before = runFindings(replay([preflight, done('switch', { mode: 'rename' })], ORDER2));
    expect(before.topology).toEqual({
      replicas: {
        expected: 2, recreated: 0,
        regions: [{ region: 'us-east-1', key: 'arn:aws:kms:us-east-1:1:key/new', recreated: false }, { region: 'eu-west-1', key: 'arn:aws:kms:eu-west-1:1:key/eu', recreated: false }],
      },
      regionsWithoutReplica: ['eu-west-1'],
    });
    expect(render([preflight])).toContain('- **Regions without a replica**: eu-west-1');
    const made = done('recreate-replicas', {
      replicas: [
        { oldIdentifier: 'billing-db-r1', oldNow: 'billing-db-r1-old-r1', identifier: 'billing-db-r1', region: 'us-east-1', crossRegion: false, kmsKeyId: 'arn:aws:kms:us-east-1:1:key/new', primary: 'billing-db', lagSeconds: 0 },
        { oldIdentifier: 'billing-db-eu', oldNow: 'billing-db-eu-old-r1', identifier: 'billing-db-eu', region: 'eu-west-1', crossRegion: true, kmsKeyId: 'arn:aws:kms:eu-west-1:1:key/eu', primary: 'billing-db', lagSeconds: 4 },
      ],
      regionsWithoutReplica: [],
    });
    const after = runFindings(replay([preflight, made], ORDER2));
    expect(after.topology?.replicas).toMatchObject({ expected: 2, recreated: 2, regions: [{ recreated: true, lagSeconds: 0 }, { recreated: true, lagSeconds: 4 }] });
    expect(after.topology?.regionsWithoutReplica).toEqual([]);
    expect(render([preflight, made])).toContain('  - eu-west-1: recreated under `arn:aws:kms:eu-west-1:1:key/eu`, lag 4 s');
  });

  test('a source without replicas has no topology in the summary', () => {
    expect(runFindings(replay([done('preflight', { tablesWithoutPk: [] })], ORDER2)).topology).toBeUndefined();
  });
});
