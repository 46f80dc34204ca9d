// The rehearsal cloud as an RDS for PostgreSQL version without rds_tools.logical_seed_lsn(), and a DMS task
// started at the slot's confirmed_flush_lsn, before the snapshot (the opt-in fallback). Without the upsert
// error policies the task refuses the overlap; with them it replays it from the slot exactly as DMS's rules
// say: duplicate inserts update, updates of missing rows insert, deletes of missing rows are ignored, a table
// without a primary key gets its inserts again. Tables with a key end identical to the source.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CreateEndpointCommand, CreateReplicationInstanceCommand, DescribeReplicationInstancesCommand } from '@aws-sdk/client-database-migration-service';
import type { ReplicationTask } from '@aws-sdk/client-database-migration-service';
import { CopyDBSnapshotCommand, CreateDBSnapshotCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, RestoreDBInstanceFromDBSnapshotCommand } from '@aws-sdk/client-rds';
import pg from 'pg';
import { taskSettings } from '../../src/steps/dms-setup.js';
import { instanceRestoreRequest } from '../../src/steps/instance.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import { openRehearsal } from '../../src/rehearsal/world.js';
import type { RehearsalWorld } from '../../src/rehearsal/world.js';
import { createCdcTask, pgQuery, selectTables, startTask as startCdcTask, until } from '../helpers/cloud-suite.js';
import { testDir } from '../helpers/servers.js';

const SRC = 'ledger-db';
const TGT = 'ledger-db-rekey-o1';
const SLOT = 'rekey_o1';

const runbook = runbookSchema.parse({
  version: 1, name: 'overlap test', region: 'us-east-1', account: '123456789012',
  source: { engine: 'postgres', identifier: SRC, database: 'ledger', username: 'rekey_admin', password: { env: 'UNUSED_PASSWORD' } },
  target: { kmsKeyId: 'alias/ledger-new' },
  dms: { replicationInstance: { identifier: 'rekey-dms', create: true }, allowSlotPositionFallback: true },
  rehearsal: {
    source: { seedRows: 0 },
    delays: { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 },
    keys: [{ id: 'alias/ledger-new' }],
    failures: { seedFunctionMissing: true },
  },
});

let world: RehearsalWorld;
// The runbook has no delays, so every wait here is short: poll at 50 ms.
const POLL = { intervalMs: 50 };

const sql = <R extends pg.QueryResultRow>(port: number, text: string, params: unknown[] = []): Promise<R[]> =>
  pgQuery<R>({ host: '127.0.0.1', port, user: 'rdsadmin', database: 'ledger' }, text, params);
const source = <R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> => sql<R>(world.servers.source.port, text, params);
const target = <R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> => sql<R>(world.servers.target.port, text, params);

/** Every row of a table, in key order, as text (what validation compares). */
const rowsOf = (query: typeof source, table: string): Promise<{ r: string }[]> => query<{ r: string }>(`SELECT t::text AS r FROM ${table} t ORDER BY 1`);

let confirmedFlush = '';
let snapshotLsn = '';

beforeAll(async () => {
  world = await openRehearsal({ stateDir: testDir('rehearsal-cloud-overlap'), runbook, fresh: true });
  const admin = new pg.Client({ connectionString: world.servers.source.adminUrl });
  await admin.connect();
  await admin.query('CREATE DATABASE ledger');
  await admin.end();
  await source(`CREATE TABLE public.entries (
    id int PRIMARY KEY, label text NOT NULL, tags text[], payload bytea, amount numeric(12,2), settled boolean, note text, "Odd ""Name""" text)`);
  await source('CREATE TABLE public.ticks (n int NOT NULL)');
  await source('CREATE TABLE public.accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE)');
  await source("INSERT INTO public.accounts VALUES (6, 'y')");
  await source("INSERT INTO public.entries (id, label, amount) VALUES (100, 'kept', 1), (101, 'deleted in the overlap', 2), (102, 'updated then deleted', 3), (103, 'key changed', 4)");
  // The slot the runner creates before the snapshot; its confirmed_flush_lsn is where the fallback starts.
  await source("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [SLOT]);
  [{ lsn: confirmedFlush }] = (await source<{ lsn: string }>('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [SLOT])) as [{ lsn: string }];
  // The overlap: committed after the slot, before the snapshot, so already in the restored copy.
  await source(`INSERT INTO public.entries (id, label, tags, payload, amount, settled, note, "Odd ""Name""") VALUES
    (1, 'O''Brien: a "quoted", spaced label', '{a,"b c"}', '\\x00ff10', 12.50, true, NULL, 'x y'),
    (2, 'to be updated', NULL, NULL, NULL, false, 'n', NULL)`);
  await source("UPDATE public.entries SET label = 'updated in the overlap', note = NULL WHERE id = 2");
  await source('DELETE FROM public.entries WHERE id = 101');
  await source("UPDATE public.entries SET label = 'updated, then deleted' WHERE id = 102");
  await source('DELETE FROM public.entries WHERE id = 102');
  await source('UPDATE public.entries SET id = 104 WHERE id = 103');
  await source("INSERT INTO public.entries (id, label) VALUES (3, 'inserted and deleted')");
  await source('DELETE FROM public.entries WHERE id = 3');
  await source('INSERT INTO public.ticks (n) VALUES (1)');
  // Replayed over the snapshot (5:x, 6:z), the first update collides with row 5 on the other unique index.
  await source("UPDATE public.accounts SET email = 'x' WHERE id = 6");
  await source("UPDATE public.accounts SET email = 'z' WHERE id = 6");
  await source("INSERT INTO public.accounts VALUES (5, 'x')");
  const rds = world.cloud.rds;
  await rds.send(new CreateDBSnapshotCommand({ DBSnapshotIdentifier: `${TGT}-snap`, DBInstanceIdentifier: SRC }));
  const ready = async (id: string): Promise<true | undefined> => ((await rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }))).DBSnapshots?.[0]?.Status === 'available' ? true : undefined);
  await until('snapshot', () => ready(`${TGT}-snap`), POLL);
  await rds.send(new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: `${TGT}-snap`, TargetDBSnapshotIdentifier: `${TGT}-copy`, KmsKeyId: 'alias/ledger-new' }));
  await until('copy', () => ready(`${TGT}-copy`), POLL);
  const src = (await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: SRC }))).DBInstances?.[0] ?? {};
  await rds.send(new RestoreDBInstanceFromDBSnapshotCommand(instanceRestoreRequest(src, TGT, `${TGT}-copy`, [])));
  await until('restore', async () => ((await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: TGT }))).DBInstances?.[0]?.DBInstanceStatus === 'available' ? true : undefined), POLL);
  snapshotLsn = world.inspect().snapshots[`${TGT}-copy`]?.lsn ?? '';
}, 120_000);

afterAll(async () => {
  await world?.close({ stopServers: true });
}, 60_000);

describe('rehearsal cloud: an RDS for PostgreSQL restore without the seed function, and the replayed overlap', () => {
  test('the restored instance has no rds_tools.logical_seed_lsn(), and the overlap is real', async () => {
    expect(await target<{ f: string | null }>("SELECT to_regprocedure('rds_tools.logical_seed_lsn()')::text AS f")).toEqual([{ f: null }]);
    const [{ d }] = (await source<{ d: string }>('SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS d', [snapshotLsn, confirmedFlush])) as [{ d: string }];
    expect(Number(d)).toBeGreaterThan(0);
    // The restored copy already has every overlap change.
    expect(await rowsOf(target, 'public.entries')).toEqual(await rowsOf(source, 'public.entries'));
  });

  let instanceArn = '';
  let sourceArn = '';
  let targetArn = '';
  async function startTask(id: string, position: string, settings: string): Promise<ReplicationTask> {
    const arn = await createCdcTask(world.cloud.dms, { id, sourceArn, targetArn, instanceArn, position, tableMappings: selectTables({ schema: 'public' }), settings }, POLL);
    return startCdcTask(world.cloud.dms, arn, POLL);
  }

  test('without the upsert error policies DMS refuses the overlap, naming them; a start older than the slot is refused', async () => {
    const ri = await world.cloud.dms.send(new CreateReplicationInstanceCommand({ ReplicationInstanceIdentifier: 'rekey-dms', ReplicationInstanceClass: 'dms.r6i.large' }));
    instanceArn = ri.ReplicationInstance?.ReplicationInstanceArn ?? '';
    await until('instance', async () => {
      const out = await world.cloud.dms.send(new DescribeReplicationInstancesCommand({ Filters: [{ Name: 'replication-instance-id', Values: ['rekey-dms'] }] }));
      return out.ReplicationInstances?.[0]?.ReplicationInstanceStatus === 'available' ? true : undefined;
    }, POLL);
    const port = async (id: string): Promise<number> => (await world.cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances?.[0]?.Endpoint?.Port ?? 0;
    const endpoint = async (id: string, type: 'source' | 'target', p: number, slot?: string): Promise<string> =>
      (await world.cloud.dms.send(new CreateEndpointCommand({
        EndpointIdentifier: id, EndpointType: type, EngineName: 'postgres', ServerName: '127.0.0.1', Port: p, DatabaseName: 'ledger', Username: 'rekey_admin',
        ...(slot !== undefined ? { PostgreSQLSettings: { SlotName: slot, PluginName: 'test-decoding' } } : {}),
      }))).Endpoint?.EndpointArn ?? '';
    sourceArn = await endpoint('o1-src', 'source', await port(SRC), SLOT);
    targetArn = await endpoint('o1-tgt', 'target', await port(TGT));
    const strict = await startTask('o1-strict', confirmedFlush, taskSettings(false));
    expect(strict.Status).toBe('failed');
    expect(strict.LastFailureMessage).toMatch(/before the snapshot's LSN .*overlap.*ApplyErrorInsertPolicy INSERT_RECORD.*ApplyErrorUpdatePolicy UPDATE_RECORD/);
    const [hi, lo] = confirmedFlush.split('/') as [string, string];
    const older = `${hi}/${(BigInt(`0x${lo}`) - 8n).toString(16).toUpperCase()}`;
    const tooOld = await startTask('o1-too-old', older, taskSettings(true));
    expect(tooOld.Status).toBe('failed');
    expect(tooOld.LastFailureMessage).toMatch(/older than replication slot 'rekey_o1's confirmed_flush_lsn/);
    // Neither touched the target.
    expect(await rowsOf(target, 'public.entries')).toEqual(await rowsOf(source, 'public.entries'));
  }, 60_000);

  test('with them it replays the overlap by DMS\'s rules, then streams on: keyed tables identical, the keyless one duplicated', async () => {
    const t = await startTask('o1-cdc', confirmedFlush, taskSettings(true));
    expect(t.LastFailureMessage).toBeUndefined();
    expect(t.Status).toBe('running');
    const replay = Object.values(world.inspect().tasks).find((x) => x.identifier === 'o1-cdc')?.overlap;
    expect(replay).toEqual({
      from: confirmedFlush, upTo: snapshotLsn, transactions: 12, changes: 13,
      // entries 1 and 2 and account 5 are in the copy already.
      insertsAsUpdates: 3,
      // 102 (updated, then deleted) and the 103 -> 104 key change find no row under their old key.
      updatesAsInserts: 2,
      // 101 was already gone from the copy.
      deletesMissing: 1,
      keylessInserts: 1,
      skipped: 0,
      // Account 6 -> 'x' while the copy's account 5 has 'x': refused on the email index, passed over as DMS does.
      applyErrors: 1,
    });
    expect(await rowsOf(target, 'public.accounts')).toEqual(await rowsOf(source, 'public.accounts'));
    // After the snapshot: changes stream on top of the replayed overlap.
    await source("UPDATE public.entries SET label = 'after the snapshot' WHERE id = 1");
    await source('INSERT INTO public.ticks (n) VALUES (2)');
    const want = await rowsOf(source, 'public.entries');
    await until('entries caught up', async () => (JSON.stringify(await rowsOf(target, 'public.entries')) === JSON.stringify(want) ? true : undefined), POLL);
    expect(await rowsOf(target, 'public.entries')).toEqual(want);
    await until('ticks caught up', async () => ((await target('SELECT 1 FROM public.ticks WHERE n = 2')).length === 1 ? true : undefined), POLL);
    expect(await target<{ n: number; c: string }>('SELECT n, count(*)::text AS c FROM public.ticks GROUP BY n ORDER BY n')).toEqual([{ n: 1, c: '2' }, { n: 2, c: '1' }]);
  }, 60_000);
});
