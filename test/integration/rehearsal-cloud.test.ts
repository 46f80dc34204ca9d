// The rehearsal cloud driven with real SDK commands against real local PostgreSQL servers: snapshot and
// restore at an exact LSN under concurrent writes, a DMS task that replicates exactly once, the checks
// DMS makes before starting, CloudWatch metrics, renames through the endpoint proxies, reopening.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { CloudWatchClient} from '@aws-sdk/client-cloudwatch';
import { GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateEndpointCommand, CreateReplicationInstanceCommand, DeleteReplicationTaskCommand, DescribeConnectionsCommand, DescribeReplicationInstancesCommand,
  DescribeReplicationTasksCommand, DescribeTableStatisticsCommand, StopReplicationTaskCommand, TestConnectionCommand,
} from '@aws-sdk/client-database-migration-service';
import type { ReplicationTask } from '@aws-sdk/client-database-migration-service';
import { DescribeKeyCommand, GetKeyPolicyCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import {
  CreateDBClusterSnapshotCommand, CreateDBInstanceCommand, DescribeDBClusterParametersCommand, DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand,
  DescribeEngineDefaultParametersCommand, DescribeDBSnapshotsCommand, ModifyDBClusterCommand, RestoreDBClusterFromSnapshotCommand, waitUntilDBClusterAvailable,
  waitUntilDBClusterSnapshotAvailable,
} from '@aws-sdk/client-rds';
import type { DBCluster , RDSClient} from '@aws-sdk/client-rds';
import pg from 'pg';
import { runbookSchema } from '../../src/runbook/schema.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { openRehearsal } from '../../src/rehearsal/world.js';
import type { RehearsalWorld } from '../../src/rehearsal/world.js';
import { createCdcTask, describeTask, fault, pgQuery as query, selectTables, sleep, startTask, until } from '../helpers/cloud-suite.js';
import { testDir } from '../helpers/servers.js';

const SRC = 'orders-db';
const TGT = 'orders-db-rekey-t1';
const SNAP = 'orders-db-rekey-t1-snap';
const SLOT = 'rekey_t1';
const NEW_KEY = 'alias/orders-new';

const runbook: Runbook = runbookSchema.parse({
  version: 1, name: 'rehearsal cloud test', region: 'us-east-1', account: '123456789012',
  source: { engine: 'aurora-postgresql', identifier: SRC, database: 'orders', username: 'rekey_admin', password: { env: 'UNUSED_PASSWORD' } },
  target: { kmsKeyId: NEW_KEY },
  dms: { replicationInstance: { identifier: 'rekey-dms', create: true } },
  rehearsal: {
    source: { seedRows: 2000 },
    delays: { snapshotSeconds: 1, restoreSeconds: 1, renameSeconds: 1, availableSeconds: 0 },
    keys: [{ id: NEW_KEY }, { id: 'alias/off', state: 'Disabled' }, { id: 'alias/rsa', keySpec: 'RSA_2048' }],
  },
});

let dir: string;
let world: RehearsalWorld;

const sourceDb = (): pg.ClientConfig => ({ host: '127.0.0.1', port: world.servers.source.port, user: 'rdsadmin', database: 'orders' });
const targetDb = (): pg.ClientConfig => ({ host: '127.0.0.1', port: world.servers.target.port, user: 'rdsadmin', database: 'orders' });
const rds = (): RDSClient => world.cloud.rds as RDSClient;

async function cluster(id: string): Promise<DBCluster> {
  const out = await world.cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
  const c = out.DBClusters?.[0];
  if (!c) throw new Error(`no cluster ${id}`);
  return c;
}

/** Inserts n = 1, 2, 3... into public.ticks through the source endpoint, one autocommit insert at a time. */
function startWriter(): { stop: () => Promise<number> } {
  let running = true;
  let n = 0;
  const done = (async () => {
    const c = new pg.Client({ ...world.sourceEndpoint(), user: 'app', database: 'orders' });
    await c.connect();
    try {
      while (running) {
        await c.query('INSERT INTO public.ticks (n) VALUES ($1)', [n + 1]);
        n += 1;
        await sleep(2);
      }
    } finally {
      await c.end();
    }
  })();
  return { stop: async () => { running = false; await done; return n; } };
}

beforeAll(async () => {
  dir = testDir('rehearsal-cloud');
  world = await openRehearsal({ stateDir: dir, runbook, fresh: true });
  await seedPostgresDemo(world.servers.source.adminUrl, { database: 'orders', rows: 2000 });
  await query(sourceDb(), 'CREATE TABLE public.ticks (n bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())'); // no key: a duplicate would show
  await query(sourceDb(), 'ALTER TABLE public.ticks OWNER TO app');
  await query(sourceDb(), 'CREATE TABLE public.rekey_sentinel (token text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
}, 120_000);

afterAll(async () => {
  await world?.close({ stopServers: true });
}, 60_000);

describe('rehearsal cloud (PostgreSQL)', () => {
  let writer: { stop: () => Promise<number> } | undefined;
  let snapshotLsn = '';

  test('registers the source cluster with its settings, keys and parameters', async () => {
    const src = await cluster(SRC);
    expect(src).toMatchObject({ Engine: 'aurora-postgresql', Status: 'available', Endpoint: '127.0.0.1', Port: world.sourceEndpoint().port, StorageEncrypted: true });
    expect(src.KmsKeyId).toMatch(/^arn:aws:kms:us-east-1:123456789012:key\/[0-9a-f-]{36}$/);
    const params = [];
    let marker: string | undefined;
    do {
      const page = await world.cloud.rds.send(new DescribeDBClusterParametersCommand({ DBClusterParameterGroupName: src.DBClusterParameterGroup, Marker: marker }));
      params.push(...(page.Parameters ?? []));
      marker = page.Marker;
    } while (marker !== undefined);
    expect(params.length).toBeGreaterThan(100); // more than one page
    expect(params.find((p) => p.ParameterName === 'rds.logical_replication')?.ParameterValue).toBe('1');

    const key = await world.cloud.kms.send(new DescribeKeyCommand({ KeyId: NEW_KEY }));
    expect(key.KeyMetadata).toMatchObject({ KeyState: 'Enabled', KeySpec: 'SYMMETRIC_DEFAULT', Enabled: true });
    expect(key.KeyMetadata?.Arn).toMatch(/^arn:aws:kms:us-east-1:123456789012:key\//);
    const policy = await world.cloud.kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyMetadata?.KeyId, PolicyName: 'default' }));
    expect(policy.Policy).toContain('rds.us-east-1.amazonaws.com');
    expect((await world.cloud.kms.send(new ListGrantsCommand({ KeyId: key.KeyMetadata?.KeyId }))).Grants).toHaveLength(1);
    expect((await world.cloud.kms.send(new DescribeKeyCommand({ KeyId: 'alias/off' }))).KeyMetadata?.KeyState).toBe('Disabled');
    const missing = await fault(world.cloud.kms.send(new DescribeKeyCommand({ KeyId: 'alias/nope' })));
    expect(missing.name).toBe('NotFoundException');
    expect(missing.$metadata).toBeDefined();
  });

  test('a snapshot taken under writes restores at exactly its LSN, with the settings passed and a copy of the slot', async () => {
    await query(sourceDb(), "SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [SLOT]);
    writer = startWriter();
    await sleep(300);
    const created = await world.cloud.rds.send(new CreateDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: SNAP, DBClusterIdentifier: SRC }));
    expect(created.DBClusterSnapshot).toMatchObject({ Status: 'creating', DBClusterIdentifier: SRC });
    expect(created.DBClusterSnapshot?.PercentProgress).toBeLessThan(100);
    expect((await cluster(SRC)).Status).toBe('backing-up');
    const dup = await fault(world.cloud.rds.send(new CreateDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: SNAP, DBClusterIdentifier: SRC })));
    expect(dup.name).toBe('DBClusterSnapshotAlreadyExistsFault');
    await waitUntilDBClusterSnapshotAvailable({ client: rds(), maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { DBClusterSnapshotIdentifier: SNAP });
    const snap = (await world.cloud.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: SNAP }))).DBClusterSnapshots?.[0];
    expect(snap).toMatchObject({ Status: 'available', PercentProgress: 100 });

    const disabled = await fault(world.cloud.rds.send(new RestoreDBClusterFromSnapshotCommand({ DBClusterIdentifier: TGT, SnapshotIdentifier: SNAP, Engine: 'aurora-postgresql', KmsKeyId: 'alias/off' })));
    expect(disabled.name).toBe('KMSKeyNotAccessibleFault');
    const asymmetric = await fault(world.cloud.rds.send(new RestoreDBClusterFromSnapshotCommand({ DBClusterIdentifier: TGT, SnapshotIdentifier: SNAP, Engine: 'aurora-postgresql', KmsKeyId: 'alias/rsa' })));
    expect(asymmetric.message).toMatch(/asymmetric/);

    const src = await cluster(SRC);
    await world.cloud.rds.send(new RestoreDBClusterFromSnapshotCommand({
      DBClusterIdentifier: TGT, SnapshotIdentifier: SNAP, Engine: 'aurora-postgresql', KmsKeyId: NEW_KEY, DBClusterParameterGroupName: src.DBClusterParameterGroup,
      VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'], DBSubnetGroupName: src.DBSubnetGroup, BackupRetentionPeriod: 7, DeletionProtection: false,
      Tags: [{ Key: 'rekey:run-id', Value: 't1' }],
    }));
    await sleep(1200);
    expect((await cluster(TGT)).Status).toBe('creating'); // no writer yet, as on Aurora
    await world.cloud.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: `${TGT}-w1`, DBClusterIdentifier: TGT, Engine: 'aurora-postgresql', DBInstanceClass: 'db.r6g.large' }));
    await waitUntilDBClusterAvailable({ client: rds(), maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { DBClusterIdentifier: TGT });
    const tgt = await cluster(TGT);
    const newKey = await world.cloud.kms.send(new DescribeKeyCommand({ KeyId: NEW_KEY }));
    expect(tgt).toMatchObject({ KmsKeyId: newKey.KeyMetadata?.Arn, DBClusterParameterGroup: src.DBClusterParameterGroup, BackupRetentionPeriod: 7 });
    expect(tgt.Port).not.toBe(src.Port);
    expect(world.inspect().clusters[TGT]?.restoreInput).toMatchObject({ VpcSecurityGroupIds: ['sg-0a1b2c3d4e5f60718'], DBSubnetGroupName: src.DBSubnetGroup });

    // Through the target's endpoint: the Aurora function answers the snapshot's LSN.
    const endpoint = { host: tgt.Endpoint, port: tgt.Port, user: 'rekey_admin', database: 'orders' };
    const [row] = await query<{ lsn: string }>(endpoint, 'SELECT aurora_volume_logical_start_lsn()::text AS lsn');
    snapshotLsn = row?.lsn ?? '';
    expect(snapshotLsn).toBe(world.inspect().snapshots[SNAP]?.lsn);
    // The data is the source at that instant: a gap-free prefix of the writer's sequence, while it went on.
    const [t] = await query<{ count: string; max: string; distinct: string }>(targetDb(), 'SELECT count(*) AS count, max(n) AS max, count(DISTINCT n) AS distinct FROM public.ticks');
    expect(Number(t?.count)).toBeGreaterThan(0);
    expect(t?.count).toBe(t?.max);
    expect(t?.distinct).toBe(t?.count);
    const [s] = await query<{ max: string }>(sourceDb(), 'SELECT max(n) AS max FROM public.ticks');
    expect(Number(s?.max)).toBeGreaterThan(Number(t?.max));
    const [customers] = await query<{ count: string }>(targetDb(), 'SELECT count(*) AS count FROM public.customers');
    expect(Number(customers?.count)).toBeGreaterThan(0);
    // The restored volume carries a copy of the runner's slot; the flow has to drop it.
    expect(await query(targetDb(), 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [SLOT])).toHaveLength(1);
    // The roles came along with their attributes.
    expect(await query(targetDb(), "SELECT 1 FROM pg_roles WHERE rolname = 'app' AND rolcanlogin")).toHaveLength(1);
  }, 60_000);

  let instanceArn = '';
  let sourceArn = '';
  let targetArn = '';

  const createTask = (id: string, position: string, sourceEndpointArn = sourceArn): Promise<string> => createCdcTask(world.cloud.dms, {
    id, sourceArn: sourceEndpointArn, targetArn, instanceArn, position, tableMappings: selectTables({ schema: 'public' }),
    settings: JSON.stringify({ FullLoadSettings: { TargetTablePrepMode: 'DO_NOTHING' } }),
  });
  const task = (arn: string): Promise<ReplicationTask> => describeTask(world.cloud.dms, arn);
  const startAndSettle = (arn: string): Promise<ReplicationTask> => startTask(world.cloud.dms, arn);

  test('DMS refuses what real DMS refuses: wrong start position, missing slot', async () => {
    const ri = await world.cloud.dms.send(new CreateReplicationInstanceCommand({ ReplicationInstanceIdentifier: 'rekey-dms', ReplicationInstanceClass: 'dms.r6i.large' }));
    instanceArn = ri.ReplicationInstance?.ReplicationInstanceArn ?? '';
    const again = await fault(world.cloud.dms.send(new CreateReplicationInstanceCommand({ ReplicationInstanceIdentifier: 'rekey-dms', ReplicationInstanceClass: 'dms.r6i.large' })));
    expect(again.name).toBe('ResourceAlreadyExistsFault');
    await until('instance available', async () => {
      const out = await world.cloud.dms.send(new DescribeReplicationInstancesCommand({ Filters: [{ Name: 'replication-instance-id', Values: ['rekey-dms'] }] }));
      return out.ReplicationInstances?.[0]?.ReplicationInstanceStatus === 'available' ? true : undefined;
    });
    const src = await cluster(SRC);
    const tgt = await cluster(TGT);
    const endpoint = async (id: string, type: 'source' | 'target', port: number | undefined, slot?: string): Promise<string> => {
      const out = await world.cloud.dms.send(new CreateEndpointCommand({
        EndpointIdentifier: id, EndpointType: type, EngineName: 'aurora-postgresql', ServerName: '127.0.0.1', Port: port, DatabaseName: 'orders',
        Username: 'rekey_admin', Password: 'not-checked-locally', ...(slot !== undefined ? { PostgreSQLSettings: { SlotName: slot, PluginName: 'test-decoding' } } : {}),
      }));
      return out.Endpoint?.EndpointArn ?? '';
    };
    sourceArn = await endpoint('rekey-t1-src', 'source', src.Port, SLOT);
    targetArn = await endpoint('rekey-t1-tgt', 'target', tgt.Port);
    const noSlotArn = await endpoint('rekey-t1-src-noslot', 'source', src.Port, 'rekey_missing');
    const nowhere = await endpoint('rekey-t1-nowhere', 'target', 1);
    for (const e of [sourceArn, targetArn, nowhere]) await world.cloud.dms.send(new TestConnectionCommand({ ReplicationInstanceArn: instanceArn, EndpointArn: e }));
    const status = async (e: string): Promise<{ Status?: string; LastFailureMessage?: string } | undefined> => {
      const out = await world.cloud.dms.send(new DescribeConnectionsCommand({ Filters: [{ Name: 'endpoint-arn', Values: [e] }] }));
      const c = out.Connections?.[0];
      return c && c.Status !== 'testing' ? c : undefined;
    };
    expect((await until('source test', () => status(sourceArn)))?.Status).toBe('successful');
    expect((await until('target test', () => status(targetArn)))?.Status).toBe('successful');
    const failed = await until('bad test', () => status(nowhere));
    expect(failed).toMatchObject({ Status: 'failed' });
    expect(failed.LastFailureMessage).toMatch(/ECONNREFUSED|connect/);
    expect(failed.LastFailureMessage).not.toContain('not-checked-locally');

    const lsn = BigInt(`0x${snapshotLsn.split('/')[1] ?? '0'}`);
    const hi = snapshotLsn.split('/')[0] ?? '0';
    const shifted = (d: bigint): string => `${hi}/${(lsn + d).toString(16).toUpperCase()}`;
    const gap = await startAndSettle(await createTask('rekey-t1-gap', shifted(16n)));
    expect(gap.Status).toBe('failed');
    expect(gap.LastFailureMessage).toMatch(/gap/);
    const overlap = await startAndSettle(await createTask('rekey-t1-overlap', shifted(-16n)));
    expect(overlap.Status).toBe('failed');
    expect(overlap.LastFailureMessage).toMatch(/overlap/);
    const noSlot = await startAndSettle(await createTask('rekey-t1-noslot', snapshotLsn, noSlotArn));
    expect(noSlot.Status).toBe('failed');
    expect(noSlot.LastFailureMessage).toMatch(/rekey_missing.*does not exist/);
    for (const arn of [gap.ReplicationTaskArn, overlap.ReplicationTaskArn, noSlot.ReplicationTaskArn]) {
      await world.cloud.dms.send(new DeleteReplicationTaskCommand({ ReplicationTaskArn: arn }));
    }
    // None of them consumed the snapshot's stream.
    expect(await query(sourceDb(), 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [world.inspect().snapshots[SNAP]?.internalSlot])).toHaveLength(1);
  }, 60_000);

  test('a task from the snapshot LSN replicates exactly once under concurrent writes, with metrics, across a reopen', async () => {
    const arn = await createTask('rekey-t1-cdc', snapshotLsn);
    const started = await startAndSettle(arn);
    expect(started.LastFailureMessage).toBeUndefined();
    expect(started.Status).toBe('running');
    await query(sourceDb(), "UPDATE public.customers SET name = 'renamed by cdc' WHERE id = 1");
    await sleep(1500);
    const written = await writer!.stop();
    writer = undefined;
    const [src] = await query<{ count: string }>(sourceDb(), 'SELECT count(*) AS count FROM public.ticks');
    expect(Number(src?.count)).toBe(written);
    await until('target caught up', async () => {
      const [t] = await query<{ count: string }>(targetDb(), 'SELECT count(*) AS count FROM public.ticks');
      return t?.count === src?.count ? true : undefined;
    });
    const [t] = await query<{ count: string; distinct: string; max: string }>(targetDb(), 'SELECT count(*) AS count, count(DISTINCT n) AS distinct, max(n) AS max FROM public.ticks');
    expect(t).toEqual({ count: String(written), distinct: String(written), max: String(written) });
    await until('update replicated', async () => ((await query(targetDb(), "SELECT 1 FROM public.customers WHERE id = 1 AND name = 'renamed by cdc'")).length === 1 ? true : undefined));

    // CloudWatch: the task's metrics, found by instance identifier and task resource id.
    const resourceId = arn.split(':').pop() ?? '';
    const cw = world.cloud.cloudwatch as CloudWatchClient;
    const metrics = await until('metrics listed', async () => {
      const out = await cw.send(new ListMetricsCommand({ Namespace: 'AWS/DMS', MetricName: 'CDCLatencySource', Dimensions: [{ Name: 'ReplicationInstanceIdentifier', Value: 'rekey-dms' }] }));
      return (out.Metrics ?? []).length > 0 ? out.Metrics : undefined;
    });
    expect(metrics?.[0]?.Dimensions).toEqual(expect.arrayContaining([{ Name: 'ReplicationTaskIdentifier', Value: resourceId }]));
    const dims = [{ Name: 'ReplicationInstanceIdentifier', Value: 'rekey-dms' }, { Name: 'ReplicationTaskIdentifier', Value: resourceId }];
    const readLatency = async (): Promise<{ source: number[]; target: number[] }> => {
      const data = await cw.send(new GetMetricDataCommand({
        StartTime: new Date(Date.now() - 120_000), EndTime: new Date(Date.now() + 1000),
        MetricDataQueries: ['CDCLatencySource', 'CDCLatencyTarget'].map((m, i) => ({ Id: `m${i}`, MetricStat: { Metric: { Namespace: 'AWS/DMS', MetricName: m, Dimensions: dims }, Period: 1, Stat: 'Maximum' } })),
      }));
      return { source: data.MetricDataResults?.[0]?.Values ?? [], target: data.MetricDataResults?.[1]?.Values ?? [] };
    };
    const latency = await readLatency();
    expect(latency.source.length).toBeGreaterThan(0);
    expect(latency.target.length).toBe(latency.source.length);
    await until('latency back to 0 when caught up', async () => ((await readLatency()).source[0] === 0 ? true : undefined));

    // The runner's slot is advanced as the subscription confirms, so it does not pin WAL.
    await until('runner slot advanced', async () => {
      const [slot] = await query<{ lsn: string }>(sourceDb(), 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [SLOT]);
      return slot && slot.lsn !== snapshotLsn ? true : undefined;
    });
    const stats = await world.cloud.dms.send(new DescribeTableStatisticsCommand({ ReplicationTaskArn: arn }));
    const ticks = stats.TableStatistics?.find((s) => s.TableName === 'ticks');
    expect(ticks?.TableState).toBe('Table completed');
    expect(world.inspect().tasks['rekey-t1-cdc']?.cdc?.tables).toEqual(expect.arrayContaining(['public.ticks', 'public.rekey_sentinel', 'public.audit_log']));

    // Reopen as after a crash: same endpoint port, the task still runs, the sampler resumes.
    const port = world.sourceEndpoint().port;
    await world.close();
    world = await openRehearsal({ stateDir: dir, runbook, fresh: false });
    expect(world.sourceEndpoint().port).toBe(port);
    expect((await task(arn)).Status).toBe('running');
    const reopenedAt = Date.now();
    await query({ ...world.sourceEndpoint(), user: 'app', database: 'orders' }, 'INSERT INTO public.ticks (n) VALUES (-1)');
    await until('row after reopen', async () => ((await query(targetDb(), 'SELECT 1 FROM public.ticks WHERE n = -1')).length === 1 ? true : undefined));
    await until('datapoints after reopen', async () => {
      const data = await (world.cloud.cloudwatch as CloudWatchClient).send(new GetMetricDataCommand({
        StartTime: new Date(reopenedAt), EndTime: new Date(Date.now() + 1000),
        MetricDataQueries: [{ Id: 'a', MetricStat: { Metric: { Namespace: 'AWS/DMS', MetricName: 'CDCLatencySource', Dimensions: dims }, Period: 1, Stat: 'Average' } }],
      }));
      return (data.MetricDataResults?.[0]?.Values ?? []).length > 0 ? true : undefined;
    });

    await world.cloud.dms.send(new StopReplicationTaskCommand({ ReplicationTaskArn: arn }));
    const stopped = await until('stopped', async () => {
      const x = await task(arn);
      return x.Status === 'stopped' ? x : undefined;
    });
    expect(stopped.StopReason).toBe('Stop Reason NORMAL');
    await world.cloud.dms.send(new DeleteReplicationTaskCommand({ ReplicationTaskArn: arn }));
    expect(await query(sourceDb(), 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [world.inspect().snapshots[SNAP]?.internalSlot])).toHaveLength(0);
    expect(await query(targetDb(), 'SELECT 1 FROM pg_subscription')).toHaveLength(0);
    const gone = await fault(world.cloud.dms.send(new DescribeReplicationTasksCommand({ Filters: [{ Name: 'replication-task-arn', Values: [arn] }] })));
    expect(gone.name).toBe('ResourceNotFoundFault');
  }, 90_000);

  test('a rename frees the old name, re-points the endpoint and drops open connections', async () => {
    const srcPort = world.sourceEndpoint().port;
    const open = new pg.Client({ host: '127.0.0.1', port: srcPort, user: 'app', database: 'orders' });
    open.on('error', () => undefined);
    await open.connect();
    const busy = await fault(world.cloud.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: TGT, NewDBClusterIdentifier: SRC, ApplyImmediately: true })));
    expect(busy.name).toBe('DBClusterAlreadyExistsFault');

    await world.cloud.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: SRC, NewDBClusterIdentifier: `${SRC}-old-t1`, ApplyImmediately: true }));
    expect((await fault(world.cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: SRC })))).name).toBe('DBClusterNotFoundFault');
    expect((await cluster(`${SRC}-old-t1`)).Status).toBe('renaming');
    await expect(open.query('SELECT 1')).rejects.toThrow();
    await world.cloud.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: TGT, NewDBClusterIdentifier: SRC, ApplyImmediately: true }));
    await until('renamed', async () => ((await cluster(SRC)).Status === 'available' && (await cluster(`${SRC}-old-t1`)).Status === 'available' ? true : undefined));
    const renamed = await cluster(SRC);
    expect(renamed.Port).toBe(srcPort);
    expect(renamed.KmsKeyId).toBe((await world.cloud.kms.send(new DescribeKeyCommand({ KeyId: NEW_KEY }))).KeyMetadata?.Arn);
    // The application's endpoint now reaches the restored database on the target server.
    const [row] = await query<{ port: number }>({ host: '127.0.0.1', port: srcPort, user: 'app', database: 'orders' }, 'SELECT inet_server_port() AS port');
    expect(row?.port).toBe(world.servers.target.port);
    expect((await fault(world.cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: TGT })))).name).toBe('DBClusterNotFoundFault');
  }, 30_000);

  test('an unknown command fails loudly, naming it', async () => {
    await expect(world.cloud.rds.send(new DescribeEngineDefaultParametersCommand({ DBParameterGroupFamily: 'postgres15' }))).rejects.toThrow(/does not implement rds:DescribeEngineDefaultParameters/);
  });

  test('an Aurora world has no DB snapshots: DescribeDBSnapshots answers an empty list, as AWS does (rekey inventory reads it)', async () => {
    expect((await world.cloud.rds.send(new DescribeDBSnapshotsCommand({}))).DBSnapshots).toEqual([]);
  });
});
