// The MySQL/MariaDB adapter against a real MariaDB: the shared source from the global setup (REKEY_TEST_MY_SOURCE_URL)
// or a throwaway one started here. Tables live in a database made for this file; accounts are server-wide, so their
// names carry this file's random suffix and are dropped at the end.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import type { Connection, ConnectionOptions, RowDataPacket } from 'mysql2/promise';
import { defaultConnector } from '../../src/db/connector.js';
import {
  compareBinlogPositions,
  createMysqlAdapter,
  formatBinlogPosition,
  mysqlColumnConcern,
  parseAccount,
  parseBinlogPosition,
  replicationGrants,
} from '../../src/db/mysql.js';
import { quoteIdent } from '../../src/db/sql.js';
import type { DbAdapter, DbEndpoint, FenceState } from '../../src/db/types.js';
import { startMariadb } from '../../src/rehearsal/servers/index.js';
import type { LocalServer } from '../../src/rehearsal/servers/index.js';

const sfx = Math.random().toString(36).slice(2, 8);
const dbName = `rekey_dbmy_${sfx}`;
const user = (u: string): string => `rk_${sfx}_${u}`;

let server: LocalServer | undefined;
let serverDir: string | undefined;
let adminUrl: URL;
let endpoint: DbEndpoint;
let db: DbAdapter;
let sql: Connection;
const createdAccounts: string[] = [];

function connOptions(over: Partial<ConnectionOptions> = {}): ConnectionOptions {
  return {
    host: adminUrl.hostname,
    port: Number(adminUrl.port),
    user: decodeURIComponent(adminUrl.username),
    password: decodeURIComponent(adminUrl.password) || undefined,
    database: dbName,
    ...over,
  };
}

async function connectAs(name: string): Promise<Connection> {
  const conn = await mysql.createConnection(connOptions({ user: name, password: undefined }));
  conn.on('error', () => undefined);
  return conn;
}

/** Creates `name@host` (passwordless) and remembers it for cleanup. */
async function createAccount(name: string, host = '%', extra = ''): Promise<string> {
  await sql.query(`CREATE USER ?@? ${extra}`, [name, host]);
  createdAccounts.push(`'${name}'@'${host}'`);
  return `${name}@${host}`;
}

async function isLocked(name: string, host: string): Promise<boolean> {
  const [rows] = await sql.query<RowDataPacket[]>('SHOW CREATE USER ?@?', [name, host]);
  return /ACCOUNT LOCK\b/.test(String(Object.values(rows[0] ?? {})[0]));
}

beforeAll(async () => {
  const url = process.env.REKEY_TEST_MY_SOURCE_URL;
  if (url) {
    adminUrl = new URL(url);
  } else {
    serverDir = await mkdtemp(join(tmpdir(), 'rekey-dbmy-'));
    await chmod(serverDir, 0o755);
    server = await startMariadb({ dir: join(serverDir, 'my'), serverId: 1 });
    adminUrl = new URL(server.adminUrl);
  }
  const admin = await mysql.createConnection(connOptions({ database: undefined }));
  await admin.query(`CREATE DATABASE ${quoteIdent(dbName, 'mysql')}`);
  await admin.end();
  endpoint = {
    host: adminUrl.hostname,
    port: Number(adminUrl.port),
    database: dbName,
    user: decodeURIComponent(adminUrl.username),
    password: decodeURIComponent(adminUrl.password) || undefined,
  };
  sql = await mysql.createConnection(connOptions({ multipleStatements: true }));
  db = await createMysqlAdapter(endpoint);
}, 60_000);

afterAll(async () => {
  await db?.close();
  if (sql) {
    await sql.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName, 'mysql')}`);
    for (const a of createdAccounts) await sql.query(`DROP USER IF EXISTS ${a}`).catch(() => undefined);
    await sql.end();
  }
  await server?.stop();
  if (serverDir) await rm(serverDir, { recursive: true, force: true });
}, 60_000);

describe('connecting', () => {
  it('reports the engine and server version', async () => {
    expect(db.engine).toBe('mysql');
    expect(await db.serverVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('names the endpoint but never the password when a connection fails', async () => {
    const secret = 'very-Secret-pw-456';
    const err = await createMysqlAdapter({ ...endpoint, user: user('nobody'), password: secret }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toContain(`${endpoint.host}:${endpoint.port}/${dbName}`);
    expect(err?.message).not.toContain(secret);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain(secret);
  });

  it('the default connector opens mysql', async () => {
    const other = await defaultConnector.open('mysql', endpoint);
    expect(other.engine).toBe('mysql');
    expect(await other.serverVersion()).toBe(await db.serverVersion());
    await other.close();
  });

  it('PostgreSQL slot operations say they are not supported', async () => {
    await expect(db.ensureLogicalSlot('s', 'test_decoding')).rejects.toThrow(/ensureLogicalSlot is not supported on MySQL/);
    await expect(db.slot('s')).rejects.toThrow(/not supported on MySQL/);
    await expect(db.dropSlotIfExists('s')).rejects.toThrow(/not supported on MySQL/);
    await expect(db.seedPosition('aurora_volume_logical_start_lsn')).rejects.toThrow(/not supported on MySQL.*Binlog position/);
  });
});

describe('preflight', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE TABLE pk (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20));
      CREATE TABLE nopk (v VARCHAR(20));
      CREATE TABLE uniq_only (k INT NOT NULL UNIQUE);
      CREATE TABLE awsdms_apply_exceptions (t TEXT);
      CREATE TABLE typed (
        id INT PRIMARY KEY,
        doc JSON,
        place POINT,
        flags BIT(3),
        body LONGTEXT,
        note VARCHAR(10),
        twice INT AS (id * 2) VIRTUAL
      );
      INSERT INTO pk (v) VALUES ('a'), ('b'), ('c');
      CREATE VIEW pk_view AS SELECT * FROM pk;`);
  });

  it('passes the binlog checks on a ROW-format server run as root', async () => {
    const checks = await db.replicationChecks();
    const byId = new Map(checks.map((c) => [c.id, c]));
    for (const id of ['mysql.log_bin', 'mysql.binlog_format', 'mysql.binlog_row_image', 'mysql.server_id', 'mysql.replication_privileges']) {
      expect(byId.get(id)).toMatchObject({ ok: true, severity: 'error' });
    }
    expect(byId.get('mysql.binlog_format')?.message).toBe('binlog_format is ROW');
    expect(byId.has('mysql.binlog_retention')).toBe(true);
    // MariaDB's default CRC32 is reported, as a warning only.
    expect(byId.get('mysql.binlog_checksum')).toMatchObject({ ok: false, severity: 'warning' });
  });

  it('reports missing replication grants of the connecting user', async () => {
    const name = user('norepl');
    await createAccount(name);
    await sql.query('GRANT SELECT ON ' + quoteIdent(dbName, 'mysql') + '.* TO ?@?', [name, '%']);
    const weak = await createMysqlAdapter({ ...endpoint, user: name, password: undefined });
    try {
      const check = (await weak.replicationChecks()).find((c) => c.id === 'mysql.replication_privileges');
      expect(check).toMatchObject({ ok: false, severity: 'error' });
      expect(check?.message).toMatch(/lacks REPLICATION CLIENT and REPLICATION SLAVE/);
      await sql.query('GRANT REPLICATION CLIENT ON *.* TO ?@?', [name, '%']);
      const again = (await weak.replicationChecks()).find((c) => c.id === 'mysql.replication_privileges');
      expect(again?.message).toMatch(/lacks REPLICATION SLAVE/);
      expect(again?.message).not.toMatch(/REPLICATION CLIENT and/);
    } finally {
      await weak.close();
    }
  });

  it('reads binlog retention from the server and warns when it is short', async () => {
    const [rows] = await sql.query<RowDataPacket[]>('SELECT @@GLOBAL.binlog_expire_logs_seconds AS s');
    const before = Number(rows[0]?.s);
    try {
      await sql.query('SET GLOBAL binlog_expire_logs_seconds = 7200');
      expect(await db.binlogRetentionHours?.()).toBe(2);
      const short = (await db.replicationChecks()).find((c) => c.id === 'mysql.binlog_retention');
      expect(short).toMatchObject({ ok: false, severity: 'warning' });
      expect(short?.message).toMatch(/kept 2 h/);
      await sql.query('SET GLOBAL binlog_expire_logs_seconds = 604800');
      const week = (await db.replicationChecks()).find((c) => c.id === 'mysql.binlog_retention');
      expect(week).toMatchObject({ ok: true, message: 'binlogs are kept 168 h' });
    } finally {
      await sql.query('SET GLOBAL binlog_expire_logs_seconds = ?', [before]);
    }
  });

  it('parses replication grants in MariaDB and MySQL spellings', () => {
    expect(replicationGrants(['GRANT ALL PRIVILEGES ON *.* TO `a`@`%` WITH GRANT OPTION'])).toEqual({ client: true, slave: true });
    expect(replicationGrants(['GRANT BINLOG MONITOR, REPLICATION SLAVE ON *.* TO `dms`@`%`'])).toEqual({ client: true, slave: true });
    expect(replicationGrants(['GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `dms`@`%`'])).toEqual({ client: true, slave: true });
    expect(replicationGrants(['GRANT USAGE ON *.* TO `x`@`%`', 'GRANT ALL PRIVILEGES ON `app`.* TO `x`@`%`'])).toEqual({
      client: false,
      slave: false,
    });
  });

  it('lists tables without a primary key, leaving DMS tables and views out', async () => {
    const tables = await db.tablesWithoutPrimaryKey();
    expect(tables).toEqual([
      { schema: dbName, name: 'nopk' },
      { schema: dbName, name: 'uniq_only' },
    ]);
  });

  it('flags columns DMS may mishandle, saying why', async () => {
    const concerns = await db.columnConcerns();
    const byColumn = new Map(concerns.filter((c) => c.name === 'typed').map((c) => [c.column, c]));
    expect([...byColumn.keys()].sort()).toEqual(['body', 'doc', 'flags', 'place', 'twice']);
    expect(byColumn.get('place')?.reason).toMatch(/spatial/);
    expect(byColumn.get('flags')?.reason).toMatch(/BIT/);
    expect(byColumn.get('body')?.reason).toMatch(/LobMaxSize/);
    expect(byColumn.get('twice')?.reason).toMatch(/generated column/);
    expect(concerns.every((c) => c.schema === dbName && c.type.length > 0 && c.reason.length > 0)).toBe(true);
    expect(concerns.some((c) => c.name.startsWith('awsdms_'))).toBe(false);
    expect(mysqlColumnConcern('json', '')).toMatch(/JSON/);
    expect(mysqlColumnConcern('int', 'auto_increment')).toBeUndefined();
    expect(mysqlColumnConcern('timestamp', 'DEFAULT_GENERATED on update CURRENT_TIMESTAMP')).toBeUndefined();
  });

  it('sizes the tables of its database only', async () => {
    const sizes = await db.tableSizes();
    expect(sizes.map((s) => s.name)).toEqual(['nopk', 'pk', 'typed', 'uniq_only']);
    expect(sizes.every((s) => s.schema === dbName && s.bytes > 0 && s.estimatedRows >= 0)).toBe(true);
    expect(sizes.find((s) => s.name === 'pk')?.estimatedRows).toBe(3);
  });
});

describe('binlog positions', () => {
  it('parses and compares file:pos by file number, then position', () => {
    expect(parseBinlogPosition('mysql-bin-changelog.000001:154')).toEqual({ file: 'mysql-bin-changelog.000001', position: 154 });
    expect(formatBinlogPosition({ file: 'mysql-bin.000003', position: 4 })).toBe('mysql-bin.000003:4');
    expect(compareBinlogPositions('mysql-bin.000002:4', 'mysql-bin.000001:99999')).toBeGreaterThan(0);
    expect(compareBinlogPositions('mysql-bin.000001:120', 'mysql-bin.000001:4000')).toBeLessThan(0);
    expect(compareBinlogPositions('mysql-bin.000001:120', 'mysql-bin.000001:120')).toBe(0);
    // numeric, not lexical: .999999 < .1000000
    expect(compareBinlogPositions('b.999999:9', 'b.1000000:1')).toBeLessThan(0);
    expect(db.comparePositions('mysql-bin.000010:1', 'mysql-bin.000009:500')).toBeGreaterThan(0);
    expect(() => compareBinlogPositions('a.000001:1', 'b.000001:1')).toThrow(/different logs/);
    expect(() => parseBinlogPosition('mysql-bin.000001')).toThrow(/not a binlog position/);
    expect(() => parseBinlogPosition('0/16B3748')).toThrow(/not a binlog position/);
  });

  it('reads the current position and the binary logs it lies in', async () => {
    const before = await db.binlogPosition!();
    await sql.query('CREATE TABLE IF NOT EXISTS pos_probe (v INT); INSERT INTO pos_probe VALUES (1)');
    const after = await db.binlogPosition!();
    expect(db.comparePositions(formatBinlogPosition(after), formatBinlogPosition(before))).toBeGreaterThan(0);
    const logs = await db.binaryLogs!();
    const current = logs.find((l) => l.file === after.file);
    expect(current).toBeDefined();
    expect(current!.size).toBeGreaterThanOrEqual(after.position);
    expect(logs.every((l) => /\.\d+$/.test(l.file) && l.size > 0)).toBe(true);
  });
});

describe('sentinel', () => {
  it('is false before the table exists, idempotent to write, then found', async () => {
    expect(await db.hasSentinel('rekey_sentinel', 'tok-1')).toBe(false);
    await db.ensureSentinelTable('rekey_sentinel');
    await db.ensureSentinelTable('rekey_sentinel');
    expect(await db.hasSentinel('rekey_sentinel', 'tok-1')).toBe(false);
    await db.writeSentinel('rekey_sentinel', 'tok-1');
    await db.writeSentinel('rekey_sentinel', 'tok-1');
    expect(await db.hasSentinel('rekey_sentinel', 'tok-1')).toBe(true);
    expect(await db.hasSentinel('rekey_sentinel', 'tok-2')).toBe(false);
    const [rows] = await sql.query<RowDataPacket[]>('SELECT token, written_at FROM rekey_sentinel');
    expect(rows).toHaveLength(1);
    expect(String(rows[0]?.written_at)).not.toBe('');
    const [cols] = await sql.query<RowDataPacket[]>(
      "SELECT COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'rekey_sentinel' ORDER BY ORDINAL_POSITION",
      [dbName],
    );
    expect(cols.map((c) => String(c.t))).toEqual(['varchar(100)', 'timestamp(6)']);
  });
});

describe('fence', () => {
  let writer: string;
  let locked: string;
  beforeAll(async () => {
    await sql.query('CREATE TABLE fenced (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
    writer = await createAccount(user('w'));
    locked = await createAccount(user('l'), '%', 'ACCOUNT LOCK');
    await createAccount(user('m'), '%');
    await createAccount(user('m'), 'localhost');
    await createAccount(user('x'), '127.0.0.1');
    await sql.query(`CREATE ROLE ${quoteIdent(user('role'), 'mysql')}`);
    createdAccounts.push(quoteIdent(user('role'), 'mysql'));
    for (const u of [user('w'), user('l')]) {
      await sql.query(`GRANT SELECT, INSERT ON ${quoteIdent(dbName, 'mysql')}.* TO ?@'%'`, [u]);
    }
  });

  it('offers login accounts minus system, locked, roles, its own user and exclusions', async () => {
    const all = await db.writerPrincipals([]);
    expect(all).toEqual(expect.arrayContaining([writer, `${user('m')}@%`, `${user('m')}@localhost`, `${user('x')}@127.0.0.1`]));
    expect(all).not.toContain(locked);
    expect(all.some((p) => p.startsWith(user('role')))).toBe(false);
    expect(all.some((p) => /^(root|mariadb\.sys|mysql\.sys)@/.test(p))).toBe(false);
    const me = parseAccount(endpoint.user).user;
    expect(all.some((p) => parseAccount(p).user === me)).toBe(false);

    const fewer = await db.writerPrincipals([user('m'), `${user('x')}@127.0.0.1`, `${user('w')}@localhost`]);
    expect(fewer).toContain(writer);
    expect(fewer.some((p) => p.startsWith(`${user('m')}@`) || p.startsWith(`${user('x')}@`))).toBe(false);
  });

  it('openSessions lists another client of rekey\'s own account, never rekey\'s own connections', async () => {
    const me = parseAccount(endpoint.user).user;
    const other = await mysql.createConnection(connOptions());
    other.on('error', () => undefined);
    const second = await createMysqlAdapter(endpoint);
    try {
      await Promise.all([db.serverVersion(), db.serverVersion(), second.serverVersion()]);
      const open = await db.openSessions([me]);
      expect(open).toHaveLength(2); // the suite's admin connection and `other`; no connection of either adapter
      expect(open.every((x) => x.user === me && (x.client === '127.0.0.1' || x.client === 'local'))).toBe(true);
      await other.end();
      await new Promise((r) => setTimeout(r, 200));
      expect(await db.openSessions([me])).toHaveLength(1);
      expect(await db.openSessions([user('nobody-here')])).toEqual([]);
    } finally {
      await other.end().catch(() => undefined);
      await second.close();
    }
  });

  it('locks accounts and kills their sessions; unfence restores the exact lock state', async () => {
    const session = await connectAs(user('w'));
    await session.query('INSERT INTO fenced (v) VALUES (1)');

    const state = await db.fence([writer, locked, writer]);
    expect(state.principals).toEqual([
      { name: writer, before: { accountLocked: false } },
      { name: locked, before: { accountLocked: true } },
    ]);
    expect(Number.isNaN(Date.parse(state.at))).toBe(false);

    // the existing session is gone and no new one can start
    await expect(session.query('INSERT INTO fenced (v) VALUES (2)')).rejects.toThrow();
    await expect(connectAs(user('w'))).rejects.toThrow(/locked/i);
    expect(await isLocked(user('w'), '%')).toBe(true);
    const [count] = await sql.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM fenced');
    expect(Number(count[0]?.n)).toBe(1);

    // the state is journaled as JSON: unfence from its round trip
    const journaled = JSON.parse(JSON.stringify(state)) as FenceState;
    await db.unfence(journaled);
    expect(await isLocked(user('w'), '%')).toBe(false);
    expect(await isLocked(user('l'), '%')).toBe(true);
    const again = await connectAs(user('w'));
    await again.query('INSERT INTO fenced (v) VALUES (3)');
    await again.end();
    await session.end().catch(() => undefined);

    // unfence is idempotent
    await db.unfence(journaled);
    expect(await isLocked(user('w'), '%')).toBe(false);
  });

  it('an empty fence runs no SQL (never `USER IN ()`); stillFenced names what an unfence left locked', async () => {
    expect(await db.fence([])).toMatchObject({ principals: [] });
    await db.unfence({ principals: [], at: new Date().toISOString() });
    expect(await isLocked(user('w'), '%')).toBe(false);
    const state = await db.fence([writer, locked]);
    expect(await db.stillFenced?.(state)).toEqual([writer]);
    await db.unfence(state);
    expect(await db.stillFenced?.(state)).toEqual([]);
    expect(await isLocked(user('l'), '%')).toBe(true);
  });

  it('a bare user name fences every host of that user', async () => {
    const state = await db.fence([user('m')]);
    expect(state.principals.map((p) => p.name).sort()).toEqual([`${user('m')}@%`, `${user('m')}@localhost`]);
    expect(await isLocked(user('m'), 'localhost')).toBe(true);
    await db.unfence(state);
    expect(await isLocked(user('m'), 'localhost')).toBe(false);
    expect(await isLocked(user('m'), '%')).toBe(false);
  });

  it('refuses unknown accounts and its own user, changing nothing', async () => {
    await expect(db.fence([writer, `${user('ghost')}@%`])).rejects.toThrow(/unknown account.*ghost/);
    expect(await isLocked(user('w'), '%')).toBe(false);
    await expect(db.fence([endpoint.user])).rejects.toThrow(`refusing to fence user ${endpoint.user}`);
  });

  it('refuses to fence without the PROCESS privilege (it could not see the sessions to kill)', async () => {
    const name = user('noproc');
    await createAccount(name);
    await sql.query(`GRANT SELECT ON mysql.* TO ?@'%'`, [name]);
    await sql.query(`GRANT SELECT ON ${quoteIdent(dbName, 'mysql')}.* TO ?@'%'`, [name]);
    await sql.query(`GRANT CREATE USER ON *.* TO ?@'%'`, [name]);
    const weak = await createMysqlAdapter({ ...endpoint, user: name, password: undefined });
    try {
      await expect(weak.fence([writer])).rejects.toThrow(/needs the PROCESS privilege/);
      expect(await isLocked(user('w'), '%')).toBe(false);
    } finally {
      await weak.close();
    }
  });

  it('unfence reports accounts that no longer exist', async () => {
    const state = await db.fence([`${user('x')}@127.0.0.1`]);
    await sql.query('DROP USER ?@?', [user('x'), '127.0.0.1']);
    await expect(db.unfence(state)).rejects.toThrow(/no longer exists/);
  });
});

describe('validation', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE TABLE v_a (id INT PRIMARY KEY, s VARCHAR(20), n DECIMAL(10,2), t TIMESTAMP(3) NULL, b VARBINARY(8));
      CREATE TABLE v_b LIKE v_a;
      CREATE TABLE awsdms_status (x INT);
      INSERT INTO v_a VALUES (1, 'one', 1.50, '2024-01-02 03:04:05.678', 0x00ff), (2, NULL, NULL, NULL, NULL), (3, 'NULL', 0, NULL, '');
      INSERT INTO v_b VALUES (3, 'NULL', 0, NULL, ''), (1, 'one', 1.50, '2024-01-02 03:04:05.678', 0x00ff), (2, NULL, NULL, NULL, NULL);`);
  });

  it('lists tables by schema.table patterns in its database, minus excludes and DMS tables', async () => {
    const tables = await db.listTables([`${dbName}.v_%`, 'awsdms_%'], [`${dbName}.v_b`]);
    expect(tables).toEqual([{ schema: dbName, name: 'v_a' }]);
    const bare = await db.listTables(['v_b'], []);
    expect(bare).toEqual([{ schema: dbName, name: 'v_b' }]);
    expect(await db.listTables(['other_db.%'], [])).toEqual([]);
  });

  it('lists system-versioned tables as tables', async () => {
    await sql.query('CREATE TABLE v_hist (id INT PRIMARY KEY) WITH SYSTEM VERSIONING');
    expect(await db.listTables([`${dbName}.v_hist`], [])).toEqual([{ schema: dbName, name: 'v_hist' }]);
    await sql.query('DROP TABLE v_hist');
  });

  it('counts rows exactly', async () => {
    expect(await db.rowCount({ schema: dbName, name: 'v_a' })).toBe(3);
  });

  it('checksums content independent of row order and changes with one value', async () => {
    const a = await db.checksum({ schema: dbName, name: 'v_a' });
    const b = await db.checksum({ schema: dbName, name: 'v_b' });
    expect(a).toMatch(/^3:\d+$/);
    expect(b).toBe(a);
    await sql.query("UPDATE v_b SET s = 'onE' WHERE id = 1");
    const changed = await db.checksum({ schema: dbName, name: 'v_b' });
    expect(changed).not.toBe(a);
    await sql.query("UPDATE v_b SET s = 'one' WHERE id = 1");
    expect(await db.checksum({ schema: dbName, name: 'v_b' })).toBe(a);
    // NULL and the string 'NULL' differ
    await sql.query('UPDATE v_b SET s = NULL WHERE id = 3');
    expect(await db.checksum({ schema: dbName, name: 'v_b' })).not.toBe(a);
    await sql.query("UPDATE v_b SET s = 'NULL' WHERE id = 3");
    // a microsecond of a timestamp counts
    await sql.query("UPDATE v_b SET t = '2024-01-02 03:04:05.679' WHERE id = 1");
    expect(await db.checksum({ schema: dbName, name: 'v_b' })).not.toBe(a);
    await expect(db.checksum({ schema: dbName, name: 'missing' })).rejects.toThrow(/not found/);
  });

  it('checksums keep column boundaries and NULL positions apart', async () => {
    await sql.query(`
      CREATE TABLE v_c (x VARCHAR(10), y VARCHAR(10));
      CREATE TABLE v_d LIKE v_c;
      CREATE TABLE v_e LIKE v_c;
      CREATE TABLE v_f LIKE v_c;
      INSERT INTO v_c VALUES ('a,b', 'c');
      INSERT INTO v_d VALUES ('a', 'b,c');
      INSERT INTO v_e VALUES (NULL, 'x');
      INSERT INTO v_f VALUES ('x', NULL);`);
    const sum = (name: string): Promise<string> => db.checksum({ schema: dbName, name });
    expect(await sum('v_c')).not.toBe(await sum('v_d'));
    expect(await sum('v_e')).not.toBe(await sum('v_f'));
  });

  it('an empty table checksums to 0:0', async () => {
    await sql.query('CREATE TABLE v_empty (id INT PRIMARY KEY)');
    expect(await db.checksum({ schema: dbName, name: 'v_empty' })).toBe('0:0');
  });
});

describe('consistent-point reads', () => {
  beforeAll(async () => {
    await sql.query('CREATE TABLE s_big (id BIGINT PRIMARY KEY, note VARCHAR(20))');
    await sql.query('CREATE TABLE s_pair (a VARCHAR(5), b INT, v VARCHAR(10), PRIMARY KEY (a, b))');
    await sql.query('CREATE TABLE s_bag (v VARCHAR(5))');
    await sql.query("INSERT INTO s_big WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000) SELECT n, CONCAT('n', n) FROM g");
    await sql.query("INSERT INTO s_pair WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 30) SELECT CHAR(97 + n % 3), n, CONCAT('v', n) FROM g");
  });
  const big = (): { schema: string; name: string } => ({ schema: dbName, name: 's_big' });

  it('reads primary keys: one integer column, composite, none', async () => {
    const r = await db.snapshotReader();
    try {
      expect(await r.primaryKey(big())).toEqual({ columns: ['id'], integer: true });
      expect(await r.primaryKey({ schema: dbName, name: 's_pair' })).toEqual({ columns: ['a', 'b'], integer: false });
      expect(await r.primaryKey({ schema: dbName, name: 's_bag' })).toBeUndefined();
      expect(await r.keyExtent(big(), 'id')).toEqual({ min: '1', max: '1000' });
      expect(await r.keySplits({ schema: dbName, name: 's_pair' }, ['a', 'b'], 10)).toEqual([['a', '30'], ['b', '28'], ['c', '29']]);
    } finally {
      await r.close();
    }
  });

  it('a begun reader sees the table as it was, whatever is written after; ranges add up to the whole', async () => {
    const r = await db.snapshotReader();
    try {
      await r.begin();
      const whole = await r.digest(big(), true);
      await sql.query("UPDATE s_big SET note = 'changed' WHERE id = 500");
      await sql.query("INSERT INTO s_big VALUES (1001, 'new')");
      expect(await r.digest(big(), true)).toEqual(whole);
      const parts = await Promise.all([{ to: ['400'] }, { from: ['400'], to: ['700'] }, { from: ['700'] }].map((range) => r.digest(big(), true, { key: ['id'], range })));
      expect(parts.map((p) => p.rows)).toEqual([399, 300, 301]);
      expect(parts.reduce((n, p) => n + BigInt(p.sum ?? '0'), 0n).toString()).toBe(whole.sum);
      const fresh = await db.snapshotReader();
      try {
        expect((await fresh.digest(big(), true)).rows).toBe(1001);
        const then = await r.rowHashes(big(), ['id'], { from: ['499'], to: ['502'] }, 10);
        const now = await fresh.rowHashes(big(), ['id'], { from: ['499'], to: ['502'] }, 10);
        expect([...then.keys()]).toEqual(['[499]', '[500]', '[501]']);
        expect(then.get('[500]')).not.toBe(now.get('[500]'));
        expect(then.get('[499]')).toBe(now.get('[499]'));
      } finally {
        await fresh.close();
      }
      expect((await r.digest({ schema: dbName, name: 's_pair' }, false, { key: ['a', 'b'], range: { from: ['b', '0'], to: ['c', '0'] } })).rows).toBe(10);
    } finally {
      await r.close();
    }
  });

  it('a reader\'s session is rekey\'s own: openSessions leaves it out', async () => {
    const before = await db.openSessions([endpoint.user]);
    const r = await db.snapshotReader();
    try {
      await r.begin();
      expect(await db.openSessions([endpoint.user])).toEqual(before);
    } finally {
      await r.close();
    }
  });

  it('a statement timeout cuts off a long statement (max_statement_time), and the connection stops at its deadline', async () => {
    await sql.query('CREATE OR REPLACE VIEW s_slow AS SELECT SLEEP(2) AS s');
    const bounded = await createMysqlAdapter({ ...endpoint, statementTimeoutMs: 300 });
    try {
      const t0 = Date.now();
      await expect(bounded.rowCount({ schema: dbName, name: 's_slow' })).rejects.toThrow();
      expect(Date.now() - t0).toBeLessThan(1500);
      await new Promise((r) => setTimeout(r, 350));
      await expect(bounded.rowCount(big())).rejects.toThrow(/statement timeout: the fence time box/);
    } finally {
      await bounded.close();
    }
  });
});

describe('AUTO_INCREMENT counters', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE TABLE ai (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT);
      CREATE TABLE ai_empty (k INT AUTO_INCREMENT PRIMARY KEY);
      CREATE TABLE no_ai (id INT PRIMARY KEY);
      INSERT INTO ai (v) VALUES (1), (2), (3);`);
  });

  it('lists one counter per AUTO_INCREMENT table with its next value and column', async () => {
    const seqs = await db.sequences();
    const ai = seqs.find((s) => s.name === `${dbName}.ai`);
    expect(ai).toEqual({ name: `${dbName}.ai`, nextValue: 4n, columns: [{ schema: dbName, name: 'ai', column: 'id' }] });
    expect(seqs.find((s) => s.name === `${dbName}.ai_empty`)?.nextValue).toBe(1n);
    expect(seqs.some((s) => s.name === `${dbName}.no_ai`)).toBe(false);
  });

  it('columnMax is exact, null on an empty table', async () => {
    expect(await db.columnMax({ schema: dbName, name: 'ai' }, 'id')).toBe(3n);
    expect(await db.columnMax({ schema: dbName, name: 'ai_empty' }, 'k')).toBeNull();
  });

  it('raises the counter, never lowers it', async () => {
    await db.raiseSequence(`${dbName}.ai`, 100n);
    const next = async (): Promise<bigint | null | undefined> =>
      (await db.sequences()).find((s) => s.name === `${dbName}.ai`)?.nextValue;
    expect(await next()).toBe(100n);
    await sql.query('INSERT INTO ai (v) VALUES (4)');
    expect(await db.columnMax({ schema: dbName, name: 'ai' }, 'id')).toBe(100n);
    await db.raiseSequence(`${dbName}.ai`, 50n);
    expect(await next()).toBe(101n);
    await sql.query('INSERT INTO ai (v) VALUES (5)');
    expect(await db.columnMax({ schema: dbName, name: 'ai' }, 'id')).toBe(101n);
    // beyond 2^53: exact as bigint
    await db.raiseSequence(`${dbName}.ai`, 9007199254740999n);
    expect(await next()).toBe(9007199254740999n);
    await expect(db.raiseSequence(`${dbName}.no_ai`, 5n)).rejects.toThrow(/AUTO_INCREMENT column not found/);
  });
});

// RDS and Aurora give the master user neither SUPER nor CONNECTION ADMIN, and keep binlog retention in
// mysql.rds_show_configuration. A dedicated server (the procedures live in its mysql schema) plays that part with
// stand-ins of the two RDS procedures and a master account without the right to kill others' sessions.
describe('on an RDS-like server', () => {
  let rds: LocalServer | undefined;
  let rdsDir: string | undefined;
  let root: Connection;
  let master: DbAdapter;

  async function retentionProcedure(value: string): Promise<void> {
    await root.query('DROP PROCEDURE IF EXISTS mysql.rds_show_configuration');
    await root.query(
      `CREATE PROCEDURE mysql.rds_show_configuration() SQL SECURITY DEFINER
       SELECT 'binlog retention hours' AS name, ${value} AS value, 'binlogs are retained this long' AS description`,
    );
  }

  beforeAll(async () => {
    rdsDir = await mkdtemp(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), 'rekey-dbmy-rds-'));
    await chmod(rdsDir, 0o755);
    rds = await startMariadb({ dir: join(rdsDir, 'my'), serverId: 7 });
    const url = new URL(rds.adminUrl);
    root = await mysql.createConnection({ host: url.hostname, port: Number(url.port), user: 'root', multipleStatements: true });
    await root.query(`
      CREATE DATABASE app;
      CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY);
      CREATE PROCEDURE mysql.rds_kill(IN thread BIGINT) SQL SECURITY DEFINER KILL CONNECTION thread;
      CREATE USER 'admin'@'%';
      GRANT CREATE USER, PROCESS, REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO 'admin'@'%';
      GRANT SELECT, EXECUTE ON mysql.* TO 'admin'@'%';
      GRANT ALL PRIVILEGES ON app.* TO 'admin'@'%';
      CREATE USER 'webapp'@'%';
      GRANT SELECT, INSERT ON app.* TO 'webapp'@'%';`);
    await retentionProcedure('NULL');
    master = await createMysqlAdapter({ host: url.hostname, port: Number(url.port), database: 'app', user: 'admin' });
  }, 60_000);

  afterAll(async () => {
    await master?.close();
    await root?.end();
    await rds?.stop();
    if (rdsDir) await rm(rdsDir, { recursive: true, force: true });
  }, 60_000);

  it('reads binlog retention hours from mysql.rds_show_configuration; unset is an error', async () => {
    expect(await master.binlogRetentionHours!()).toBe(0);
    const unset = (await master.replicationChecks()).find((c) => c.id === 'mysql.binlog_retention');
    expect(unset).toMatchObject({ ok: false, severity: 'error' });
    expect(unset?.message).toMatch(/rds_set_configuration\('binlog retention hours', 24\)/);
    await retentionProcedure("'48'");
    expect(await master.binlogRetentionHours!()).toBe(48);
    const set = (await master.replicationChecks()).find((c) => c.id === 'mysql.binlog_retention');
    expect(set).toMatchObject({ ok: true, message: 'binlogs are kept 48 h' });
  });

  it('fences through mysql.rds_kill when KILL is denied, and unfences', async () => {
    expect(await master.writerPrincipals([])).toEqual(['webapp@%']);
    const url = new URL(rds!.adminUrl);
    const session = await mysql.createConnection({ host: url.hostname, port: Number(url.port), user: 'webapp', database: 'app' });
    session.on('error', () => undefined);
    await session.query('INSERT INTO t VALUES ()');
    const state = await master.fence(['webapp@%']);
    await expect(session.query('INSERT INTO t VALUES ()')).rejects.toThrow();
    const [rows] = await root.query<RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = 'webapp'");
    expect(Number(rows[0]?.n)).toBe(0);
    await master.unfence(state);
    const again = await mysql.createConnection({ host: url.hostname, port: Number(url.port), user: 'webapp', database: 'app' });
    await again.query('INSERT INTO t VALUES ()');
    await again.end();
    await session.end().catch(() => undefined);
  });
});
