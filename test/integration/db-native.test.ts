// The native strategy's SQL against real servers (the shared throwaway PostgreSQL and MariaDB pairs): a
// subscription created disabled on a slot made before the "snapshot", its origin advanced to the snapshot's LSN,
// applies exactly the changes after it; the RDS external-source procedures the rehearsal provides point a MariaDB
// at a binlog position and replicate from there.
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createMysqlAdapter } from '../../src/db/mysql.js';
import { subscriptionConninfo } from '../../src/db/native.js';
import { createPostgresAdapter } from '../../src/db/postgres.js';
import type { DbAdapter, DbEndpoint } from '../../src/db/types.js';
import { prepareMyServer } from '../../src/rehearsal/engines/my-ops.js';
import { freshDatabase, testUrls } from '../helpers/servers.js';

const sfx = Math.random().toString(36).slice(2, 8);

function endpointOf(url: string): DbEndpoint {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), database: u.pathname.slice(1), user: decodeURIComponent(u.username), tls: false };
}

async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('PostgreSQL native replication (publication + subscription at an LSN)', () => {
  let srcUrl: string;
  let tgtUrl: string;
  let src: pg.Client;
  let tgt: pg.Client;
  let source: DbAdapter;
  let target: DbAdapter;
  const slot = `rk_native_${sfx}`;
  const sub = `rk_native_${sfx}_sub`;
  const pub = `rk_native_${sfx}`;

  beforeAll(async () => {
    srcUrl = await freshDatabase('pgSource', 'native_src');
    tgtUrl = await freshDatabase('pgTarget', 'native_tgt');
    src = new pg.Client({ connectionString: srcUrl });
    tgt = new pg.Client({ connectionString: tgtUrl });
    await src.connect();
    await tgt.connect();
    for (const c of [src, tgt]) await c.query('CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE nopk (v text)');
    source = await createPostgresAdapter(endpointOf(srcUrl));
    target = await createPostgresAdapter(endpointOf(tgtUrl));
  });

  afterAll(async () => {
    await target.pgNative?.dropSubscription(sub).catch(() => undefined);
    await source.dropSlotIfExists(slot).catch(() => undefined);
    await Promise.all([source.close(), target.close(), src.end(), tgt.end()]);
  });

  it('starts exactly at the captured LSN: changes before it are not applied again, every one after it is', async () => {
    const native = source.pgNative!;
    await src.query("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    const tables = [{ schema: 'public', name: 't' }, { schema: 'public', name: 'nopk' }];
    expect([...(await native.withReplicaIdentity(tables))]).toEqual(['public.t']);
    expect(await native.ensurePublication(pub, [tables[0]!], 'insert, update, delete')).toBe(true);
    expect(await native.ensurePublication(`${pub}_ins`, [tables[1]!], 'insert')).toBe(true);
    expect(await native.ensurePublication(pub, [tables[0]!], 'insert, update, delete')).toBe(false);
    const made = await source.ensureLogicalSlot(slot, 'pgoutput');
    expect(made.plugin).toBe('pgoutput');
    // Committed after the slot, before the "snapshot": the copy below has it, so replaying it would duplicate it.
    await src.query("INSERT INTO t VALUES (4, 'd')");
    // The insert position: with synchronous_commit off the write position may still be before the commit record.
    const lsn = (await src.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l;
    await tgt.query("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')");
    // After the snapshot: these must arrive, once.
    await src.query("INSERT INTO t VALUES (5, 'e'), (6, 'f'); UPDATE t SET v = 'A' WHERE id = 1; DELETE FROM t WHERE id = 2; INSERT INTO nopk VALUES ('x')");
    // Updates of a table without a replica identity still work on the source: only its inserts are published.
    await src.query("UPDATE nopk SET v = 'y'");

    const tn = target.pgNative!;
    const u = new URL(srcUrl);
    const conninfo = subscriptionConninfo({ host: u.hostname, port: Number(u.port), database: u.pathname.slice(1), user: decodeURIComponent(u.username), tls: false, applicationName: sub });
    await tn.createSubscription({ name: sub, conninfo, publications: [pub, `${pub}_ins`], slot });
    const created = await tn.subscription(sub);
    expect(created).toMatchObject({ name: sub, enabled: false, slot, originLsn: null, workerRunning: false });
    await tn.advanceOrigin(sub, lsn);
    expect((await tn.subscription(sub))?.originLsn).toBe(lsn);
    await tn.setSubscriptionEnabled(sub, true);

    const rows = await eventually(
      async () => (await tgt.query<{ id: number; v: string }>('SELECT id, v FROM t ORDER BY id')).rows,
      (r) => r.length === 5 && r.some((x) => x.id === 6),
    );
    expect(rows).toEqual([{ id: 1, v: 'A' }, { id: 3, v: 'c' }, { id: 4, v: 'd' }, { id: 5, v: 'e' }, { id: 6, v: 'f' }]);
    expect((await tgt.query('SELECT v FROM nopk')).rows).toEqual([{ v: 'x' }]);
    const running = await eventually(() => tn.subscription(sub), (s) => s?.workerRunning === true);
    expect(running).toMatchObject({ enabled: true, workerRunning: true });
    const wal = await eventually(() => native.sourceWal(slot, sub), (w) => w.confirmedFlush !== null && w.replay !== null);
    expect(source.comparePositions(wal.confirmedFlush!, lsn)).toBeGreaterThanOrEqual(0);
    expect(source.comparePositions(wal.current, wal.confirmedFlush!)).toBeGreaterThanOrEqual(0);

    // Dropped detached: the source's slot stays for the source cleanup.
    expect(await tn.dropSubscription(sub)).toBe(true);
    expect(await tn.dropSubscription(sub)).toBe(false);
    expect(await source.slot(slot)).toBeDefined();
    expect(await source.dropSlotIfExists(slot)).toBe(true);
    await native.dropPublication(pub);
    await native.dropPublication(`${pub}_ins`);
    expect((await src.query('SELECT 1 FROM pg_publication WHERE pubname = ANY($1)', [[pub, `${pub}_ins`]])).rowCount).toBe(0);
  }, 60_000);
});

describe('MySQL/MariaDB native replication (RDS external-source procedures)', () => {
  const db = `rk_native_${sfx}`;
  let srcC: mysql.Connection;
  let tgtC: mysql.Connection;
  let source: DbAdapter;
  let target: DbAdapter;

  beforeAll(async () => {
    const urls = testUrls();
    srcC = await mysql.createConnection(urls.mySource);
    tgtC = await mysql.createConnection(urls.myTarget);
    for (const c of [srcC, tgtC]) {
      await c.query(`CREATE DATABASE \`${db}\``);
      await c.query(`CREATE TABLE \`${db}\`.t (id INT PRIMARY KEY, v VARCHAR(10))`);
    }
    const t = new URL(urls.myTarget);
    await prepareMyServer(t.hostname, Number(t.port), 'rdsadmin');
    // The shared source serves other suites at the same time: this replica applies only this file's database.
    await tgtC.query('STOP SLAVE').catch(() => undefined);
    await tgtC.query(`SET GLOBAL replicate_wild_do_table = '${db}.%'`);
    source = await createMysqlAdapter({ ...endpointOf(urls.mySource), database: db });
    target = await createMysqlAdapter({ ...endpointOf(urls.myTarget), database: db });
  });

  afterAll(async () => {
    await target.myNative?.resetExternalSource().catch(() => undefined);
    await tgtC.query("SET GLOBAL replicate_wild_do_table = ''").catch(() => undefined);
    for (const c of [srcC, tgtC]) await c.query(`DROP DATABASE IF EXISTS \`${db}\``).catch(() => undefined);
    await Promise.all([source.close(), target.close(), srcC.end(), tgtC.end()]);
  });

  it('points the target at the binlog position over the procedures and applies exactly what came after it', async () => {
    await srcC.query(`INSERT INTO \`${db}\`.t VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    const position = await source.binlogPosition!();
    await tgtC.query(`INSERT INTO \`${db}\`.t VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    await srcC.query(`INSERT INTO \`${db}\`.t VALUES (4, 'd'), (5, 'e')`);
    await srcC.query(`UPDATE \`${db}\`.t SET v = 'A' WHERE id = 1`);
    await srcC.query(`DELETE FROM \`${db}\`.t WHERE id = 2`);

    const native = target.myNative!;
    expect(await native.replicaState()).toBeUndefined();
    const u = new URL(testUrls().mySource);
    const used = await native.setExternalSource({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: '', position, tls: true });
    expect(used).toBe('rds_set_external_source');
    // TLS was asked for (the rehearsal's servers have none, so the procedure records it).
    const [rec] = (await tgtC.query<mysql.RowDataPacket[]>('SELECT log_file, log_pos, ssl_encryption FROM mysql.rekey_external_source'))[0];
    expect(rec).toMatchObject({ log_file: position.file, log_pos: position.position, ssl_encryption: 1 });
    await native.startReplication();
    const rows = await eventually(
      async () => (await tgtC.query<mysql.RowDataPacket[]>(`SELECT id, v FROM \`${db}\`.t ORDER BY id`))[0] as { id: number; v: string }[],
      (r) => r.length === 4 && r.some((x) => x.id === 5) && r[0]?.v === 'A',
    );
    expect(rows).toEqual([{ id: 1, v: 'A' }, { id: 3, v: 'c' }, { id: 4, v: 'd' }, { id: 5, v: 'e' }]);
    const state = await native.replicaState();
    expect(state).toMatchObject({ sourceHost: u.hostname, io: 'Yes', sql: 'Yes' });
    expect(typeof state?.secondsBehind).toBe('number');
    expect(source.comparePositions(`${state!.executed.file}:${state!.executed.position}`, `${position.file}:${position.position}`)).toBeGreaterThan(0);

    await native.stopReplication();
    expect(await native.replicaState()).toMatchObject({ io: 'No', sql: 'No' });
    await native.resetExternalSource();
    expect(await native.replicaState()).toBeUndefined();
  }, 60_000);
});
