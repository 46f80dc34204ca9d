// Injected faults of the rehearsal cloud: the sentinel row never reaches the target (drain times out),
// and the DMS task fails after a while with the subscription disabled.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CreateEndpointCommand, CreateReplicationInstanceCommand } from '@aws-sdk/client-database-migration-service';
import { CreateDBClusterSnapshotCommand, CreateDBInstanceCommand, DescribeDBClustersCommand, RestoreDBClusterFromSnapshotCommand } from '@aws-sdk/client-rds';
import pg from 'pg';
import { runbookSchema } from '../../src/runbook/schema.js';
import { openRehearsal } from '../../src/rehearsal/world.js';
import type { RehearsalWorld } from '../../src/rehearsal/world.js';
import { createCdcTask, describeTask, pgQuery, selectTables, sleep, startTask, until } from '../helpers/cloud-suite.js';
import { testDir } from '../helpers/servers.js';

const FAIL_AFTER = 4;
const runbook = runbookSchema.parse({
  version: 1, name: 'faults', region: 'eu-west-1',
  source: { engine: 'aurora-postgresql', identifier: 'shop', database: 'shop', username: 'rdsadmin', password: { env: 'UNUSED' } },
  target: { kmsKeyId: 'alias/shop-new' },
  dms: { replicationInstance: { identifier: 'dms1', create: false } },
  cutover: { sentinelTable: 'rekey_sentinel' },
  rehearsal: {
    delays: { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 },
    failures: { drainNeverArrives: true, dmsTaskFailsAfterSeconds: FAIL_AFTER },
  },
});

let world: RehearsalWorld;
const POLL = { timeoutMs: 15_000 };

const sql = <R extends pg.QueryResultRow>(port: number, text: string, params: unknown[] = []): Promise<R[]> =>
  pgQuery<R>({ host: '127.0.0.1', port, user: 'rdsadmin', database: 'shop' }, text, params);

beforeAll(async () => {
  world = await openRehearsal({ stateDir: testDir('rehearsal-faults'), runbook, fresh: true });
  const admin = new pg.Client({ connectionString: world.servers.source.adminUrl });
  await admin.connect();
  await admin.query('CREATE DATABASE shop');
  await admin.end();
  const src = world.servers.source.port;
  await sql(src, 'CREATE TABLE items (id serial PRIMARY KEY, v text)');
  await sql(src, 'CREATE TABLE rekey_sentinel (token text PRIMARY KEY, at timestamptz DEFAULT now())');
  await sql(src, "SELECT pg_create_logical_replication_slot('rekey_f1', 'test_decoding')");
}, 60_000);

afterAll(async () => {
  await world?.close({ stopServers: true });
}, 60_000);

test('the sentinel row is held back, then the task fails after the configured time with replication stopped', async () => {
  const { rds, dms } = world.cloud;
  await rds.send(new CreateDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'shop-snap', DBClusterIdentifier: 'shop' }));
  await sleep(50);
  await rds.send(new RestoreDBClusterFromSnapshotCommand({ DBClusterIdentifier: 'shop-new', SnapshotIdentifier: 'shop-snap', Engine: 'aurora-postgresql', KmsKeyId: 'alias/shop-new' }));
  await rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'shop-new-w1', DBClusterIdentifier: 'shop-new', Engine: 'aurora-postgresql', DBInstanceClass: 'db.r6g.large' }));
  const clusters = (await rds.send(new DescribeDBClustersCommand({}))).DBClusters ?? [];
  const port = (id: string): number | undefined => clusters.find((c) => c.DBClusterIdentifier === id)?.Port;
  // The runbook's instance already exists (create: false); creating it again is the AWS fault.
  const dup = await dms.send(new CreateReplicationInstanceCommand({ ReplicationInstanceIdentifier: 'dms1', ReplicationInstanceClass: 'dms.t3.small' })).catch((e: Error) => e);
  expect((dup as Error).name).toBe('ResourceAlreadyExistsFault');
  const instanceArn = world.inspect().replicationInstances.dms1?.arn;
  const endpoint = async (type: 'source' | 'target', p: number | undefined): Promise<string | undefined> =>
    (await dms.send(new CreateEndpointCommand({
      EndpointIdentifier: `shop-${type}`, EndpointType: type, EngineName: 'aurora-postgresql', ServerName: '127.0.0.1', Port: p, DatabaseName: 'shop', Username: 'rdsadmin',
      ...(type === 'source' ? { PostgreSQLSettings: { SlotName: 'rekey_f1', PluginName: 'test-decoding' } } : {}),
    }))).Endpoint?.EndpointArn;
  const arn = await createCdcTask(dms, {
    id: 'shop-cdc', sourceArn: await endpoint('source', port('shop')), targetArn: await endpoint('target', port('shop-new')),
    instanceArn, position: world.inspect().snapshots['shop-snap']?.lsn, tableMappings: selectTables({ schema: 'public', table: 'items' }),
  }, POLL);
  const status = (): Promise<{ Status?: string; LastFailureMessage?: string }> => describeTask(dms, arn);
  await startTask(dms, arn, { settledOn: ['running'], ...POLL });
  const startedAt = Date.now();

  const src = world.servers.source.port;
  const tgt = world.servers.target.port;
  await sql(src, "INSERT INTO rekey_sentinel (token) VALUES ('drain-1')");
  await sql(src, "INSERT INTO items (v) VALUES ('after sentinel')");
  // Everything else flows (the sentinel table rides along although the mappings name only items) ...
  await until('item replicated', async () => ((await sql(tgt, "SELECT 1 FROM items WHERE v = 'after sentinel'")).length === 1 ? true : undefined), POLL);
  // ... but the sentinel row never lands.
  expect(await sql(tgt, "SELECT 1 FROM rekey_sentinel WHERE token = 'drain-1'")).toHaveLength(0);

  await until('failed', async () => ((await status()).Status === 'failed' ? true : undefined), { timeoutMs: (FAIL_AFTER + 5) * 1000 });
  expect(Date.now() - startedAt).toBeGreaterThanOrEqual((FAIL_AFTER - 1) * 1000);
  expect((await status()).LastFailureMessage).toMatch(/dmsTaskFailsAfterSeconds/);
  const [sub] = await sql<{ subenabled: boolean }>(tgt, 'SELECT subenabled FROM pg_subscription');
  expect(sub?.subenabled).toBe(false);
  await sql(src, "INSERT INTO items (v) VALUES ('after failure')");
  await sleep(1000);
  expect(await sql(tgt, "SELECT 1 FROM items WHERE v = 'after failure'")).toHaveLength(0);
}, 60_000);
