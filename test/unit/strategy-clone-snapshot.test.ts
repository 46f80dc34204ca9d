// strategies clone and snapshot without servers: the clone request's shape (asserted with aws-sdk-client-mock) and
// the fall back to full-copy when AWS refuses copy-on-write under the new key; the offline outage model; the flows.
import { DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, DescribeEventsCommand, RDSClient, RDSServiceException, RestoreDBClusterToPointInTimeCommand } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { buildFlow } from '../../src/flows/index.js';
import { cloneWithFallback } from '../../src/steps/clone.js';
import { restoreRequest } from '../../src/steps/restore.js';
import { outageModel, snapshotHistory } from '../../src/steps/snapshot-offline.js';
import type { RekeyServices } from '../../src/steps/services.js';
import { mysqlRunbook, testRunbook } from './steps-world.js';

const NEW_KEY = 'arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222';
const rds = mockClient(RDSClient);
const source = { DBClusterIdentifier: 'app-db', Engine: 'aurora-postgresql', EngineVersion: '15.4', DBSubnetGroup: 'sub', VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-1' }], DBClusterParameterGroup: 'pg', Port: 5432 };

function ctx(logs: string[]) {
  return {
    services: { cloud: { rds: new RDSClient({ region: 'us-east-1' }) } } as unknown as RekeyServices,
    report: { log: (_l: string, m: string) => logs.push(m), progress: () => undefined, metric: () => undefined, publish: () => undefined },
  };
}

const refusal = (): Error => new RDSServiceException({ name: 'InvalidParameterCombination', $fault: 'client', $metadata: {}, message: 'copy-on-write cannot change the KMS key' });

describe('strategy clone: RestoreDBClusterToPointInTime', () => {
  beforeEach(() => rds.reset());

  it('asks for copy-on-write at the latest restorable time under the new key, with the source settings', async () => {
    rds.on(RestoreDBClusterToPointInTimeCommand).resolves({});
    const base = restoreRequest(source, 'app-db-rekey', '', NEW_KEY, [{ Key: 'rekey:run', Value: 'r1' }], 'aurora-postgresql');
    expect(await cloneWithFallback(ctx([]), base, 'app-db')).toEqual({ restoreType: 'copy-on-write' });
    const calls = rds.commandCalls(RestoreDBClusterToPointInTimeCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      DBClusterIdentifier: 'app-db-rekey', SourceDBClusterIdentifier: 'app-db', RestoreType: 'copy-on-write', UseLatestRestorableTime: true, KmsKeyId: NEW_KEY,
      DBSubnetGroupName: 'sub', VpcSecurityGroupIds: ['sg-1'], DBClusterParameterGroupName: 'pg', Port: 5432, Tags: [{ Key: 'rekey:run', Value: 'r1' }],
    });
    // Not valid on this call: a snapshot, the engine (it is the source's), a time with copy-on-write.
    expect(calls[0]).not.toHaveProperty('SnapshotIdentifier');
    expect(calls[0]).not.toHaveProperty('Engine');
    expect(calls[0]).not.toHaveProperty('RestoreToTime');
  });

  it('reads AWS\'s answer: a refused copy-on-write is asked again as full-copy, and reported', async () => {
    rds.on(RestoreDBClusterToPointInTimeCommand, { RestoreType: 'copy-on-write' }).rejects(refusal()).on(RestoreDBClusterToPointInTimeCommand, { RestoreType: 'full-copy' }).resolves({});
    const logs: string[] = [];
    const base = restoreRequest(source, 'app-db-rekey', '', NEW_KEY, [], 'aurora-postgresql');
    const got = await cloneWithFallback(ctx(logs), base, 'app-db');
    expect(got).toEqual({ restoreType: 'full-copy', fallbackReason: expect.stringMatching(/^InvalidParameterCombination: copy-on-write cannot change the KMS key/) });
    expect(rds.commandCalls(RestoreDBClusterToPointInTimeCommand).map((c) => [c.args[0].input.RestoreType, c.args[0].input.KmsKeyId])).toEqual([['copy-on-write', NEW_KEY], ['full-copy', NEW_KEY]]);
    expect(logs.join('\n')).toMatch(/full-copy/);
  });

  it('does not retry other errors (a key RDS cannot use stays an error)', async () => {
    rds.on(RestoreDBClusterToPointInTimeCommand).rejects(new RDSServiceException({ name: 'KMSKeyNotAccessibleFault', $fault: 'client', $metadata: {}, message: 'no grant' }));
    await expect(cloneWithFallback(ctx([]), restoreRequest(source, 't', '', NEW_KEY, [], 'aurora-postgresql'), 'app-db')).rejects.toThrow(/KMSKeyNotAccessibleFault/);
    expect(rds.commandCalls(RestoreDBClusterToPointInTimeCommand)).toHaveLength(1);
  });

  it('is Aurora only', () => {
    expect(() => buildFlow(mysqlRunbook({ strategy: 'clone', source: { ...mysqlRunbook().source, engine: 'mysql' } } as never))).toThrow(/Aurora/);
    expect(buildFlow(testRunbook({ strategy: 'clone', dms: undefined })).steps.map((s) => s.id)).not.toContain('snapshot');
  });
});

describe('strategy snapshot', () => {
  it('fences before the snapshot and switches after the validation at rest; unfences on failure before the switch', () => {
    const flow = buildFlow(testRunbook({ strategy: 'snapshot', dms: undefined }));
    const ids = flow.steps.map((s) => s.id);
    expect(ids.indexOf('fence')).toBeLessThan(ids.indexOf('snapshot'));
    expect(ids.indexOf('restore')).toBeLessThan(ids.indexOf('final-validate'));
    expect(ids.indexOf('final-validate')).toBeLessThan(ids.indexOf('switch'));
    expect(ids).not.toContain('catch-up');
    expect(flow.safety).toMatchObject({ guard: 'fence', boundary: 'switch' });
  });

  it('estimates the outage from history when there is some, else the rehearsal delays, else the size', () => {
    const rb = testRunbook({ strategy: 'snapshot', dms: undefined });
    const est = { bytes: 100e9, countSeconds: 10, checksumSeconds: 20, awsRenameDnsSeconds: 0 };
    const bySize = outageModel(rb, est, 'aws');
    expect(bySize).toMatchObject({ from: 'size-model', snapshotSeconds: 1000, restoreSeconds: 1000 + 900 });
    const byHistory = outageModel(rb, est, 'aws', [{ snapshotId: 'a', seconds: 300 }, { snapshotId: 'b', seconds: 500 }, { snapshotId: 'c', seconds: 400 }]);
    expect(byHistory).toMatchObject({ from: 'history', snapshotSeconds: 400, restoreSeconds: 400 + 900 });
    expect(byHistory.totalSeconds).toBeLessThan(bySize.totalSeconds);
    const rehearsal = outageModel(testRunbook({ strategy: 'snapshot', dms: undefined, rehearsal: { delays: { snapshotSeconds: 4, restoreSeconds: 5, renameSeconds: 1, availableSeconds: 0 } } } as never), est, 'rehearsal');
    expect(rehearsal).toMatchObject({ from: 'rehearsal-delays', snapshotSeconds: 4, restoreSeconds: 5, copySeconds: 0 });
  });
});

describe('strategy snapshot: how long earlier snapshots of the source took', () => {
  beforeEach(() => rds.reset());
  const NOW = Date.parse('2026-12-01T12:00:00Z');
  const DAY = 86_400_000;
  const historyCtx = (runbook: ReturnType<typeof testRunbook>) =>
    ({ services: { cloud: { rds: new RDSClient({ region: 'us-east-1' }) }, runbook, clock: { now: () => NOW } } }) as unknown as Parameters<typeof snapshotHistory>[0];

  it('Aurora: DescribeDBClusterSnapshots of the source, DescribeEvents of each recent available one; first to last event', async () => {
    rds.on(DescribeDBClusterSnapshotsCommand).resolves({
      DBClusterSnapshots: [
        { DBClusterSnapshotIdentifier: 'nightly-1', Status: 'available', SnapshotCreateTime: new Date(NOW - DAY) },
        { DBClusterSnapshotIdentifier: 'last-month', Status: 'available', SnapshotCreateTime: new Date(NOW - 30 * DAY) },
        { DBClusterSnapshotIdentifier: 'in-progress', Status: 'creating', SnapshotCreateTime: new Date(NOW - 3_600_000) },
      ],
    });
    rds.on(DescribeEventsCommand).resolves({ Events: [{ Date: new Date(NOW - DAY + 95_000), Message: 'Manual cluster snapshot created' }, { Date: new Date(NOW - DAY), Message: 'Creating manual cluster snapshot' }] });
    const samples = await snapshotHistory(historyCtx(testRunbook({ strategy: 'snapshot', dms: undefined })));
    expect(samples).toEqual([{ snapshotId: 'nightly-1', seconds: 95 }]);
    expect(rds.commandCalls(DescribeDBClusterSnapshotsCommand).map((c) => c.args[0].input)).toEqual([{ DBClusterIdentifier: 'app-db' }]);
    // Only the recent, available snapshot's events are read, from 14 days back.
    expect(rds.commandCalls(DescribeEventsCommand).map((c) => c.args[0].input)).toEqual([{ SourceIdentifier: 'nightly-1', SourceType: 'db-cluster-snapshot', StartTime: new Date(NOW - 14 * DAY) }]);
  });

  it('RDS instance: DescribeDBSnapshots of the instance, events of type db-snapshot; a snapshot with one event gives no sample', async () => {
    rds.on(DescribeDBSnapshotsCommand).resolves({
      DBSnapshots: [
        { DBSnapshotIdentifier: 'a', Status: 'available', SnapshotCreateTime: new Date(NOW - 2 * DAY) },
        { DBSnapshotIdentifier: 'b', Status: 'available', SnapshotCreateTime: new Date(NOW - DAY) },
      ],
    });
    rds.on(DescribeEventsCommand, { SourceIdentifier: 'a' }).resolves({ Events: [{ Date: new Date(NOW - 2 * DAY) }, { Date: new Date(NOW - 2 * DAY + 42_500) }] });
    rds.on(DescribeEventsCommand, { SourceIdentifier: 'b' }).resolves({ Events: [{ Date: new Date(NOW - DAY) }] });
    const runbook = testRunbook({ strategy: 'snapshot', dms: undefined, source: { engine: 'postgres', identifier: 'billing-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } } });
    expect(await snapshotHistory(historyCtx(runbook))).toEqual([{ snapshotId: 'a', seconds: 42.5 }]);
    expect(rds.commandCalls(DescribeDBSnapshotsCommand).map((c) => c.args[0].input)).toEqual([{ DBInstanceIdentifier: 'billing-db' }]);
    expect(rds.commandCalls(DescribeEventsCommand).map((c) => c.args[0].input).sort((x, y) => String(x.SourceIdentifier).localeCompare(String(y.SourceIdentifier)))).toEqual([
      { SourceIdentifier: 'a', SourceType: 'db-snapshot', StartTime: new Date(NOW - 14 * DAY) },
      { SourceIdentifier: 'b', SourceType: 'db-snapshot', StartTime: new Date(NOW - 14 * DAY) },
    ]);
  });
});
