// The MariaDB demo seeder on a real server: accounts and their grants, the schema features a key move must handle
// (AUTO_INCREMENT tables with foreign keys, a table without a primary key, the write load's table), row counts,
// advanced counters, speed, idempotence, rebuilding a half-finished seed, and concurrent seeders.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { createMysqlAdapter } from '../../src/db/mysql.js';
import type { DbAdapter, DbEndpoint } from '../../src/db/types.js';
import { demoRowCounts } from '../../src/rehearsal/workload/seed.js';
import { MYSQL_DEMO_TABLES, seedMysqlDemo } from '../../src/rehearsal/workload/seed-mysql.js';
import { startMariadb } from '../../src/rehearsal/servers/index.js';
import type { LocalServer } from '../../src/rehearsal/servers/index.js';

const sfx = `${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
const database = `seedmy_${sfx}`;
const created: string[] = [database];
const ROWS = 300_000;
let server: LocalServer | undefined;
let serverDir: string | undefined;
let adminUrl: URL;
let seedMs = 0;

function endpointFor(db: string, user?: string): DbEndpoint {
  return {
    host: adminUrl.hostname,
    port: Number(adminUrl.port),
    database: db,
    user: user ?? decodeURIComponent(adminUrl.username),
    password: user ? undefined : decodeURIComponent(adminUrl.password) || undefined,
  };
}

async function withAdapter<T>(db: string, fn: (a: DbAdapter) => Promise<T>, user?: string): Promise<T> {
  const adapter = await createMysqlAdapter(endpointFor(db, user));
  try {
    return await fn(adapter);
  } finally {
    await adapter.close();
  }
}

/** Row count and checksum of every demo table, and the AUTO_INCREMENT counters. */
async function snapshotState(db: string): Promise<Record<string, string>> {
  return withAdapter(db, async (a) => {
    const state: Record<string, string> = {};
    for (const name of MYSQL_DEMO_TABLES) state[name] = await a.checksum({ schema: db, name });
    for (const s of await a.sequences()) state[`ai:${s.name}`] = String(s.nextValue);
    return state;
  });
}

beforeAll(async () => {
  const url = process.env.REKEY_TEST_MY_SOURCE_URL;
  if (url) {
    adminUrl = new URL(url);
  } else {
    serverDir = await mkdtemp(join(tmpdir(), 'rekey-seedmy-'));
    await chmod(serverDir, 0o755);
    server = await startMariadb({ dir: join(serverDir, 'my'), serverId: 1 });
    adminUrl = new URL(server.adminUrl);
  }
  const started = Date.now();
  await seedMysqlDemo(adminUrl.toString(), { database, rows: ROWS });
  seedMs = Date.now() - started;
}, 120_000);

afterAll(async () => {
  if (adminUrl) {
    const conn = await mysql.createConnection({ uri: adminUrl.toString() });
    for (const db of created) await conn.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await conn.end();
  }
  await server?.stop();
  if (serverDir) await rm(serverDir, { recursive: true, force: true });
}, 60_000);

it('fills a few hundred thousand rows in a few seconds', () => {
  console.log(`seeded ${ROWS} rows in ${seedMs} ms`);
  // Generous for a shared 2-core machine; typically 2-5 s.
  expect(seedMs).toBeLessThan(30_000);
});

it('creates the demo tables with exact row counts and advanced AUTO_INCREMENT counters', async () => {
  const counts = demoRowCounts(ROWS);
  await withAdapter(database, async (a) => {
    const tables = await a.listTables([`${database}.%`], []);
    expect(tables.map((t) => t.name).sort()).toEqual([...MYSQL_DEMO_TABLES].sort());
    let total = 0;
    for (const [name, n] of Object.entries(counts)) {
      expect([name, await a.rowCount({ schema: database, name })]).toEqual([name, n]);
      total += n;
    }
    expect(total).toBe(ROWS);
    expect(await a.rowCount({ schema: database, name: 'rehearsal_writes' })).toBe(0);

    const seqs = await a.sequences();
    expect(seqs.map((s) => s.name).sort()).toEqual(
      ['customers', 'invoices', 'order_items', 'orders', 'rehearsal_writes'].map((t) => `${database}.${t}`),
    );
    for (const name of ['customers', 'orders', 'order_items', 'invoices'] as const) {
      const max = await a.columnMax({ schema: database, name }, 'id');
      const next = seqs.find((s) => s.name === `${database}.${name}`)?.nextValue;
      expect(max).not.toBeNull();
      expect(max! >= BigInt(counts[name])).toBe(true);
      expect(next! > max!).toBe(true);
    }
    expect(await a.tablesWithoutPrimaryKey()).toEqual([{ schema: database, name: 'audit_log' }]);
    expect(await a.columnConcerns()).toEqual([]);
  });
});

it('links the tables by foreign keys and indexes rehearsal_writes.token without a unique constraint', async () => {
  const conn = await mysql.createConnection({ uri: adminUrl.toString() });
  try {
    const [fks] = await conn.query<RowDataPacket[]>(
      `SELECT TABLE_NAME AS t, REFERENCED_TABLE_NAME AS r FROM information_schema.REFERENTIAL_CONSTRAINTS
       WHERE CONSTRAINT_SCHEMA = ? ORDER BY 1`,
      [database],
    );
    expect(fks.map((f) => `${String(f.t)}->${String(f.r)}`).sort()).toEqual(['invoices->orders', 'order_items->orders', 'orders->customers']);
    const [orphans] = await conn.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM \`${database}\`.order_items i LEFT JOIN \`${database}\`.orders o ON o.id = i.order_id WHERE o.id IS NULL`,
    );
    expect(Number(orphans[0]?.n)).toBe(0);
    const [idx] = await conn.query<RowDataPacket[]>(
      `SELECT INDEX_NAME AS i, NON_UNIQUE AS nu FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'rehearsal_writes' AND COLUMN_NAME = 'token'`,
      [database],
    );
    expect(idx.map((r) => Number(r.nu))).toEqual([1]);
    const [cols] = await conn.query<RowDataPacket[]>(
      `SELECT COLUMN_NAME AS c, COLUMN_TYPE AS t, IS_NULLABLE AS nl FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'rehearsal_writes' ORDER BY ORDINAL_POSITION`,
      [database],
    );
    // MySQL 8 prints bigint without a display width.
    expect(cols.map((r) => `${String(r.c)} ${String(r.t).replace('bigint(20)', 'bigint')} ${String(r.nl)}`)).toEqual([
      'id bigint NO',
      'token varchar(100) NO',
      'n bigint YES',
      'written_at timestamp(6) NO',
    ]);
  } finally {
    await conn.end();
  }
});

it('lets app write the data but not change the schema, and gives rekey_admin replication rights', async () => {
  const app = await mysql.createConnection({ ...endpointFor(database, 'app') });
  try {
    const [res] = await app.query<mysql.ResultSetHeader>("INSERT INTO rehearsal_writes (token, n) VALUES ('t-1', 1)");
    expect(res.affectedRows).toBe(1);
    await app.query("DELETE FROM rehearsal_writes WHERE token = 't-1'");
    await expect(app.query('CREATE TABLE nope (x INT)')).rejects.toThrow(/denied/i);
  } finally {
    await app.end();
  }
  await withAdapter(
    database,
    async (a) => {
      const grants = (await a.replicationChecks()).find((c) => c.id === 'mysql.replication_privileges');
      expect(grants).toMatchObject({ ok: true });
      expect(await a.writerPrincipals([])).toContain('app@%');
    },
    'rekey_admin',
  );
});

it('is idempotent: a second run changes nothing', async () => {
  const before = await snapshotState(database);
  await seedMysqlDemo(adminUrl.toString(), { database, rows: ROWS });
  expect(await snapshotState(database)).toEqual(before);
});

it('rebuilds a half-finished seed, and concurrent seeders produce one demo database', async () => {
  const other = `seedmy2_${sfx}`;
  created.push(other);
  await seedMysqlDemo(adminUrl.toString(), { database: other, rows: 2_000 });
  const full = await snapshotState(other);
  const conn = await mysql.createConnection({ uri: adminUrl.toString() });
  try {
    // A crash before the final step leaves data but no rehearsal_writes.
    await conn.query(`DROP TABLE \`${other}\`.rehearsal_writes`);
    await conn.query(`DELETE FROM \`${other}\`.audit_log LIMIT 10`);
  } finally {
    await conn.end();
  }
  await Promise.all([
    seedMysqlDemo(adminUrl.toString(), { database: other, rows: 2_000 }),
    seedMysqlDemo(adminUrl.toString(), { database: other, rows: 2_000 }),
  ]);
  const counts = demoRowCounts(2_000);
  await withAdapter(other, async (a) => {
    for (const [name, n] of Object.entries(counts)) expect([name, await a.rowCount({ schema: other, name })]).toEqual([name, n]);
  });
  const rebuilt = await snapshotState(other);
  // Same content except timestamps taken from NOW(): compare the counts part of each checksum.
  for (const t of MYSQL_DEMO_TABLES) expect(rebuilt[t]?.split(':')[0]).toBe(full[t]?.split(':')[0]);
});

it('rejects a database name that is not a plain identifier, before connecting', async () => {
  await expect(seedMysqlDemo('mysql://nobody:pw-Secret-1@127.0.0.1:1/', { database: 'bad-name`', rows: 10 })).rejects.toThrow(
    /lower-case identifier/,
  );
  const err = await seedMysqlDemo('mysql://nobody:pw-Secret-1@127.0.0.1:1/', { database: 'ok_name', rows: 10 }).catch((e: Error) => e);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(/cannot connect/);
  expect((err as Error).message).not.toContain('pw-Secret-1');
});
