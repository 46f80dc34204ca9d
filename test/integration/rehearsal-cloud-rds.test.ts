// The rehearsal cloud as RDS for PostgreSQL (a single DB instance) driven with real SDK commands against real
// local PostgreSQL servers: the registered instance, CreateDBSnapshot under writes, CopyDBSnapshot under the new
// key with rising PercentProgress, RestoreDBInstanceFromDBSnapshot serving rds_tools.logical_seed_lsn(), the
// follow-up ModifyDBInstance, instance renames that free the name, and DeleteDBInstance.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import {
  CopyDBSnapshotCommand, CreateDBSnapshotCommand, DeleteDBInstanceCommand, DescribeDBClustersCommand, DescribeDBInstancesCommand, DescribeDBParametersCommand,
  DescribeDBSnapshotsCommand, ListTagsForResourceCommand, ModifyDBInstanceCommand, RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import type { DBInstance, DBSnapshot } from '@aws-sdk/client-rds';
import pg from 'pg';
import { instanceFollowUp, instanceRestoreRequest } from '../../src/steps/instance.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { openRehearsal } from '../../src/rehearsal/world.js';
import type { RehearsalWorld } from '../../src/rehearsal/world.js';
import { fault, pgQuery as query, sleep, until } from '../helpers/cloud-suite.js';
import { testDir } from '../helpers/servers.js';

const SRC = 'billing-db';
const TGT = 'billing-db-rekey-t1';
const SNAP = 'billing-db-rekey-t1-snap';
const COPY = 'billing-db-rekey-t1-copy';
const NEW_KEY = 'alias/billing-new';

const runbook: Runbook = runbookSchema.parse({
  version: 1, name: 'rehearsal cloud rds test', region: 'us-east-1', account: '123456789012',
  source: { engine: 'postgres', identifier: SRC, database: 'billing', username: 'rekey_admin', password: { env: 'UNUSED_PASSWORD' } },
  target: { kmsKeyId: NEW_KEY },
  dms: { replicationInstance: { identifier: 'rekey-dms', create: true } },
  rehearsal: {
    source: { seedRows: 2000 },
    delays: { snapshotSeconds: 1, restoreSeconds: 1, renameSeconds: 1, availableSeconds: 0 },
    keys: [{ id: NEW_KEY }, { id: 'alias/off', state: 'Disabled' }],
  },
});

let dir: string;
let world: RehearsalWorld;
// This suite polls every 50 ms: the copy's rising PercentProgress is sampled by it.
const POLL = { intervalMs: 50 };

const sourceDb = (): pg.ClientConfig => ({ host: '127.0.0.1', port: world.servers.source.port, user: 'rdsadmin', database: 'billing' });
const targetDb = (): pg.ClientConfig => ({ host: '127.0.0.1', port: world.servers.target.port, user: 'rdsadmin', database: 'billing' });

async function instance(id: string): Promise<DBInstance> {
  const out = await world.cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
  const i = out.DBInstances?.[0];
  if (!i) throw new Error(`no instance ${id}`);
  return i;
}

async function snapshot(id: string): Promise<DBSnapshot> {
  const out = await world.cloud.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
  const s = out.DBSnapshots?.[0];
  if (!s) throw new Error(`no snapshot ${id}`);
  return s;
}

beforeAll(async () => {
  dir = testDir('rehearsal-cloud-rds');
  world = await openRehearsal({ stateDir: dir, runbook, fresh: true });
  await seedPostgresDemo(world.servers.source.adminUrl, { database: 'billing', rows: 2000 });
  await query(sourceDb(), 'CREATE TABLE public.ticks (n bigint NOT NULL)');
  await query(sourceDb(), 'ALTER TABLE public.ticks OWNER TO app');
}, 120_000);

afterAll(async () => {
  await world?.close({ stopServers: true });
}, 60_000);

describe('rehearsal cloud (RDS for PostgreSQL instance)', () => {
  test('registers the source as a DB instance, not a cluster, with its settings and DB parameter group', async () => {
    const src = await instance(SRC);
    expect(src).toMatchObject({
      Engine: 'postgres', DBInstanceStatus: 'available', StorageEncrypted: true, MultiAZ: true, Endpoint: { Address: '127.0.0.1', Port: world.sourceEndpoint().port },
      BackupRetentionPeriod: 7, StorageType: 'gp3', PerformanceInsightsEnabled: true, MonitoringInterval: 60,
    });
    expect(src.EngineVersion).toMatch(/^15\./);
    expect(src.DbiResourceId).toMatch(/^db-/);
    expect(src.KmsKeyId).toMatch(/^arn:aws:kms:us-east-1:123456789012:key\//);
    const group = src.DBParameterGroups?.[0]?.DBParameterGroupName ?? '';
    const params = await world.cloud.rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: group, Source: 'user' }));
    expect(params.Parameters?.find((p) => p.ParameterName === 'rds.logical_replication')?.ParameterValue).toBe('1');
    const clusters = await world.cloud.rds.send(new DescribeDBClustersCommand({}));
    expect(clusters.DBClusters).toEqual([]);
    expect((await fault(world.cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: SRC })))).name).toBe('DBClusterNotFoundFault');
  });

  let lsn = '';
  let ticksAtSnapshot = 0;
  test('CreateDBSnapshot under writes, then CopyDBSnapshot under the new key with rising PercentProgress', async () => {
    await query(sourceDb(), "SELECT pg_create_logical_replication_slot('rekey_t1', 'test_decoding')");
    let n = 0;
    let running = true;
    const writer = (async () => {
      const c = new pg.Client({ ...world.sourceEndpoint(), user: 'app', database: 'billing' });
      await c.connect();
      while (running) await c.query('INSERT INTO public.ticks (n) VALUES ($1)', [(n += 1)]);
      await c.end();
    })();
    await sleep(200);
    await world.cloud.rds.send(new CreateDBSnapshotCommand({ DBSnapshotIdentifier: SNAP, DBInstanceIdentifier: SRC, Tags: [{ Key: 'rekey:run', Value: 't1' }] }));
    running = false;
    await writer;
    expect(n).toBeGreaterThan(0);
    await until('snapshot available', async () => ((await snapshot(SNAP)).Status === 'available' ? true : undefined), POLL);
    const disabled = await fault(world.cloud.rds.send(new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: SNAP, TargetDBSnapshotIdentifier: COPY, KmsKeyId: 'alias/off' })));
    expect(disabled.name).toBe('KMSKeyNotAccessibleFault');
    const newKeyArn = (await world.cloud.kms.send(new DescribeKeyCommand({ KeyId: NEW_KEY }))).KeyMetadata?.Arn;
    const oldKeyArn = (await snapshot(SNAP)).KmsKeyId;
    expect(oldKeyArn).not.toBe(newKeyArn);
    await world.cloud.rds.send(new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: SNAP, TargetDBSnapshotIdentifier: COPY, KmsKeyId: newKeyArn, CopyTags: true }));
    const seen: number[] = [];
    const copy = await until('copy available', async () => {
      const s = await snapshot(COPY);
      seen.push(s.PercentProgress ?? -1);
      return s.Status === 'available' ? s : undefined;
    }, POLL);
    expect(copy.KmsKeyId).toBe(newKeyArn);
    expect(copy.SourceDBSnapshotIdentifier).toContain(SNAP);
    expect(seen.some((p) => p > 0 && p < 100)).toBe(true);
    expect(seen.at(-1)).toBe(100);
    const tags = await world.cloud.rds.send(new ListTagsForResourceCommand({ ResourceName: copy.DBSnapshotArn }));
    expect(tags.TagList).toContainEqual({ Key: 'rekey:run', Value: 't1' });
    const reg = world.inspect();
    lsn = reg.snapshots[COPY]?.lsn ?? '';
    expect(lsn).toBe(reg.snapshots[SNAP]?.lsn);
    expect(reg.snapshots[COPY]?.dumpFile).not.toBe(reg.snapshots[SNAP]?.dumpFile);
    ticksAtSnapshot = n;
  }, 60_000);

  test('RestoreDBInstanceFromDBSnapshot carries the settings, uses the copy\'s key and serves rds_tools.logical_seed_lsn()', async () => {
    const src = await instance(SRC);
    const request = instanceRestoreRequest(src, TGT, COPY, [{ Key: 'rekey:run', Value: 't1' }]);
    await world.cloud.rds.send(new RestoreDBInstanceFromDBSnapshotCommand(request));
    expect((await instance(TGT)).DBInstanceStatus).toBe('creating');
    const restored = await until('restored instance available', async () => {
      const i = await instance(TGT);
      return i.DBInstanceStatus === 'available' ? i : undefined;
    }, POLL);
    expect(restored.KmsKeyId).toBe((await snapshot(COPY)).KmsKeyId);
    expect(restored).toMatchObject({
      MultiAZ: true, StorageType: 'gp3', Iops: 3000, StorageThroughput: 125, DBInstanceClass: src.DBInstanceClass, DeletionProtection: src.DeletionProtection,
      DBParameterGroups: [{ DBParameterGroupName: src.DBParameterGroups?.[0]?.DBParameterGroupName }],
      // What a restore cannot set: AWS defaults until the follow-up.
      BackupRetentionPeriod: 1, MonitoringInterval: 0, PerformanceInsightsEnabled: false,
    });
    expect(world.inspect().clusters[TGT]?.restoreInput).toMatchObject({ DBSnapshotIdentifier: COPY, MultiAZ: true, Port: src.Endpoint?.Port });
    // The seed function the adapter reads (CREATE EXTENSION is not needed: the function already exists).
    const [row] = await query<{ lsn: string }>({ ...targetDb(), host: '127.0.0.1', port: restored.Endpoint?.Port ?? 0 }, 'SELECT rds_tools.logical_seed_lsn()::text AS lsn');
    expect(row?.lsn).toBe(lsn);
    // A consistent snapshot: the ticks restored are exactly 1..k, no gap.
    const [t] = await query<{ c: string; m: string | null }>(targetDb(), 'SELECT count(*)::text AS c, max(n)::text AS m FROM public.ticks');
    expect(Number(t?.c)).toBe(Number(t?.m ?? 0));
    expect(Number(t?.c)).toBeLessThanOrEqual(ticksAtSnapshot);

    // The source keeps Performance Insights data on its storage key; the follow-up puts the new instance's on the new one.
    expect(src.PerformanceInsightsKMSKeyId).toBe(src.KmsKeyId);
    const newKeyArn = restored.KmsKeyId ?? '';
    await world.cloud.rds.send(new ModifyDBInstanceCommand(instanceFollowUp(src, TGT, newKeyArn)));
    expect(await instance(TGT)).toMatchObject({ BackupRetentionPeriod: 7, MonitoringInterval: 60, PerformanceInsightsEnabled: true, PerformanceInsightsKMSKeyId: newKeyArn, MaxAllocatedStorage: 500 });
    // As on RDS, that key cannot change once set.
    const change = await fault(world.cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: TGT, PerformanceInsightsKMSKeyId: src.KmsKeyId, ApplyImmediately: true })));
    expect(change.name).toBe('InvalidParameterCombination');
  }, 60_000);

  test('instance renames: the old name stops answering at once, the new one goes renaming -> available, the name is freed', async () => {
    const oldPort = (await instance(SRC)).Endpoint?.Port ?? 0;
    await world.cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: SRC, NewDBInstanceIdentifier: `${SRC}-old`, ApplyImmediately: true }));
    expect((await fault(instance(SRC))).name).toBe('DBInstanceNotFoundFault');
    expect((await instance(`${SRC}-old`)).DBInstanceStatus).toBe('renaming');
    await expect(query({ host: '127.0.0.1', port: oldPort, user: 'app', database: 'billing' }, 'SELECT 1')).rejects.toThrow();
    // The freed name takes the restored instance.
    await world.cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: TGT, NewDBInstanceIdentifier: SRC, ApplyImmediately: true }));
    const renamed = await until('renamed', async () => {
      const i = await instance(SRC);
      return i.DBInstanceStatus === 'available' ? i : undefined;
    }, POLL);
    expect(renamed.KmsKeyId).toBe((await snapshot(COPY)).KmsKeyId);
    expect(renamed.Endpoint?.Port).toBe(oldPort);
    const [row] = await query<{ lsn: string }>({ host: '127.0.0.1', port: oldPort, user: 'rdsadmin', database: 'billing' }, 'SELECT rds_tools.logical_seed_lsn()::text AS lsn');
    expect(row?.lsn).toBe(lsn); // the name now reaches the restored copy
  }, 60_000);

  test('DeleteDBInstance: never the original source, the restored one with SkipFinalSnapshot', async () => {
    const refused = await fault(world.cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: `${SRC}-old`, SkipFinalSnapshot: true })));
    expect(refused.message).toMatch(/protected|never deletes/);
    await world.cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: SRC, DeletionProtection: false, ApplyImmediately: true }));
    const out = await world.cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: SRC, SkipFinalSnapshot: true }));
    expect(out.DBInstance?.DBInstanceStatus).toBe('deleting');
    expect((await fault(instance(SRC))).name).toBe('DBInstanceNotFoundFault');
    const dbs = await query<{ datname: string }>({ ...targetDb(), database: 'postgres' }, "SELECT datname FROM pg_database WHERE datname = 'billing'");
    expect(dbs).toEqual([]);
  }, 60_000);
});
