// RDS for PostgreSQL without rds_tools.logical_seed_lsn() (rehearsal.failures.seedFunctionMissing), end to end
// with live writes: without the opt-in the run stops before creating any DMS task, the source writable; with
// dms.allowSlotPositionFallback it starts CDC at the slot, the rehearsal's DMS replays the overlap as upserts,
// and the run ends with 0 lost, 0 duplicated, 0 mismatched, the overlap in the summary and the report.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registryOf, rekey, SECRET, stopServersLeftUnder, summaryOf, tempDir, testRunbook } from '../helpers/rehearse-cli.js';

function runbook(dir: string, fallback: boolean): string {
  return testRunbook('rehearsal-rds-postgres.yaml', dir, `fallback-${fallback}`, (doc) => {
    doc.setIn(['rehearsal', 'failures', 'seedFunctionMissing'], true);
    doc.setIn(['dms', 'allowSlotPositionFallback'], fallback);
    doc.setIn(['cutover', 'sustainSeconds'], 2);
  });
}

afterAll(stopServersLeftUnder);

describe('rekey rehearse: RDS for PostgreSQL without the seed function', () => {
  it('without the opt-in, stops at capture-position with exit 5 naming both ways out; no task, the source writable', async () => {
    const cwd = tempDir('no-seed');
    const out = await rekey(['rehearse', runbook(cwd, false), '--json'], cwd);
    const s = summaryOf(out);
    expect(out.code).toBe(5);
    expect(s).toMatchObject({ ok: false, status: 'failed', switched: false, endpointWritable: true, error: { stepId: 'capture-position' } });
    expect(s.error.message).toMatch(/rds_tools\.logical_seed_lsn\(\)/);
    expect((s.error.details ?? []).join('\n')).toMatch(/allowSlotPositionFallback/);
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    const reg = registryOf(cwd, s.runId);
    expect(reg.created.map((c) => c.action)).not.toContain('CreateReplicationTask');
  }, 300_000);

  it('with dms.allowSlotPositionFallback, replays the overlap as upserts and ends with 0 lost, 0 duplicated, 0 mismatched, the overlap reported', async () => {
    const cwd = tempDir('fallback');
    // A pause after each step keeps the write load running between the slot and the snapshot: a real overlap.
    const out = await rekey(['rehearse', runbook(cwd, true), '--json'], cwd, { REKEY_CHAOS_PAUSE_MS: '300' });
    const s = summaryOf(out);
    expect({ ok: s.ok, error: s.error }).toEqual({ ok: true, error: undefined });
    expect(out.code).toBe(0);
    expect(s).toMatchObject({ status: 'succeeded', switched: true, endpointWritable: true });
    expect(s.writes.acknowledged).toBeGreaterThan(100);
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.mismatched).toBe(0);
    expect(s.validation.tables).toBeGreaterThanOrEqual(6);
    expect(s.sequences.behind).toBe(0);
    expect(s.position).toMatchObject({ source: 'slot-fallback' });
    expect(s.overlap?.fromLsn).toBe(s.position?.value);
    expect(s.overlap?.reason).toMatch(/rds_tools\.logical_seed_lsn\(\) does not exist/);
    // The rehearsal's DMS replayed real changes (its log line; cleanup deleted the task): duplicate inserts of the
    // write load became updates.
    const replay = /DMS task \S+ replayed the overlap (\S+)\.\.(\S+): (\d+) transactions, (\d+) changes; (\d+) inserts applied as updates/.exec(out.stdout + out.stderr);
    expect(replay?.[1]).toBe(s.overlap?.fromLsn);
    expect(Number(replay?.[3])).toBeGreaterThan(0);
    expect(Number(replay?.[5])).toBeGreaterThan(0);
    const report = readFileSync(join(cwd, '.rekey', 'runs', s.runId, 'report.md'), 'utf8');
    expect(report).toContain('## CDC start position');
    expect(report).toMatch(/\*\*OVERLAP\*\*: CDC started at `[0-9A-F]+\/[0-9A-F]+`, before the snapshot/);
    expect(report).toContain('INSERT_RECORD');
    expect(report).toMatch(/\| instance: serving the source identifier now \| `billing-db` \| `arn:aws:kms:us-east-1:123456789012:key\/[0-9a-f-]+` \|/);
    // Performance Insights data moved to the new key too (the source kept it on its storage key).
    const evidence = (s as unknown as { evidence: { resources: { kind: string; kmsKeyId?: string }[] } }).evidence.resources;
    const newKey = evidence.find((r) => r.kind === 'instance')?.kmsKeyId;
    expect(evidence.find((r) => r.kind === 'performance-insights')?.kmsKeyId).toBe(newKey);
    expect(report).toMatch(/\| snapshot: copy under the new key \(restored from; key as read when the copy finished\) \| `billing-db-rekey-\w+-copy` \| `arn:aws:kms:/);
    const html = readFileSync(join(cwd, '.rekey', 'runs', s.runId, 'report.html'), 'utf8');
    expect(html).toContain('<strong>Overlap:</strong> CDC started at');
    expect(html).toContain('<h2>CDC latency</h2>');
    for (const text of [out.stdout, out.stderr, report, html]) expect(text).not.toContain(SECRET);
  }, 300_000);
});
