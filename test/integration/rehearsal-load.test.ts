// The write load through the endpoint proxy on a real PostgreSQL: rate, journal, exactly-once verification,
// measured unavailability when the connection is cut, recovery, and the timeout of a blocked (fenced) write.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ProxyRegistry } from '../../src/rehearsal/aws/proxy.js';
import { seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { startMariadb, startPostgres, type LocalServer } from '../../src/rehearsal/servers/index.js';
import { readJournalTokens, startWriteLoad, verifyWrites, type VerifyTarget } from '../../src/rehearsal/workload/write-load.js';

let root: string;
let server: LocalServer | undefined;
let adminUrl: string;
let registry: ProxyRegistry;
let proxyPort: number;
const database = `load_${process.pid}_${Date.now() % 100000}`;
const IDENTIFIER = 'load-src';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function backend(): { host: string; port: number } {
  const url = new URL(adminUrl);
  return { host: url.hostname, port: Number(url.port) };
}

function target(): VerifyTarget {
  return { engine: 'postgres', host: '127.0.0.1', port: proxyPort, database, user: 'app' };
}

async function sql<T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]> {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

function load(name: string, extra: { writeTimeoutMs?: number } = {}): ReturnType<typeof startWriteLoad> {
  return startWriteLoad({
    endpoint: () => ({ host: '127.0.0.1', port: registry.portOf(IDENTIFIER)! }),
    database,
    user: 'app',
    writesPerSecond: 100,
    journalPath: join(root, `${name}.journal`),
    engine: 'postgres',
    runId: name,
    ...extra,
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), 'rehearsal-load-'));
  if (process.env.REKEY_TEST_PG_SOURCE_URL) {
    adminUrl = process.env.REKEY_TEST_PG_SOURCE_URL;
  } else {
    server = await startPostgres({ dir: join(root, 'pg') });
    adminUrl = server.adminUrl;
  }
  await seedPostgresDemo(adminUrl, { database, rows: 5000 });
  registry = new ProxyRegistry();
  proxyPort = await registry.ensure(IDENTIFIER);
  registry.point(IDENTIFIER, backend());
});

afterAll(async () => {
  await registry?.close();
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
  await client.end();
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

test('writes ~100/s, journals every acknowledged write, and each is found exactly once', async () => {
  const [before] = await sql<{ items: string; updated: string }>(
    'SELECT (SELECT count(*) FROM order_items)::text AS items, (SELECT count(*) FROM customers WHERE updated_at IS NOT NULL)::text AS updated');
  const writes = load('steady');
  await sleep(1000);
  expect(writes.stats().perSecond).toBeGreaterThan(60);
  await sleep(1000);
  await writes.stop();
  const stats = writes.stats();
  expect(stats.acknowledged).toBeGreaterThan(150);
  expect(stats.acknowledged).toBeLessThanOrEqual(205);
  expect(stats.errors).toBe(0);
  expect(stats.unavailableSince).toBeUndefined();

  expect((await stat(join(root, 'steady.journal'))).mode & 0o777).toBe(0o600);
  const journal = (await readFile(join(root, 'steady.journal'), 'utf8')).trim().split('\n');
  expect(journal).toHaveLength(stats.acknowledged);
  expect(new Set(journal).size).toBe(journal.length);
  expect(journal.every((t) => t.startsWith(`${writes.tokenPrefix}-`))).toBe(true);

  const result = await verifyWrites({ target: target(), journalPaths: [join(root, 'steady.journal')] });
  expect(result).toEqual({ acknowledged: stats.acknowledged, lost: 0, duplicated: 0, lostSample: [], duplicatedSample: [] });

  // CDC must see all three kinds of change: inserts above, updates and deletes mixed in.
  const [after] = await sql<{ items: string; updated: string }>(
    'SELECT (SELECT count(*) FROM order_items)::text AS items, (SELECT count(*) FROM customers WHERE updated_at IS NOT NULL)::text AS updated');
  expect(Number(after!.items)).toBeLessThan(Number(before!.items));
  expect(Number(after!.updated)).toBeGreaterThan(Number(before!.updated));
});

test('a cut connection shows a measured unavailable window, then the load recovers through the same endpoint', async () => {
  const writes = load('cut');
  await sleep(700);
  const ackedBefore = writes.stats().acknowledged;
  expect(ackedBefore).toBeGreaterThan(30);
  // As a rename does: the name stops resolving and its sessions drop; then it serves again.
  registry.point(IDENTIFIER, undefined);
  await sleep(150);
  const during = writes.stats();
  expect(during.unavailableSince).toBeDefined();
  await sleep(350);
  registry.point(IDENTIFIER, backend());
  await sleep(700);
  await writes.stop();
  const stats = writes.stats();
  expect(stats.errors).toBeGreaterThan(0);
  expect(stats.longestUnavailableMs).toBeGreaterThanOrEqual(450);
  expect(stats.longestUnavailableMs).toBeLessThan(1500);
  expect(stats.unavailableSince).toBeUndefined();
  expect(stats.acknowledged - ackedBefore).toBeGreaterThan(40);

  const result = await verifyWrites({ target: target(), journalPaths: [join(root, 'cut.journal')] });
  expect(result.acknowledged).toBe(stats.acknowledged);
  expect(result.lost).toBe(0);
  expect(result.duplicated).toBe(0);
});

test('a server-side kill of the session is survived', async () => {
  const writes = load('killed');
  await sleep(500);
  const killed = await sql<{ ok: boolean }>(
    "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'rekey-write-load' AND datname = current_database()");
  expect(killed.length).toBe(1);
  await sleep(500);
  await writes.stop();
  const stats = writes.stats();
  expect(stats.acknowledged).toBeGreaterThan(60);
  const result = await verifyWrites({ target: target(), journalPaths: [join(root, 'killed.journal')] });
  expect(result).toMatchObject({ acknowledged: stats.acknowledged, lost: 0, duplicated: 0 });
});

test('a blocked write (fenced session) times out, counts as an error, and the window covers it', async () => {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const locker = new pg.Client({ connectionString: url.toString() });
  await locker.connect();
  const writes = load('blocked', { writeTimeoutMs: 600 });
  try {
    await sleep(400);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE rehearsal_writes IN ACCESS EXCLUSIVE MODE');
    await sleep(1500);
    const during = writes.stats();
    expect(during.errors).toBeGreaterThan(0);
    expect(during.unavailableSince).toBeDefined();
    await locker.query('COMMIT');
    await sleep(500);
  } finally {
    await writes.stop();
    await locker.end();
  }
  const stats = writes.stats();
  expect(stats.lastError).toMatch(/statement timeout|timeout/i);
  expect(stats.longestUnavailableMs).toBeGreaterThanOrEqual(1400);
  expect(stats.longestUnavailableMs).toBeLessThan(2600);
  const result = await verifyWrites({ target: target(), journalPaths: [join(root, 'blocked.journal')] });
  expect(result).toMatchObject({ acknowledged: stats.acknowledged, lost: 0, duplicated: 0 });
});

test('verifyWrites reports lost and duplicated tokens, over several journals', async () => {
  const journals = ['steady', 'cut'].map((n) => join(root, `${n}.journal`));
  const tokens = [...readJournalTokens(journals)];
  const [gone, twice] = [tokens[3]!, tokens[tokens.length - 2]!];
  await sql('DELETE FROM rehearsal_writes WHERE token = $1', [gone]);
  await sql('INSERT INTO rehearsal_writes (token, n) VALUES ($1, 0)', [twice]);
  const result = await verifyWrites({ target: target(), journalPaths: journals });
  expect(result).toEqual({ acknowledged: tokens.length, lost: 1, duplicated: 1, lostSample: [gone], duplicatedSample: [twice] });
});

test('a journal cut mid-line by a kill keeps only whole lines', async () => {
  const path = join(root, 'partial.journal');
  await writeFile(path, 'a-1\na-2\na-');
  expect([...readJournalTokens([path])]).toEqual(['a-1', 'a-2']);
});

test('rejects a non-positive rate', () => {
  expect(() => startWriteLoad({
    endpoint: () => ({ host: '127.0.0.1', port: 1 }), database, user: 'app', writesPerSecond: 0,
    journalPath: join(root, 'never.journal'), engine: 'postgres',
  })).toThrow(/writesPerSecond/);
});

describe('on MariaDB (the mysql driver path)', () => {
  let myServer: LocalServer | undefined;
  let myUrl: URL;
  const schema = `load_${process.pid}_${Date.now() % 100000}`;
  const MY_ID = 'load-my';

  async function my<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const conn = await mysql.createConnection({ host: myUrl.hostname, port: Number(myUrl.port), user: decodeURIComponent(myUrl.username) });
    try {
      return await fn(conn);
    } finally {
      await conn.end();
    }
  }

  beforeAll(async () => {
    if (process.env.REKEY_TEST_MY_SOURCE_URL) {
      myUrl = new URL(process.env.REKEY_TEST_MY_SOURCE_URL);
    } else {
      myServer = await startMariadb({ dir: join(root, 'my'), serverId: 7 });
      myUrl = new URL(myServer.adminUrl);
    }
    await my(async (c) => {
      await c.query(`CREATE DATABASE ${schema}`);
      await c.query(`CREATE TABLE ${schema}.rehearsal_writes (id bigint AUTO_INCREMENT PRIMARY KEY, token varchar(100) NOT NULL,
        n bigint, written_at datetime(6) NOT NULL, KEY token_idx (token)) ENGINE=InnoDB`);
      await c.query(`CREATE TABLE ${schema}.customers (id bigint AUTO_INCREMENT PRIMARY KEY, updated_at datetime(6)) ENGINE=InnoDB`);
      await c.query(`INSERT INTO ${schema}.customers (updated_at) SELECT NULL FROM ${schema}.seq_1_to_1000`);
    });
    await registry.ensure(MY_ID);
    registry.point(MY_ID, { host: myUrl.hostname, port: Number(myUrl.port) });
  });

  afterAll(async () => {
    await my((c) => c.query(`DROP DATABASE IF EXISTS ${schema}`)).catch(() => undefined);
    await myServer?.stop();
  });

  test('writes, survives a dropped connection and a blocked write, and verifies exactly once', async () => {
    const journalPath = join(root, 'my.journal');
    const writes = startWriteLoad({
      endpoint: () => ({ host: '127.0.0.1', port: registry.portOf(MY_ID)! }),
      database: schema, user: decodeURIComponent(myUrl.username), writesPerSecond: 100, journalPath, engine: 'mysql',
      runId: 'my', writeTimeoutMs: 600,
    });
    const locker = await mysql.createConnection({ host: myUrl.hostname, port: Number(myUrl.port), user: decodeURIComponent(myUrl.username), database: schema });
    try {
      await sleep(600);
      registry.drop(MY_ID);
      await sleep(400);
      await locker.query('LOCK TABLES rehearsal_writes WRITE');
      await sleep(1200);
      expect(writes.stats().unavailableSince).toBeDefined();
      await locker.query('UNLOCK TABLES');
      await sleep(500);
    } finally {
      await writes.stop();
      await locker.end();
    }
    const stats = writes.stats();
    expect(stats.acknowledged).toBeGreaterThan(80);
    expect(stats.errors).toBeGreaterThan(0);
    expect(stats.lastError).toMatch(/max_statement_time|timeout/i);
    expect(stats.longestUnavailableMs).toBeGreaterThanOrEqual(1100);
    expect(stats.longestUnavailableMs).toBeLessThan(2500);
    const updated = await my(async (c) => {
      const [rows] = await c.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${schema}.customers WHERE updated_at IS NOT NULL`);
      return Number(rows[0]?.n);
    });
    expect(updated).toBeGreaterThan(0);
    const result = await verifyWrites({
      target: { engine: 'mysql', host: '127.0.0.1', port: registry.portOf(MY_ID)!, database: schema, user: decodeURIComponent(myUrl.username) },
      journalPaths: [journalPath],
    });
    expect(result).toMatchObject({ acknowledged: stats.acknowledged, lost: 0, duplicated: 0 });
  });
});
