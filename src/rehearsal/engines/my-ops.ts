// The MariaDB work behind the fake APIs: the rehearsal's own accounts, snapshot (mariadb-dump at a binlog
// position), restore (accounts as of the snapshot, the dump), CDC by native binlog replication, lag.
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { installReplicationProcedures } from './rds-procedures.js';
import { findExecutable } from '../servers/index.js';
import type { Backend } from '../registry.js';
import { binlogPositionValue } from '../../db/position.js';
import type { BinlogPosition } from '../../db/types.js';

/** The replication account the rehearsal creates on its servers (REPLICATION SLAVE only); named as on RDS, so the fence leaves it alone. */
export const REPLICATION_USER = 'rdsrepladmin';

/** Accounts a snapshot never carries: the servers' own, and the rehearsal's. */
const SYSTEM_USERS = new Set(['root', 'mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema', 'rdsadmin', REPLICATION_USER, '']);

/** Databases of the server itself. */
export const SYSTEM_DATABASES = new Set(['mysql', 'information_schema', 'performance_schema', 'sys']);

/** Connection options for a backend (the password comes from the environment, never stored). */
export function myConfig(b: Backend, database: string | undefined = b.database): mysql.ConnectionOptions {
  const password = b.passwordEnv !== undefined ? process.env[b.passwordEnv] : undefined;
  return {
    host: b.host, port: b.port, user: b.user, connectTimeout: 10_000, ...(database !== undefined && database !== '' ? { database } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/** Run `fn` with a connection; always closes it. */
export async function withMy<T>(options: mysql.ConnectionOptions, fn: (c: Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection(options);
  conn.on('error', () => undefined);
  try {
    return await fn(conn);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** Rows of a query. */
export async function rows<R>(c: Connection, sql: string, params: unknown[] = []): Promise<R[]> {
  const [result] = await c.query<RowDataPacket[]>(sql, params);
  return result as unknown as R[];
}

/** Quote an identifier. */
export const myIdent = (name: string): string => `\`${name.replace(/`/g, '``')}\``;
/** Quote a string literal. */
export const myLiteral = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Set up a rehearsal server: the cloud's own admin account (like AWS's rdsadmin: outside the fence), the
 * replication account, and Aurora's binlog retention procedures. Connects as root (passwordless, local).
 */
export async function prepareMyServer(host: string, port: number, admin: string): Promise<void> {
  await withMy({ host, port, user: 'root', connectTimeout: 10_000 }, async (c) => {
    await c.query(`CREATE USER IF NOT EXISTS ${myLiteral(admin)}@'%'`);
    await c.query(`GRANT ALL PRIVILEGES ON *.* TO ${myLiteral(admin)}@'%' WITH GRANT OPTION`);
    await c.query(`ALTER USER ${myLiteral(admin)}@'%' ACCOUNT UNLOCK`);
    await c.query(`CREATE USER IF NOT EXISTS ${myLiteral(REPLICATION_USER)}@'%'`);
    await c.query(`GRANT REPLICATION SLAVE ON *.* TO ${myLiteral(REPLICATION_USER)}@'%'`);
    // Aurora MySQL keeps binlogs by this setting (mysql.rds_set_configuration), not expire_logs_*.
    await c.query('CREATE TABLE IF NOT EXISTS mysql.rekey_rds_configuration (name VARCHAR(64) PRIMARY KEY, value VARCHAR(64) NULL)');
    await c.query("INSERT IGNORE INTO mysql.rekey_rds_configuration VALUES ('binlog retention hours', '24')");
    await c.query('DROP PROCEDURE IF EXISTS mysql.rds_show_configuration');
    await c.query(
      `CREATE DEFINER = ${myLiteral(admin)}@'%' PROCEDURE mysql.rds_show_configuration() SQL SECURITY DEFINER
       SELECT name, value, 'binlogs are retained this long' AS description FROM mysql.rekey_rds_configuration`,
    );
    await c.query('DROP PROCEDURE IF EXISTS mysql.rds_set_configuration');
    await c.query(
      `CREATE DEFINER = ${myLiteral(admin)}@'%' PROCEDURE mysql.rds_set_configuration(IN n VARCHAR(64), IN v INT) SQL SECURITY DEFINER
       REPLACE INTO mysql.rekey_rds_configuration VALUES (n, v)`,
    );
    await installReplicationProcedures(c, admin);
    // DMS reads MySQL binlogs without event checksums (the parameter group says NONE; the server agrees).
    const [checksum] = await rows<{ v: string }>(c, 'SELECT @@GLOBAL.binlog_checksum AS v');
    if (checksum?.v !== 'NONE') await c.query("SET GLOBAL binlog_checksum = 'NONE'");
  });
}

/** Start a MariaDB tool with the backend's credentials; resolves with stdout when it exits 0. */
async function runMyTool(tool: string, args: string[], b: Backend, stdinFile?: string): Promise<void> {
  const bin = (await findExecutable(tool)) ?? (await findExecutable(tool.replace(/^mariadb/, 'mysql')));
  if (bin === undefined) throw new Error(`${tool} not found (apt-get install mariadb-client)`);
  const password = b.passwordEnv !== undefined ? process.env[b.passwordEnv] : undefined;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...(password !== undefined ? { MYSQL_PWD: password } : {}) };
  const conn = ['--no-defaults', '-h', b.host, '-P', String(b.port), '-u', b.user, '--protocol=TCP'];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(bin, [...conn, ...args], { env, stdio: [stdinFile !== undefined ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString('utf8')).slice(-4000);
    });
    if (stdinFile !== undefined && child.stdin) createReadStream(stdinFile).on('error', reject).pipe(child.stdin);
    child.once('error', reject);
    child.once('close', (code, sig) => {
      if (code === 0) resolve();
      else reject(new Error(`${tool} failed (${sig ?? `exit ${String(code)}`}): ${err.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

/** An account as it was at snapshot time: its CREATE USER (with password hash and lock state) and grants. */
interface AccountSnapshot {
  user: string;
  host: string;
  create: string;
  grants: string[];
}

function isGoneAccount(err: unknown): boolean {
  const e = err as { errno?: number; message?: string };
  return e.errno === 1396 || e.errno === 1141 || e.errno === 1133 || /matching row in the user table/i.test(e.message ?? '');
}

async function readAccounts(c: Connection): Promise<AccountSnapshot[]> {
  const users = await rows<{ User: string; Host: string }>(c, 'SELECT User, Host FROM mysql.user ORDER BY User, Host');
  const out: AccountSnapshot[] = [];
  for (const u of users) {
    if (SYSTEM_USERS.has(u.User) || u.Host === 'localhost') continue;
    const name = `${myLiteral(u.User)}@${myLiteral(u.Host)}`;
    let create: Record<string, string> | undefined;
    let grants: Record<string, string>[];
    try {
      [create] = await rows<Record<string, string>>(c, `SHOW CREATE USER ${name}`);
      grants = await rows<Record<string, string>>(c, `SHOW GRANTS FOR ${name}`);
    } catch (err) {
      // Dropped between the listing and now (ER_CANNOT_USER 1396 / ER_NONEXISTING_GRANT 1141, or "no matching row"):
      // an account that no longer exists is simply not part of the snapshot.
      if (isGoneAccount(err)) continue;
      throw err;
    }
    out.push({ user: u.User, host: u.Host, create: Object.values(create ?? {})[0] ?? `CREATE USER ${name}`, grants: grants.map((g) => Object.values(g)[0] ?? '').filter((g) => g !== '') });
  }
  return out;
}

/** Parse the `-- CHANGE MASTER TO MASTER_LOG_FILE='f', MASTER_LOG_POS=n;` line of a --master-data=2 dump. */
export function dumpPosition(head: string): BinlogPosition | undefined {
  const m = /CHANGE MASTER TO MASTER_LOG_FILE='([^']+)',\s*MASTER_LOG_POS=(\d+)/.exec(head);
  return m?.[1] !== undefined && m[2] !== undefined ? { file: m[1], position: Number(m[2]) } : undefined;
}

/**
 * The first `bytes` of a file, read without blocking: the rehearsal's endpoint proxies and write load share this
 * process, so reading a whole dump of millions of rows at once would stall every write for seconds.
 */
async function fileHead(path: string, bytes: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await file.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await file.close();
  }
}

/** Dump the database with its binlog position (consistent snapshot), and its accounts (0600 file: password hashes). */
export async function takeMyDump(b: Backend, dumpFile: string, accountsFile: string): Promise<BinlogPosition> {
  const accounts = await withMy(myConfig(b, ''), readAccounts);
  writeFileSync(accountsFile, JSON.stringify(accounts), { mode: 0o600 });
  await runMyTool('mariadb-dump', [
    '--single-transaction', '--master-data=2', '--routines', '--triggers', '--events', '--hex-blob', '--databases', b.database, `--result-file=${dumpFile}`,
  ], b);
  const pos = dumpPosition(await fileHead(dumpFile, 64 * 1024));
  if (!pos) throw new Error('mariadb-dump wrote no CHANGE MASTER position (is the binary log on?)');
  return pos;
}

/** Load a dump into the target server: the accounts as of the snapshot, then the database (replaced). */
export async function restoreMyDump(target: Backend, dumpFile: string, accountsFile: string): Promise<void> {
  const accounts = JSON.parse(readFileSync(accountsFile, 'utf8')) as AccountSnapshot[];
  await withMy(myConfig(target, ''), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${myIdent(target.database)}`);
    for (const a of accounts) {
      const name = `${myLiteral(a.user)}@${myLiteral(a.host)}`;
      await c.query(`DROP USER IF EXISTS ${name}`);
      await c.query(a.create);
      for (const g of a.grants) await c.query(g);
    }
  });
  await runMyTool('mariadb', [], target, dumpFile);
}

/** Drop a database (missing is fine). */
export async function dropMyDatabase(admin: Backend, database: string): Promise<void> {
  await withMy(myConfig(admin, ''), async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${myIdent(database)}`);
  });
}

/** Binary logs on a server (SHOW BINARY LOGS): name and size. */
export async function binaryLogs(b: Backend): Promise<{ name: string; size: number }[]> {
  return withMy(myConfig(b, ''), async (c) => (await rows<{ Log_name: string; File_size: string | number }>(c, 'SHOW BINARY LOGS')).map((r) => ({ name: r.Log_name, size: Number(r.File_size) })));
}

/** The server's current binlog position (SHOW MASTER STATUS). */
export async function masterPosition(c: Connection): Promise<BinlogPosition> {
  const [row] = await rows<{ File: string; Position: string | number }>(c, 'SHOW MASTER STATUS');
  if (!row) throw new Error('SHOW MASTER STATUS returned nothing: the binary log is off');
  return { file: row.File, position: Number(row.Position) };
}

/** What SHOW SLAVE STATUS says, in the parts the cloud uses. */
export interface SlaveStatus {
  /** Slave_IO_Running: Yes, No, Connecting, Preparing. */
  io: string;
  /** Slave_SQL_Running. */
  sql: string;
  /** Master_Log_File:Read_Master_Log_Pos (received). */
  read: BinlogPosition;
  /** Relay_Master_Log_File:Exec_Master_Log_Pos (applied). */
  exec: BinlogPosition;
  /** Seconds_Behind_Master (null when a thread is stopped). */
  secondsBehind: number | null;
  /** Last IO or SQL error, if any. */
  error?: string;
}

/** SHOW SLAVE STATUS of the default connection; undefined when none is configured. */
export async function slaveStatus(c: Connection): Promise<SlaveStatus | undefined> {
  const [r] = await rows<Record<string, string | number | null>>(c, 'SHOW SLAVE STATUS');
  if (!r) return undefined;
  const s = (k: string): string => (r[k] === null || r[k] === undefined ? '' : String(r[k]));
  const error = [s('Last_IO_Error'), s('Last_SQL_Error')].filter((e) => e !== '').join('; ');
  return {
    io: s('Slave_IO_Running'), sql: s('Slave_SQL_Running'),
    read: { file: s('Master_Log_File'), position: Number(s('Read_Master_Log_Pos')) },
    exec: { file: s('Relay_Master_Log_File'), position: Number(s('Exec_Master_Log_Pos')) },
    secondsBehind: r.Seconds_Behind_Master === null || r.Seconds_Behind_Master === undefined ? null : Number(r.Seconds_Behind_Master),
    ...(error !== '' ? { error } : {}),
  };
}

/** Stop and forget the replica of a server (the default connection) and its filters. */
export async function resetReplica(target: Backend): Promise<void> {
  await withMy(myConfig(target, ''), async (c) => {
    await c.query('STOP SLAVE');
    await c.query('RESET SLAVE ALL');
    await c.query("SET GLOBAL replicate_wild_do_table = ''");
    await c.query("SET GLOBAL replicate_ignore_table = ''");
  });
}

/** START SLAVE / STOP SLAVE on the target. */
export async function setReplicaRunning(target: Backend, running: boolean): Promise<void> {
  await withMy(myConfig(target, ''), async (c) => {
    await c.query(running ? 'START SLAVE' : 'STOP SLAVE');
  });
}

/**
 * The login a replica uses on `source`: the rehearsal's replication account on its own servers; on an adopted
 * server (rehearsal.source.url) the adopted user itself, with its password from the environment when it needs one.
 */
export function replicationLogin(source: Backend): { user: string; password?: string } {
  if (source.server !== 'external') return { user: REPLICATION_USER };
  const password = source.passwordEnv !== undefined ? process.env[source.passwordEnv] : undefined;
  return { user: source.user, ...(password !== undefined ? { password } : {}) };
}

/** Wait (at most `timeoutMs`) until both replica threads of the target run; the replica's error when they do not. */
export async function replicaStartProblem(target: Backend, timeoutMs = 10_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await withMy(myConfig(target, ''), slaveStatus);
    if (!st) return 'no replica is configured';
    if (st.io === 'Yes' && st.sql === 'Yes') return undefined;
    // A stopped thread is final; a failing login keeps the IO thread "Connecting", so its error counts only at the deadline.
    if (st.error !== undefined && (st.io === 'No' || st.sql === 'No' || Date.now() >= deadline)) return st.error;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Point the target server's replica at the source from `from`, replicating only `doTables`, and start it. */
export async function startReplica(opts: {
  target: Backend;
  sourceHost: string;
  sourcePort: number;
  user: string;
  password?: string;
  from: BinlogPosition;
  doTables: string[];
  /** Exact db.table names left out: replicate_ignore_table is checked before the wild do-patterns (wild ignores are not). */
  ignoreTables: string[];
}): Promise<void> {
  await withMy(myConfig(opts.target, ''), async (c) => {
    await c.query('STOP SLAVE');
    await c.query('RESET SLAVE ALL');
    // Filters may only change while the replica is stopped; they are global, as replication is per server.
    await c.query(`SET GLOBAL replicate_wild_do_table = ${myLiteral(opts.doTables.join(','))}`);
    await c.query(`SET GLOBAL replicate_ignore_table = ${myLiteral(opts.ignoreTables.join(','))}`);
    await c.query(
      `CHANGE MASTER TO MASTER_HOST = ${myLiteral(opts.sourceHost)}, MASTER_PORT = ${opts.sourcePort}, MASTER_USER = ${myLiteral(opts.user)},
         MASTER_PASSWORD = ${myLiteral(opts.password ?? '')}, MASTER_LOG_FILE = ${myLiteral(opts.from.file)}, MASTER_LOG_POS = ${opts.from.position},
         MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = no`,
    );
    await c.query('START SLAVE');
  });
}

/** Tables of a database (base tables). */
export async function myTables(b: Backend): Promise<string[]> {
  return withMy(myConfig(b, ''), async (c) =>
    (await rows<{ t: string }>(c, "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", [b.database])).map((r) => r.t),
  );
}

/** Transactions (Xid events) in the source's binlog after `from`, at most `limit`: the changes not yet applied. */
export async function pendingTransactions(c: Connection, from: BinlogPosition, current: BinlogPosition, limit = 5000): Promise<number> {
  if (binlogPositionValue(from) >= binlogPositionValue(current) || from.file === '') return 0;
  const events = await rows<{ Event_type: string }>(c, `SHOW BINLOG EVENTS IN ${myLiteral(from.file)} FROM ${from.position} LIMIT ${limit}`);
  return events.filter((e) => e.Event_type === 'Xid').length;
}
