import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  findFreePort,
  isAlive,
  listServerProcesses,
  startMariadb,
  startPostgres,
  stopAllUnder,
} from '../../src/rehearsal/servers/index.js';
import type { LocalServer } from '../../src/rehearsal/servers/index.js';
import { freshDatabase, testDir, testUrls } from '../helpers/servers.js';

async function pgQuery<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function myQuery(url: string, sql: string): Promise<mysql.RowDataPacket[]> {
  const conn = await mysql.createConnection(url);
  try {
    return (await conn.query<mysql.RowDataPacket[]>(sql))[0];
  } finally {
    await conn.end();
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

describe('shared test servers', () => {
  it('PostgreSQL servers accept connections, run wal_level=logical and can create a logical slot', async () => {
    const { pgSource, pgTarget } = testUrls();
    for (const url of [pgSource, pgTarget]) {
      const [row] = await pgQuery<{ wal_level: string }>(url, 'SHOW wal_level');
      expect(row?.wal_level).toBe('logical');
    }
    const dbUrl = await freshDatabase('pgSource', 'slot test');
    const slot = `s_${process.pid}`;
    const rows = await pgQuery<{ slot_name: string; lsn: string }>(
      dbUrl,
      `SELECT slot_name, lsn::text FROM pg_create_logical_replication_slot('${slot}', 'test_decoding')`,
    );
    expect(rows[0]?.slot_name).toBe(slot);
    expect(rows[0]?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    await pgQuery(dbUrl, `SELECT pg_drop_replication_slot('${slot}')`);
  });

  it('MariaDB servers have log_bin ON, binlog_format ROW and distinct server ids', async () => {
    const { mySource, myTarget } = testUrls();
    const ids: number[] = [];
    for (const url of [mySource, myTarget]) {
      const [row] = await myQuery(url, 'SELECT @@log_bin AS log_bin, @@binlog_format AS fmt, @@server_id AS id');
      expect(row).toMatchObject({ log_bin: 1, fmt: 'ROW' });
      ids.push(Number(row?.id));
    }
    expect(new Set(ids).size).toBe(2);
  });

  it('freshDatabase creates a new, empty database each call', async () => {
    const a = await freshDatabase('mysql', 'fresh');
    const b = await freshDatabase('mysql', 'fresh');
    expect(a).not.toBe(b);
    await myQuery(a, 'CREATE TABLE t (id INT PRIMARY KEY)');
    expect(await myQuery(b, 'SHOW TABLES')).toHaveLength(0);
    expect(await myQuery(a, 'SHOW TABLES')).toHaveLength(1);
  });
});

describe('startPostgres / startMariadb', () => {
  const started: LocalServer[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it('starts PostgreSQL in a test dir, finds it in /proc, reuses it, and stop() really ends it', async () => {
    const dir = join(testDir('pg-own'), 'pg');
    const server = await startPostgres({ dir });
    started.push(server);
    expect(server.adminUrl).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
    expect(await isAlive(server.pid)).toBe(true);

    const found = await listServerProcesses(dir);
    expect(found).toEqual([{ pid: server.pid, engine: 'postgres', dir: join(server.dir, 'data') }]);

    const again = await startPostgres({ dir, reuse: true });
    expect(again.pid).toBe(server.pid);
    expect(again.port).toBe(server.port);
    await expect(startPostgres({ dir })).rejects.toThrow(/already running/);

    await server.stop();
    expect(await isAlive(server.pid)).toBe(false);
    expect(await listServerProcesses(dir)).toEqual([]);

    // The data dir survives a stop: a new start skips initdb and keeps the data.
    const restarted = await startPostgres({ dir, reuse: true });
    started.push(restarted);
    expect(restarted.pid).not.toBe(server.pid);
    expect(await pgQuery(restarted.adminUrl, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await restarted.stop();
    expect(await isAlive(restarted.pid)).toBe(false);
  });

  it('starts MariaDB with the given server id and stops it', async () => {
    const dir = join(testDir('my-own'), 'my');
    const server = await startMariadb({ dir, serverId: 7 });
    started.push(server);
    const [row] = await myQuery(server.adminUrl, 'SELECT @@server_id AS id, @@log_bin AS log_bin');
    expect(row).toMatchObject({ id: 7, log_bin: 1 });
    expect((await startMariadb({ dir, serverId: 7, reuse: true })).pid).toBe(server.pid);
    await server.stop();
    expect(await isAlive(server.pid)).toBe(false);
  });

  it.each([
    ['postgres', (dir: string, port: number) => startPostgres({ dir, port })],
    ['mariadb', (dir: string, port: number) => startMariadb({ dir, port, serverId: 9 })],
  ])('a %s start on a port in use fails and leaves no process behind', async (_engine, start) => {
    const dir = join(testDir('busy-port'), 'srv');
    const port = await findFreePort();
    const blocker = await listen(port);
    try {
      await expect(start(dir, port)).rejects.toThrow(/exited during startup/);
    } finally {
      blocker.close();
    }
    expect(await listServerProcesses(dir)).toEqual([]);
  });

  it('with REKEY_SERVER_TEMPLATES set (global-setup sets it), new servers are copies of one initialised data directory per engine, each its own', async () => {
    const templates = process.env.REKEY_SERVER_TEMPLATES;
    expect(templates).toBe(join(testUrls().root, 'server-templates'));
    const root = testDir('templated');
    const [a, b] = await Promise.all([startPostgres({ dir: join(root, 'pg-a') }), startPostgres({ dir: join(root, 'pg-b') })]);
    const [c, d] = await Promise.all([startMariadb({ dir: join(root, 'my-c'), serverId: 4 }), startMariadb({ dir: join(root, 'my-d'), serverId: 5 })]);
    started.push(a, b, c, d);
    // One template per engine and bootstrap options (other suites' rehearsals add their rdsadmin-bootstrapped one).
    const made = readdirSync(templates!).filter((n) => !n.includes('.'));
    expect(made.filter((n) => n.startsWith('mariadb-'))).toHaveLength(1);
    expect(made.filter((n) => n.startsWith('postgres-')).length).toBeGreaterThanOrEqual(1);
    await pgQuery(a.adminUrl, 'CREATE DATABASE only_in_a');
    await myQuery(c.adminUrl, 'CREATE DATABASE only_in_c');
    const pgNames = async (url: string): Promise<string[]> => (await pgQuery<{ datname: string }>(url, 'SELECT datname FROM pg_database')).map((r) => r.datname);
    const myNames = async (url: string): Promise<string[]> => (await myQuery(url, 'SHOW DATABASES')).map((r) => String(r.Database));
    expect(await pgNames(a.adminUrl)).toContain('only_in_a');
    expect(await pgNames(b.adminUrl)).not.toContain('only_in_a');
    expect(await myNames(c.adminUrl)).toContain('only_in_c');
    expect(await myNames(d.adminUrl)).not.toContain('only_in_c');
    // A server started later still gets the untouched template.
    const e = await startPostgres({ dir: join(root, 'pg-e') });
    started.push(e);
    expect(await pgNames(e.adminUrl)).not.toContain('only_in_a');
    await Promise.all([a, b, c, d, e].map((s) => s.stop()));
  });

  it('stopAllUnder stops every server below a root and counts them', async () => {
    const root = testDir('stop-all');
    const a = await startPostgres({ dir: join(root, 'a') });
    const b = await startMariadb({ dir: join(root, 'b'), serverId: 3 });
    started.push(a, b);
    expect(await stopAllUnder(root)).toBe(2);
    expect(await isAlive(a.pid)).toBe(false);
    expect(await isAlive(b.pid)).toBe(false);
    expect(await stopAllUnder(root)).toBe(0);
  });
});
