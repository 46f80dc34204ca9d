// Injected faults of the Aurora MySQL rehearsal cloud: the sentinel row never reaches the target while other
// rows do (drain times out), and the DMS task fails after a while with replication stopped. Also: the fence
// (the MySQL adapter) never offers the rehearsal's own accounts.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CreateEndpointCommand, DescribeReplicationInstancesCommand } from '@aws-sdk/client-database-migration-service';
import { CreateDBClusterSnapshotCommand, CreateDBInstanceCommand, DescribeDBClustersCommand, RestoreDBClusterFromSnapshotCommand } from '@aws-sdk/client-rds';
import { createMysqlAdapter } from '../../src/db/mysql.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import { seedMysqlDemo } from '../../src/rehearsal/workload/seed-mysql.js';
import { openRehearsal } from '../../src/rehearsal/world.js';
import type { RehearsalWorld } from '../../src/rehearsal/world.js';
import { createCdcTask, describeTask, mysqlQuery, selectTables, sleep, startTask, until } from '../helpers/cloud-suite.js';
import { testDir } from '../helpers/servers.js';

const FAIL_AFTER = 4;
const runbook = runbookSchema.parse({
  version: 1, name: 'mysql faults', region: 'eu-west-1',
  source: { engine: 'aurora-mysql', identifier: 'shop', database: 'shop', username: 'rekey_admin', password: { env: 'UNUSED' } },
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

const sql = (port: number, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> =>
  mysqlQuery({ host: '127.0.0.1', port, user: 'root', database: 'shop' }, text, params);

beforeAll(async () => {
  world = await openRehearsal({ stateDir: testDir('rehearsal-mysql-faults'), runbook, fresh: true });
  await seedMysqlDemo(world.servers.source.adminUrl, { database: 'shop', rows: 500 });
  await sql(world.servers.source.port, 'CREATE TABLE rekey_sentinel (token VARCHAR(100) NOT NULL PRIMARY KEY)');
}, 60_000);

afterAll(async () => {
  await world?.close({ stopServers: true });
}, 60_000);

test('the fence offers the application accounts, never rdsadmin, rdsrepladmin or root', async () => {
  const db = await createMysqlAdapter({ host: '127.0.0.1', port: world.sourceEndpoint().port, database: 'shop', user: 'rekey_admin' });
  try {
    const principals = await db.writerPrincipals([]);
    expect(principals.some((p) => p.startsWith('app@'))).toBe(true);
    expect(principals.filter((p) => /^(rds|root)/.test(p))).toEqual([]);
  } finally {
    await db.close();
  }
});

test('the sentinel row is held back while other rows arrive, then the task fails after the configured time with replication stopped', async () => {
  const { cloud } = world;
  await cloud.rds.send(new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: 'shop', DBClusterSnapshotIdentifier: 'shop-snap' }));
  const position = world.inspect().snapshots['shop-snap']?.lsn ?? '';
  await cloud.rds.send(new RestoreDBClusterFromSnapshotCommand({ DBClusterIdentifier: 'shop-new', SnapshotIdentifier: 'shop-snap', Engine: 'aurora-mysql', KmsKeyId: 'alias/shop-new' }));
  await cloud.rds.send(new CreateDBInstanceCommand({ DBInstanceIdentifier: 'shop-new-1', DBClusterIdentifier: 'shop-new', DBInstanceClass: 'db.r6g.large', Engine: 'aurora-mysql' }));
  const instanceArn = (await cloud.dms.send(new DescribeReplicationInstancesCommand({}))).ReplicationInstances?.[0]?.ReplicationInstanceArn ?? '';
  const endpoint = async (type: 'source' | 'target', cluster: string): Promise<string> => {
    const port = (await cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: cluster }))).DBClusters?.[0]?.Port;
    const out = await cloud.dms.send(new CreateEndpointCommand({ EndpointIdentifier: `shop-${type}`, EndpointType: type, EngineName: 'aurora', ServerName: '127.0.0.1', Port: port, Username: 'rekey_admin' }));
    return out.Endpoint?.EndpointArn ?? '';
  };
  const arn = await createCdcTask(cloud.dms, {
    id: 'shop-task', sourceArn: await endpoint('source', 'shop'), targetArn: await endpoint('target', 'shop-new'),
    instanceArn, position, tableMappings: selectTables({ schema: 'shop' }),
  }, POLL);
  const status = (): Promise<{ Status?: string; LastFailureMessage?: string }> => describeTask(cloud.dms, arn);
  await startTask(cloud.dms, arn, { position, settledOn: ['running'], ...POLL });
  const src = world.servers.source.port;
  const tgt = world.servers.target.port;
  await sql(src, "INSERT INTO rekey_sentinel (token) VALUES ('drain-1')");
  await sql(src, "INSERT INTO rehearsal_writes (token, n) VALUES ('after-sentinel', 1)");
  await until('the later row arrives', async () => ((await sql(tgt, "SELECT 1 FROM rehearsal_writes WHERE token = 'after-sentinel'")).length === 1 ? true : undefined), POLL);
  expect(await sql(tgt, 'SELECT token FROM rekey_sentinel')).toEqual([]);
  await until('task failed', async () => ((await status()).Status === 'failed' ? true : undefined), { timeoutMs: (FAIL_AFTER + 6) * 1000 });
  expect((await status()).LastFailureMessage).toMatch(/dmsTaskFailsAfterSeconds/);
  const [replica] = await sql(tgt, 'SHOW SLAVE STATUS');
  expect(replica).toMatchObject({ Slave_IO_Running: 'No', Slave_SQL_Running: 'No' });
  await sql(src, "INSERT INTO rehearsal_writes (token, n) VALUES ('after-failure', 2)");
  await sleep(800);
  expect(await sql(tgt, "SELECT 1 FROM rehearsal_writes WHERE token = 'after-failure'")).toEqual([]);
}, 60_000);
