// The rehearsal cloud as RDS for MySQL: CreateDBInstanceReadReplica starts a real third MariaDB server replicating
// from the source, `CALL mysql.rds_stop_replication` stops it, the snapshot of the stopped replica records the
// source coordinates it executed (not the replica's own binlog), and DeleteDBInstance stops the replica's server.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CreateDBInstanceReadReplicaCommand, CreateDBSnapshotCommand, DeleteDBInstanceCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import type { DBInstance } from '@aws-sdk/client-rds';
import { runbookSchema } from '../../src/runbook/schema.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { seedMysqlDemo } from '../../src/rehearsal/workload/seed-mysql.js';
import { openRehearsal } from '../../src/rehearsal/world.js';
import type { RehearsalWorld } from '../../src/rehearsal/world.js';
import { mysqlQuery, until } from '../helpers/cloud-suite.js';
import { testDir } from '../helpers/servers.js';

const SRC = 'shop-db';
const RR = 'shop-db-rekey-t1-rr';
const SNAP = 'shop-db-rekey-t1-snap';

const runbook: Runbook = runbookSchema.parse({
  version: 1, name: 'rehearsal cloud rds mysql test', region: 'us-east-1', account: '123456789012',
  source: { engine: 'mysql', identifier: SRC, database: 'orders', username: 'rekey_admin', password: { env: 'UNUSED_PASSWORD' } },
  target: { kmsKeyId: 'alias/shop-new' },
  dms: { replicationInstance: { identifier: 'rekey-dms', create: true }, sslMode: 'verify-full' },
  rehearsal: { source: { seedRows: 2000 }, delays: { snapshotSeconds: 1, restoreSeconds: 1, renameSeconds: 1, availableSeconds: 0 }, keys: [{ id: 'alias/shop-new' }] },
});

let world: RehearsalWorld;
// A read replica is a whole new server: this suite waits up to 30 s.
const POLL = { timeoutMs: 30_000 };

const q = <R>(port: number, sql: string, params: unknown[] = []): Promise<R[]> => mysqlQuery<R>({ host: '127.0.0.1', port, user: 'rdsadmin', database: 'orders' }, sql, params);

async function instance(id: string): Promise<DBInstance> {
  const out = await world.cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
  const i = out.DBInstances?.[0];
  if (!i) throw new Error(`no instance ${id}`);
  return i;
}

beforeAll(async () => {
  world = await openRehearsal({ stateDir: testDir('rehearsal-cloud-rds-mysql'), runbook, fresh: true });
  await seedMysqlDemo(world.servers.source.adminUrl, { database: 'orders', rows: 2000 });
  await q(world.servers.source.port, 'CREATE TABLE orders.ticks (n BIGINT PRIMARY KEY)');
}, 180_000);

afterAll(async () => {
  await world?.close({ stopServers: true });
}, 60_000);

describe('rehearsal cloud (RDS for MySQL instance)', () => {
  let replicaPort = 0;
  test('the source is a DB instance; a read replica is a real server replicating from it', async () => {
    expect(await instance(SRC)).toMatchObject({ Engine: 'mysql', DBInstanceStatus: 'available', MultiAZ: true, StorageEncrypted: true });
    await q(world.servers.source.port, 'INSERT INTO orders.ticks VALUES (1), (2)');
    await world.cloud.rds.send(new CreateDBInstanceReadReplicaCommand({ DBInstanceIdentifier: RR, SourceDBInstanceIdentifier: SRC }));
    const rr = await until('replica available', async () => {
      const i = await instance(RR);
      return i.DBInstanceStatus === 'available' ? i : undefined;
    }, POLL);
    expect(rr.ReadReplicaSourceDBInstanceIdentifier).toBe(SRC);
    expect((await instance(SRC)).ReadReplicaDBInstanceIdentifiers).toEqual([RR]);
    replicaPort = rr.Endpoint?.Port ?? 0;
    expect(world.inspect().clusters[RR]?.backend.port).not.toBe(world.servers.source.port);
    expect(world.inspect().clusters[RR]?.backend.port).not.toBe(world.servers.target.port);
    await q(world.servers.source.port, 'INSERT INTO orders.ticks VALUES (3)');
    await until('row 3 replicated', async () => ((await q<{ c: number }>(replicaPort, 'SELECT COUNT(*) AS c FROM orders.ticks'))[0]?.c === 3 ? true : undefined), POLL);
  }, 120_000);

  test('a running replica is not snapshotted; after rds_stop_replication the snapshot records the executed source position', async () => {
    await expect(world.cloud.rds.send(new CreateDBSnapshotCommand({ DBSnapshotIdentifier: SNAP, DBInstanceIdentifier: RR }))).rejects.toThrow(/rds_stop_replication/);
    await q(replicaPort, 'CALL mysql.rds_stop_replication');
    const [status] = await q<{ Relay_Master_Log_File: string; Exec_Master_Log_Pos: number; Slave_SQL_Running: string }>(replicaPort, 'SHOW SLAVE STATUS');
    expect(status?.Slave_SQL_Running).toBe('No');
    await q(world.servers.source.port, 'INSERT INTO orders.ticks VALUES (4)'); // after the stop: not in the snapshot
    await world.cloud.rds.send(new CreateDBSnapshotCommand({ DBSnapshotIdentifier: SNAP, DBInstanceIdentifier: RR }));
    const snap = world.inspect().snapshots[SNAP];
    expect(snap?.binlog).toEqual({ file: status?.Relay_Master_Log_File, pos: Number(status?.Exec_Master_Log_Pos) });
    expect(snap?.sourceBackend).toMatchObject({ server: 'source', port: world.servers.source.port });
    expect((await q<{ c: number }>(replicaPort, 'SELECT COUNT(*) AS c FROM orders.ticks'))[0]?.c).toBe(3);
  }, 60_000);

  test('DeleteDBInstance of the replica stops its server and frees the name', async () => {
    const backendPort = world.inspect().clusters[RR]?.backend.port ?? 0;
    await world.cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: RR, SkipFinalSnapshot: true }));
    await expect(instance(RR)).rejects.toThrow(/not found/);
    await expect(q(backendPort, 'SELECT 1')).rejects.toThrow();
    expect((await instance(SRC)).ReadReplicaDBInstanceIdentifiers).toEqual([]);
  }, 60_000);
});
