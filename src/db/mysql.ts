// The MySQL/MariaDB adapter: binlog preflight checks, binlog positions, sentinel, account fence, validation and
// AUTO_INCREMENT counters against one database (MySQL schema) through one small mysql2 pool. Written for MariaDB
// 10.4+, MySQL 8 and Aurora MySQL v3. Values go in as placeholders; identifiers are quoted with quoteIdent.
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import mysql from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, RowDataPacket } from 'mysql2/promise';
import { describeEndpoint, errorText, filterTables, isDmsArtefact, keyRangePredicate, pollUntil, quoteIdent, quoteTable } from './sql.js';
import type {
  BinaryLog,
  BinlogPosition,
  Check,
  ColumnConcern,
  DbAdapter,
  DbEndpoint,
  FenceOptions,
  FenceState,
  KeyRange,
  OpenSession,
  PrimaryKey,
  RowsDigest,
  SequenceState,
  SlotInfo,
  SnapshotReader,
  TableRef,
  TableSize,
  Writability,
} from './types.js';
import { normalizeAddress, withPreviousBefore } from './types.js';
import { compareBinlogPositions, formatBinlogPosition, parseBinlogPosition, parseReplicaStatus } from './position.js';

export { compareBinlogPositions, formatBinlogPosition, parseBinlogPosition, parseReplicaStatus };
import { myNative } from './native.js';
import type { MyNative } from './native.js';

/** information_schema.TABLES.TABLE_TYPE values of tables holding rows (MariaDB system-versioned tables included). */
const BASE_TABLE = "TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')";

/** How long fence waits for killed sessions to disappear. */
const KILL_WAIT_MS = 10_000;

/** Below this many hours of binlog retention preflight warns: snapshot + restore + catch-up must fit in it. */
const SHORT_RETENTION_HOURS = 24;

/**
 * Accounts writerPrincipals never offers: the servers' own system accounts (MariaDB, MySQL, RDS/Aurora) and `root`,
 * the local superuser of a self-managed server (RDS has none; its master user is named in the runbook). An
 * application writing as root is not fenced by default: name it in the fence's principals explicitly.
 */
const SYSTEM_USERS = new Set(['mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema', 'rdsadmin', 'rdsrepladmin', 'root']);

/** MySQL error numbers the adapter reacts to. */
const ER = {
  parse: 1064,
  unknownThread: 1094,
  killDenied: 1095,
  noSuchTable: 1146,
  unknownSystemVariable: 1193,
  noSuchProcedure: 1305,
} as const;

/** An account as `user@host`; the host part is everything after the last `@`. */
export interface Account {
  /** User name. */
  user: string;
  /** Host pattern, e.g. `%`, `localhost`, `10.0.%`. */
  host: string;
}

/** `user@host` as people write it (unquoted). */
export function accountName(a: Account): string {
  return `${a.user}@${a.host}`;
}

/** Parses `user@host`; a name without `@` has no host (`host` undefined: any host). */
export function parseAccount(name: string): { user: string; host: string | undefined } {
  const at = name.lastIndexOf('@');
  return at < 0 ? { user: name, host: undefined } : { user: name.slice(0, at), host: name.slice(at + 1) };
}

/** The mysql2 pool settings for an endpoint, built from fields so no URL with a password exists anywhere. */
export function poolOptions(endpoint: DbEndpoint): PoolOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: endpoint.user,
    password: endpoint.password,
    // RDS certificates verify against the RDS CA bundle: point NODE_EXTRA_CA_CERTS at it.
    ssl: endpoint.tls ? { rejectUnauthorized: true } : undefined,
    connectionLimit: 3,
    maxIdle: 3,
    idleTimeout: 10_000,
    connectTimeout: 15_000,
    // BIGINT / DECIMAL as strings: counters and sums must not lose digits in a JS number.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    multipleStatements: false,
  };
}

/** Session settings for every pooled connection: UTC (TIMESTAMP text is zone-dependent) and fresh statistics. */
const SESSION_SQL = ["SET time_zone = '+00:00'", 'SET SESSION information_schema_stats_expiry = 0'];

const where = (endpoint: DbEndpoint): string => describeEndpoint('mysql', endpoint);

function errno(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'errno' in err && typeof err.errno === 'number' ? err.errno : undefined;
}

/** A PostgreSQL-only operation called on a MySQL adapter. */
function unsupported(what: string, hint = 'it is a PostgreSQL replication-slot operation'): Promise<never> {
  return Promise.reject(new Error(`${what} is not supported on MySQL: ${hint}`));
}



/**
 * Thread ids of rekey's live connections, by server (host:port): MySQL sessions carry no application name, so
 * this is how rekey tells its sessions from an application's that uses the same account. An id leaves the set
 * when its connection closes: after a restart or a failover behind the same endpoint, ids start again from 1,
 * and an application's session must not pass for rekey's.
 */
const ownThreads = new Map<string, Set<number>>();
const serverKey = (endpoint: DbEndpoint): string => `${endpoint.host}:${endpoint.port}`;

/** A PROCESSLIST HOST as an address: `local` for a socket, the port cut off, a name resolved (all addresses, joined by /). */
export async function clientAddress(host: string | null): Promise<string> {
  if (!host || host === 'localhost') return 'local';
  if (isIP(host)) return normalizeAddress(host);
  const bare = /^\[(.*)\]:\d+$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '');
  if (isIP(bare)) return normalizeAddress(bare);
  try {
    return (await lookup(bare, { all: true })).map((a) => normalizeAddress(a.address)).join('/');
  } catch {
    return bare;
  }
}

/** Opens a pool to the endpoint, proves it with one round trip and returns the adapter. */
/**
 * A pool whose connections are registered as rekey's own (openSessions leaves them out) and carry the session
 * settings; with a statement timeout, the server cuts statements off and the pool stops waiting at the deadline.
 */
function openPool(endpoint: DbEndpoint, options: PoolOptions = poolOptions(endpoint)): Pool {
  const pool = mysql.createPool(options);
  const own = ownThreads.get(serverKey(endpoint)) ?? new Set<number>();
  ownThreads.set(serverKey(endpoint), own);
  const timeout = endpoint.statementTimeoutMs;
  const sessionSql = [
    ...SESSION_SQL,
    // MariaDB takes seconds (max_statement_time), MySQL milliseconds for SELECTs (max_execution_time); each ignores the other's.
    ...(timeout !== undefined ? [`SET SESSION max_statement_time = ${Math.max(0.001, timeout / 1000).toFixed(3)}`, `SET SESSION max_execution_time = ${Math.max(1, Math.ceil(timeout))}`] : []),
  ];
  // Runs before any query of the new connection: mysql2 sends a connection's commands in order.
  pool.pool.on('connection', (conn) => {
    const id = conn.threadId;
    if (typeof id === 'number') {
      own.add(id);
      const forget = (): void => {
        own.delete(id);
      };
      conn.once('end', forget);
      (conn as unknown as { stream?: { once?: (event: string, fn: () => void) => void } }).stream?.once?.('close', forget);
    }
    for (const sql of sessionSql) {
      // MariaDB has no information_schema_stats_expiry (its statistics are never cached): ignore that error.
      conn.query(sql, () => undefined);
    }
  });
  if (timeout !== undefined) {
    const deadline = Date.now() + timeout;
    const query = pool.query.bind(pool) as (options: { sql: string; timeout: number }, values?: unknown) => Promise<unknown>;
    const bounded = (sql: string, values?: unknown): Promise<unknown> => {
      const left = deadline - Date.now();
      if (left <= 0) return Promise.reject(new Error(`statement timeout: the fence time box (${timeout} ms for this connection) is spent`));
      return query({ sql, timeout: left }, values);
    };
    (pool as unknown as { query: typeof bounded }).query = bounded;
  }
  return pool;
}

export async function createMysqlAdapter(endpoint: DbEndpoint): Promise<DbAdapter> {
  const pool = openPool(endpoint);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot connect to ${where(endpoint)}: ${errorText(err)}`, { cause: err });
  }
  return new MysqlAdapter(pool, endpoint);
}

/** Why DMS may mishandle a column (MySQL source limits), by information_schema.COLUMNS; undefined if fine. */
export function mysqlColumnConcern(dataType: string, extra: string): string | undefined {
  if (/\b(VIRTUAL|STORED|PERSISTENT)\b/i.test(extra)) {
    return 'generated column: each server computes it; CDC row images carry its value, which the target rejects for a generated column unless the task leaves the column out';
  }
  switch (dataType.toLowerCase()) {
    case 'json':
      return 'JSON: DMS carries it as a LOB (truncated above LobMaxSize in limited LOB mode) and cannot read partial JSON updates (binlog_row_value_options=PARTIAL_JSON)';
    case 'geometry':
    case 'point':
    case 'linestring':
    case 'polygon':
    case 'multipoint':
    case 'multilinestring':
    case 'multipolygon':
    case 'geometrycollection':
    case 'geomcollection':
      return `spatial type ${dataType}: DMS support for spatial columns depends on its version and target; validate these values after the move`;
    case 'bit':
      return 'BIT: DMS converts it to a byte string; multi-bit values may not round-trip as written: validate them';
    case 'text':
    case 'mediumtext':
    case 'longtext':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
      return `${dataType}: a LOB for DMS; in limited LOB mode values above LobMaxSize (default 32 KB) are truncated: use full LOB mode or raise LobMaxSize`;
  }
  return undefined;
}

/** The privileges a SHOW GRANTS result gives on *.* (upper case; `ALL PRIVILEGES` stands for all). Roles are not expanded. */
export function globalPrivileges(grants: string[]): Set<string> {
  const privs = new Set<string>();
  for (const g of grants) {
    const m = /^GRANT (.+?) ON \*\.\* TO /i.exec(g);
    if (m?.[1]) for (const p of m[1].split(',')) privs.add(p.trim().toUpperCase());
  }
  if (privs.has('ALL')) privs.add('ALL PRIVILEGES');
  return privs;
}

/** Which privileges a SHOW GRANTS result gives on *.* for replication (aliases of MariaDB 10.5+ and MySQL 8 included). */
export function replicationGrants(grants: string[]): { client: boolean; slave: boolean } {
  const privs = globalPrivileges(grants);
  const all = privs.has('ALL PRIVILEGES');
  return {
    client: all || privs.has('REPLICATION CLIENT') || privs.has('BINLOG MONITOR'),
    slave: all || privs.has('REPLICATION SLAVE') || privs.has('REPLICATION REPLICA'),
  };
}

class MysqlAdapter implements DbAdapter {
  readonly engine = 'mysql' as const;
  private userColumns: Promise<Set<string>> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly endpoint: DbEndpoint,
  ) {}

  readonly myNative: MyNative = myNative((sql, params) => this.rows(sql, params));

  private async rows<R>(sql: string, params: unknown[] = []): Promise<R[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(sql, params);
    return rows as R[];
  }

  private async one<R>(sql: string, params: unknown[] = []): Promise<R> {
    const [row] = await this.rows<R>(sql, params);
    if (row === undefined) throw new Error(`query returned no row on ${where(this.endpoint)}`);
    return row;
  }

  private get db(): string {
    return this.endpoint.database;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async serverVersion(): Promise<string> {
    return (await this.one<{ v: string }>('SELECT VERSION() AS v')).v;
  }

  private async variables(names: string[]): Promise<Map<string, string>> {
    const rows = await this.rows<{ Variable_name: string; Value: string }>(
      'SHOW GLOBAL VARIABLES WHERE Variable_name IN (?)',
      [names],
    );
    return new Map(rows.map((r) => [r.Variable_name.toLowerCase(), r.Value]));
  }

  // --- preflight

  async replicationChecks(): Promise<Check[]> {
    const v = await this.variables([
      'log_bin',
      'binlog_format',
      'binlog_row_image',
      'server_id',
      'binlog_checksum',
      'binlog_transaction_compression',
      'log_bin_compress',
    ]);
    const checks: Check[] = [];
    const logBin = (v.get('log_bin') ?? 'OFF').toUpperCase();
    checks.push({
      id: 'mysql.log_bin',
      ok: logBin === 'ON' || logBin === '1',
      severity: 'error',
      message:
        logBin === 'ON' || logBin === '1'
          ? 'binary logging is on'
          : 'binary logging is off: DMS CDC reads the binary log (RDS/Aurora: turn on automated backups / set binlog_format in the cluster parameter group and reboot)',
    });
    const format = (v.get('binlog_format') ?? 'unknown').toUpperCase();
    checks.push({
      id: 'mysql.binlog_format',
      ok: format === 'ROW',
      severity: 'error',
      message: format === 'ROW' ? 'binlog_format is ROW' : `binlog_format is ${format}; DMS CDC needs ROW`,
    });
    const image = (v.get('binlog_row_image') ?? 'FULL').toUpperCase();
    checks.push({
      id: 'mysql.binlog_row_image',
      ok: image === 'FULL',
      severity: 'error',
      message: image === 'FULL' ? 'binlog_row_image is FULL' : `binlog_row_image is ${image}; DMS CDC needs FULL`,
    });
    const serverId = Number(v.get('server_id') ?? 0);
    checks.push({
      id: 'mysql.server_id',
      ok: serverId >= 1,
      severity: 'error',
      message: serverId >= 1 ? `server_id is ${serverId}` : 'server_id is 0: DMS needs a server_id of 1 or more',
    });
    const checksum = (v.get('binlog_checksum') ?? 'NONE').toUpperCase();
    checks.push({
      id: 'mysql.binlog_checksum',
      ok: checksum === 'NONE',
      severity: 'warning',
      message:
        checksum === 'NONE'
          ? 'binlog_checksum is NONE'
          : `binlog_checksum is ${checksum}: the DMS MySQL source page asks for NONE; recent DMS versions read ${checksum} too — check yours`,
    });
    const compression = v.get('binlog_transaction_compression') ?? v.get('log_bin_compress');
    if (compression !== undefined) {
      const on = compression.toUpperCase() === 'ON' || compression === '1';
      checks.push({
        id: 'mysql.binlog_compression',
        ok: !on,
        severity: 'error',
        message: on ? 'binary log compression is on: DMS cannot read compressed binlog events' : 'binary log compression is off',
      });
    }
    checks.push(await this.retentionCheck());
    checks.push(await this.grantsCheck());
    return checks;
  }

  private async retentionCheck(): Promise<Check> {
    let hours: number | null;
    try {
      hours = await this.binlogRetentionHours();
    } catch (err) {
      return { id: 'mysql.binlog_retention', ok: false, severity: 'error', message: `cannot read binlog retention: ${errorText(err)}` };
    }
    if (hours === null) {
      return { id: 'mysql.binlog_retention', ok: true, severity: 'warning', message: 'binary logs are never purged automatically' };
    }
    if (hours <= 0) {
      return {
        id: 'mysql.binlog_retention',
        ok: false,
        severity: 'error',
        message:
          "binlog retention is not set: binlogs may be purged before DMS reads them (RDS/Aurora: CALL mysql.rds_set_configuration('binlog retention hours', 24))",
      };
    }
    const short = hours < SHORT_RETENTION_HOURS;
    return {
      id: 'mysql.binlog_retention',
      ok: !short,
      severity: 'warning',
      message: short
        ? `binlogs are kept ${hours} h: snapshot, restore and catch-up must finish within that or the CDC start position is purged`
        : `binlogs are kept ${hours} h`,
    };
  }

  private async myGrants(): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SHOW GRANTS');
    return rows.map((r) => String(Object.values(r)[0] ?? ''));
  }

  private async grantsCheck(): Promise<Check> {
    const me = await this.currentUser();
    const { client, slave } = replicationGrants(await this.myGrants());
    const missing = [client ? undefined : 'REPLICATION CLIENT', slave ? undefined : 'REPLICATION SLAVE'].filter((x) => x !== undefined);
    return {
      id: 'mysql.replication_privileges',
      ok: missing.length === 0,
      severity: 'error',
      message:
        missing.length === 0
          ? `${me} has REPLICATION CLIENT and REPLICATION SLAVE`
          : `${me} lacks ${missing.join(' and ')} on *.* (grants through roles are not counted)`,
    };
  }

  async binlogRetentionHours(): Promise<number | null> {
    try {
      // RDS and Aurora ignore expire_logs_*: their retention is this configuration value (NULL: not retained).
      const [sets] = await this.pool.query<RowDataPacket[][]>('CALL mysql.rds_show_configuration');
      const rows = (sets.find((s) => Array.isArray(s)) ?? []) as { name?: string; value?: string | null }[];
      const row = rows.find((r) => r.name === 'binlog retention hours');
      return row?.value === null || row?.value === undefined ? 0 : Number(row.value);
    } catch (err) {
      if (errno(err) !== ER.noSuchProcedure) throw err;
    }
    const v = await this.variables(['binlog_expire_logs_seconds', 'expire_logs_days']);
    const seconds = Number(v.get('binlog_expire_logs_seconds') ?? 0);
    if (seconds > 0) return seconds / 3600;
    const days = Number(v.get('expire_logs_days') ?? 0);
    return days > 0 ? days * 24 : null;
  }

  async tablesWithoutPrimaryKey(): Promise<TableRef[]> {
    const rows = await this.rows<TableRef>(
      `SELECT t.TABLE_SCHEMA AS \`schema\`, t.TABLE_NAME AS name
       FROM information_schema.TABLES t
       WHERE t.TABLE_SCHEMA = ? AND t.${BASE_TABLE}
         AND NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c
                         WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME AND c.CONSTRAINT_TYPE = 'PRIMARY KEY')
       ORDER BY 2`,
      [this.db],
    );
    return rows.filter((t) => !isDmsArtefact(t.name));
  }

  async columnConcerns(): Promise<ColumnConcern[]> {
    const rows = await this.rows<{ schema: string; name: string; column: string; type: string; dataType: string; extra: string }>(
      `SELECT c.TABLE_SCHEMA AS \`schema\`, c.TABLE_NAME AS name, c.COLUMN_NAME AS \`column\`, c.COLUMN_TYPE AS type,
              c.DATA_TYPE AS dataType, c.EXTRA AS extra
       FROM information_schema.COLUMNS c
       JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
       WHERE c.TABLE_SCHEMA = ? AND t.${BASE_TABLE}
       ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
      [this.db],
    );
    const concerns: ColumnConcern[] = [];
    for (const r of rows) {
      if (isDmsArtefact(r.name)) continue;
      const reason = mysqlColumnConcern(r.dataType, r.extra);
      if (reason) concerns.push({ schema: r.schema, name: r.name, column: r.column, type: r.type, reason });
    }
    return concerns;
  }

  async tableSizes(): Promise<TableSize[]> {
    const rows = await this.rows<{ schema: string; name: string; rows: string | null; bytes: string | null }>(
      `SELECT TABLE_SCHEMA AS \`schema\`, TABLE_NAME AS name, TABLE_ROWS AS \`rows\`,
              DATA_LENGTH + INDEX_LENGTH AS bytes
       FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND ${BASE_TABLE}
       ORDER BY 2`,
      [this.db],
    );
    return rows
      .filter((r) => !isDmsArtefact(r.name))
      .map((r) => ({ schema: r.schema, name: r.name, estimatedRows: Number(r.rows ?? 0), bytes: Number(r.bytes ?? 0) }));
  }

  // --- position (PostgreSQL-only methods say so)

  ensureLogicalSlot(_name: string, _plugin: 'test_decoding'): Promise<SlotInfo> {
    return unsupported('ensureLogicalSlot');
  }

  slot(_name: string): Promise<SlotInfo | undefined> {
    return unsupported('slot');
  }

  dropSlotIfExists(_name: string): Promise<boolean> {
    return unsupported('dropSlotIfExists');
  }

  seedPosition(_fn: 'aurora_volume_logical_start_lsn' | 'rds_tools.logical_seed_lsn'): Promise<string> {
    return unsupported('seedPosition', 'read the restored writer\'s "Binlog position from crash recovery" event instead');
  }

  comparePositions(a: string, b: string): number {
    return compareBinlogPositions(a, b);
  }

  async binaryLogs(): Promise<BinaryLog[]> {
    const rows = await this.rows<{ Log_name: string; File_size: string | number }>('SHOW BINARY LOGS');
    return rows.map((r) => ({ file: r.Log_name, size: Number(r.File_size) }));
  }

  async binlogPosition(): Promise<BinlogPosition> {
    let rows: { File?: string; Position?: string | number }[];
    try {
      rows = await this.rows('SHOW MASTER STATUS');
    } catch (err) {
      // MySQL 8.4 removed SHOW MASTER STATUS in favour of SHOW BINARY LOG STATUS.
      if (errno(err) !== ER.parse) throw err;
      rows = await this.rows('SHOW BINARY LOG STATUS');
    }
    const [row] = rows;
    if (!row?.File) throw new Error(`binary logging is off on ${where(this.endpoint)}: no binlog position`);
    return { file: row.File, position: Number(row.Position) };
  }

  async setBinlogRetentionHours(hours: number): Promise<void> {
    if (!Number.isInteger(hours) || hours < 1) throw new Error(`binlog retention hours must be a positive integer, not ${hours}`);
    await this.pool.query("CALL mysql.rds_set_configuration('binlog retention hours', ?)", [hours]);
  }

  async stopReplication(): Promise<void> {
    await this.pool.query('CALL mysql.rds_stop_replication');
  }

  async replicaExecutedPosition(): Promise<BinlogPosition> {
    let rows: Record<string, unknown>[];
    try {
      rows = await this.rows('SHOW REPLICA STATUS');
    } catch (err) {
      // Before MySQL 8.0.22 and on MariaDB before 10.5.1 only SHOW SLAVE STATUS exists.
      if (errno(err) !== ER.parse) throw err;
      rows = await this.rows('SHOW SLAVE STATUS');
    }
    return parseReplicaStatus(rows[0]);
  }

  // --- sentinel

  private sentinel(table: string): string {
    return quoteTable({ schema: this.db, name: table }, 'mysql');
  }

  async ensureSentinelTable(table: string): Promise<void> {
    await this.pool.query(
      `CREATE TABLE IF NOT EXISTS ${this.sentinel(table)} (
         token VARCHAR(100) NOT NULL PRIMARY KEY,
         written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
    );
  }

  async writeSentinel(table: string, token: string): Promise<void> {
    // Idempotent for a re-run step: the same token written twice is one row (and no other error is hidden).
    await this.pool.query(`INSERT INTO ${this.sentinel(table)} (token) VALUES (?) ON DUPLICATE KEY UPDATE token = token`, [token]);
  }

  async hasSentinel(table: string, token: string): Promise<boolean> {
    try {
      const rows = await this.rows(`SELECT 1 AS found FROM ${this.sentinel(table)} WHERE token = ?`, [token]);
      return rows.length > 0;
    } catch (err) {
      // On a target the table may not have arrived yet: that is "not yet", not an error.
      if (errno(err) === ER.noSuchTable) return false;
      throw err;
    }
  }

  // --- fence

  private async currentUser(): Promise<string> {
    return (await this.one<{ u: string }>('SELECT CURRENT_USER() AS u')).u;
  }

  private async mysqlUserColumns(): Promise<Set<string>> {
    this.userColumns ??= this.rows<{ c: string }>(
      "SELECT LOWER(COLUMN_NAME) AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'user'",
    ).then((rows) => new Set(rows.map((r) => r.c)));
    return this.userColumns;
  }

  /** Every account (not a role) on the server. */
  private async accounts(): Promise<Account[]> {
    const cols = await this.mysqlUserColumns();
    const notRole = cols.has('is_role') ? " WHERE is_role <> 'Y'" : '';
    return this.rows<Account>(`SELECT User AS user, Host AS host FROM mysql.user${notRole} ORDER BY User, Host`);
  }

  /** Whether an account is locked (MySQL: mysql.user.account_locked; MariaDB 10.4+: SHOW CREATE USER says ACCOUNT LOCK). */
  private async isLocked(a: Account): Promise<boolean> {
    const cols = await this.mysqlUserColumns();
    if (cols.has('account_locked')) {
      const row = await this.one<{ l: string }>('SELECT account_locked AS l FROM mysql.user WHERE User = ? AND Host = ?', [a.user, a.host]);
      return row.l === 'Y';
    }
    // The statement text holds the password hash: only this test is taken from it, nothing is kept or logged.
    const row = await this.one<Record<string, string>>('SHOW CREATE USER ?@?', [a.user, a.host]);
    return /\bACCOUNT LOCK\b/i.test(String(Object.values(row)[0] ?? ''));
  }

  /**
   * Accounts that can log in (not locked, not a role, not anonymous), minus the system accounts and root (see
   * SYSTEM_USERS), minus every account of the user rekey connects as (a session shows only its user name, so the
   * fence could not kill other hosts' sessions without killing its own), minus `exclude` (`user` matches any host,
   * `user@host` that account).
   */
  async writerPrincipals(exclude: string[]): Promise<string[]> {
    const me = parseAccount(await this.currentUser()).user;
    const excluded = exclude.map(parseAccount);
    const result: string[] = [];
    for (const a of await this.accounts()) {
      if (a.user === '' || a.user === me || SYSTEM_USERS.has(a.user)) continue;
      if (excluded.some((x) => x.user === a.user && (x.host === undefined || x.host === a.host))) continue;
      if (await this.isLocked(a)) continue;
      result.push(accountName(a));
    }
    return result;
  }

  /** The accounts the principals name: `user@host` that account, a bare `user` all its hosts. */
  private async resolvePrincipals(principals: string[]): Promise<Account[]> {
    const all = await this.accounts();
    const found = new Map<string, Account>();
    const missing: string[] = [];
    for (const p of principals) {
      const { user, host } = parseAccount(p);
      const matches = all.filter((a) => a.user === user && (host === undefined || a.host === host));
      if (matches.length === 0) missing.push(p);
      for (const a of matches) found.set(accountName(a), a);
    }
    if (missing.length > 0) throw new Error(`cannot fence unknown account(s): ${missing.join(', ')}`);
    return [...found.values()];
  }

  private async sessionsOf(users: string[]): Promise<number[]> {
    if (users.length === 0) return [];
    const rows = await this.rows<{ id: string | number }>(
      'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER IN (?) AND ID <> CONNECTION_ID()',
      [users],
    );
    return rows.map((r) => Number(r.id));
  }

  private async kill(id: number): Promise<void> {
    try {
      await this.pool.query('KILL CONNECTION ?', [id]);
    } catch (err) {
      if (errno(err) === ER.unknownThread) return;
      // RDS/Aurora: the master user has no SUPER/CONNECTION_ADMIN; the provided procedure kills for it.
      if (errno(err) !== ER.killDenied) throw err;
      await this.pool.query('CALL mysql.rds_kill(?)', [id]);
    }
  }

  /**
   * Locks each account (ALTER USER ... ACCOUNT LOCK) so it cannot log in, then kills every session of those users
   * and waits (bounded) until none is left. Sessions carry only a user name, so all sessions of a fenced user go.
   * Accounts already locked are recorded as such and stay locked after unfence.
   */
  async fence(requested: string[], opts: FenceOptions = {}): Promise<FenceState> {
    // Nothing to fence is a no-op: never `USER IN ()`.
    if (requested.length === 0) return withPreviousBefore({ principals: [], at: new Date().toISOString() }, opts.previous);
    const accounts = await this.resolvePrincipals([...new Set(requested)]);
    const me = parseAccount(await this.currentUser()).user;
    if (accounts.some((a) => a.user === me)) throw new Error(`refusing to fence user ${me}: it is the user rekey itself connects as`);
    // Without PROCESS the process list shows only our own sessions: the fence would kill nothing and not know it.
    const privs = globalPrivileges(await this.myGrants());
    if (!privs.has('ALL PRIVILEGES') && !privs.has('PROCESS')) {
      throw new Error(`cannot fence: ${me} needs the PROCESS privilege to see (and kill) other accounts' sessions`);
    }
    const read: FenceState = { principals: [], at: new Date().toISOString() };
    for (const a of accounts) read.principals.push({ name: accountName(a), before: { accountLocked: await this.isLocked(a) } });
    const state = withPreviousBefore(read, opts.previous);
    await opts.beforeChange?.(state);
    const users = [...new Set(accounts.map((a) => a.user))];
    try {
      // Lock first so killed sessions cannot come back.
      for (const [i, a] of accounts.entries()) {
        if (state.principals[i]?.before.accountLocked === false) await this.pool.query('ALTER USER ?@? ACCOUNT LOCK', [a.user, a.host]);
        opts.afterEach?.(accountName(a), i + 1);
      }
      const gone = await pollUntil(async () => {
        const ids = await this.sessionsOf(users);
        for (const id of ids) await this.kill(id);
        return ids.length === 0 || (await this.sessionsOf(users)).length === 0;
      }, KILL_WAIT_MS);
      if (!gone) throw new Error(`sessions of ${users.join(', ')} were still open ${KILL_WAIT_MS} ms after killing them`);
    } catch (err) {
      // Leave nothing half-fenced: put back what we changed, then report.
      await this.unfence(state).catch(() => undefined);
      throw new Error(`fence failed and was undone: ${errorText(err)}`, { cause: err });
    }
    return state;
  }

  async openSessions(users: string[]): Promise<OpenSession[]> {
    if (users.length === 0) return [];
    const own = ownThreads.get(serverKey(this.endpoint)) ?? new Set<number>();
    const rows = await this.rows<{ id: string | number; user: string; host: string | null; command: string }>(
      `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command FROM information_schema.PROCESSLIST
        WHERE USER IN (?) AND ID <> CONNECTION_ID() AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon')
        ORDER BY USER, HOST`,
      [users],
    );
    const sessions = rows.filter((r) => !own.has(Number(r.id)));
    // HOST is host:port, and a name unless skip_name_resolve: compare addresses, so resolve names.
    return Promise.all(sessions.map(async (r) => ({ user: r.user, client: await clientAddress(r.host), application: r.command })));
  }

  async stillFenced(state: FenceState): Promise<string[]> {
    const wanted = state.principals.filter((p) => p.before.accountLocked === false);
    if (wanted.length === 0) return [];
    const all = await this.accounts();
    const out: string[] = [];
    for (const p of wanted) {
      const { user, host } = parseAccount(p.name);
      const account = all.find((a) => a.user === user && a.host === host);
      if (!account || (await this.isLocked(account))) out.push(p.name);
    }
    return out;
  }

  async writability(principals: string[]): Promise<Writability> {
    const server = await this.one<{ ro: number | string; iro: number | string }>('SELECT @@global.read_only AS ro, @@global.innodb_read_only AS iro');
    const readOnly = Number(server.ro) === 1 ? 'read_only is ON' : Number(server.iro) === 1 ? 'innodb_read_only is ON' : undefined;
    const all = principals.length > 0 ? await this.accounts() : [];
    const blocked: Writability['blocked'] = [];
    for (const name of [...new Set(principals)]) {
      const { user, host } = parseAccount(name);
      const matches = all.filter((a) => a.user === user && (host === undefined || a.host === host));
      if (matches.length === 0) {
        blocked.push({ name, reason: 'the account does not exist' });
        continue;
      }
      for (const a of matches) if (await this.isLocked(a)) blocked.push({ name: accountName(a), reason: 'ACCOUNT LOCK' });
    }
    return { ...(readOnly ? { readOnly } : {}), blocked };
  }

  /** Puts every recorded account back into its recorded lock state. */
  async unfence(state: FenceState): Promise<void> {
    if (state.principals.length === 0) return;
    const problems: string[] = [];
    const all = await this.accounts();
    for (const p of state.principals) {
      const { user, host } = parseAccount(p.name);
      const account = all.find((a) => a.user === user && a.host === host);
      if (!account) {
        problems.push(`${p.name}: account no longer exists`);
        continue;
      }
      const wanted = p.before.accountLocked;
      if (typeof wanted !== 'boolean') {
        problems.push(`${p.name}: no recorded lock state`);
        continue;
      }
      try {
        if ((await this.isLocked(account)) !== wanted) {
          await this.pool.query(`ALTER USER ?@? ACCOUNT ${wanted ? 'LOCK' : 'UNLOCK'}`, [account.user, account.host]);
        }
      } catch (err) {
        problems.push(`${p.name}: ${errorText(err)}`);
      }
    }
    if (problems.length > 0) throw new Error(`unfence could not restore every account: ${problems.join('; ')}`);
  }

  // --- validation

  /** Base tables of the endpoint's database (the adapter's scope: `schema` is always that database), filtered. */
  async listTables(include: string[], exclude: string[]): Promise<TableRef[]> {
    const rows = await this.rows<TableRef>(
      `SELECT TABLE_SCHEMA AS \`schema\`, TABLE_NAME AS name FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = ? AND ${BASE_TABLE} ORDER BY 2`,
      [this.db],
    );
    return filterTables(
      rows.filter((t) => !isDmsArtefact(t.name)),
      include,
      exclude,
    );
  }

  async rowCount(table: TableRef): Promise<number> {
    return Number((await this.one<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quoteTable(table, 'mysql')}`)).n);
  }

  private async columnsOf(table: TableRef): Promise<string[]> {
    const rows = await this.rows<{ c: string }>(
      'SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [table.schema, table.name],
    );
    if (rows.length === 0) throw new Error(`table ${table.schema}.${table.name} not found on ${where(this.endpoint)}`);
    return rows.map((r) => r.c);
  }

  /**
   * `rows:sum` where sum adds, over all rows, the first 64 bits of MD5 of the row's columns joined with QUOTE()
   * (which keeps NULL apart from 'NULL' and escapes the separator): independent of row order, storage engine and
   * physical layout (unlike CHECKSUM TABLE). TIMESTAMP text is made comparable by the session's UTC time zone.
   */
  async checksum(table: TableRef): Promise<string> {
    const cols = await this.columnsOf(table);
    const row = cols.map((c) => `QUOTE(${quoteIdent(c, 'mysql')})`).join(', ');
    const r = await this.one<{ n: string; s: string | null }>(
      `SELECT COUNT(*) AS n, SUM(CAST(CONV(LEFT(MD5(CONCAT_WS(',', ${row})), 16), 16, 10) AS UNSIGNED)) AS s
       FROM ${quoteTable(table, 'mysql')}`,
    );
    return `${r.n}:${r.s ?? '0'}`;
  }

  async snapshotReader(): Promise<SnapshotReader> {
    const pool = openPool(this.endpoint, { ...poolOptions(this.endpoint), connectionLimit: 1, maxIdle: 1 });
    try {
      return new MysqlSnapshotReader(pool, await pool.getConnection(), this.endpoint);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot connect to ${where(this.endpoint)}: ${errorText(err)}`, { cause: err });
    }
  }

  // --- sequences

  private async autoIncrementColumns(filter?: TableRef): Promise<{ schema: string; name: string; column: string; next: string | null }[]> {
    const schema = filter?.schema ?? this.db;
    return this.rows(
      `SELECT t.TABLE_SCHEMA AS \`schema\`, t.TABLE_NAME AS name, c.COLUMN_NAME AS \`column\`, t.AUTO_INCREMENT AS next
       FROM information_schema.TABLES t
       JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
       WHERE t.TABLE_SCHEMA = ? AND t.${BASE_TABLE} AND c.EXTRA LIKE '%auto_increment%'
         ${filter ? 'AND t.TABLE_NAME = ?' : ''}
       ORDER BY 2`,
      filter ? [schema, filter.name] : [schema],
    );
  }

  /** One per table with an AUTO_INCREMENT column, named `schema.table`; nextValue from information_schema (fresh per session). */
  async sequences(): Promise<SequenceState[]> {
    const rows = await this.autoIncrementColumns();
    return rows
      .filter((r) => !isDmsArtefact(r.name))
      .map((r) => ({
        name: `${r.schema}.${r.name}`,
        nextValue: r.next === null ? null : BigInt(r.next),
        columns: [{ schema: r.schema, name: r.name, column: r.column }],
      }));
  }

  async columnMax(table: TableRef, column: string): Promise<bigint | null> {
    const r = await this.one<{ m: string | null }>(
      `SELECT CAST(MAX(${quoteIdent(column, 'mysql')}) AS CHAR) AS m FROM ${quoteTable(table, 'mysql')}`,
    );
    return r.m === null ? null : BigInt(r.m);
  }

  /** `name` is `schema.table`; sets its AUTO_INCREMENT to `next` when the counter is lower, never lowers it. */
  async raiseSequence(name: string, next: bigint): Promise<void> {
    const dot = name.indexOf('.');
    const table: TableRef = dot < 0 ? { schema: this.db, name } : { schema: name.slice(0, dot), name: name.slice(dot + 1) };
    const [row] = await this.autoIncrementColumns(table);
    if (!row) throw new Error(`table ${table.schema}.${table.name} with an AUTO_INCREMENT column not found on ${where(this.endpoint)}`);
    if (row.next !== null && BigInt(row.next) >= next) return;
    // The value is a bigint rendered by us, not input text: safe to inline (ALTER TABLE takes no placeholder here).
    await this.pool.query(`ALTER TABLE ${quoteTable(table, 'mysql')} AUTO_INCREMENT = ${next.toString()}`);
  }
}

const MYSQL_INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'bigint']);

/** The row-text hash of the MySQL checksum: first 64 bits of MD5 of the QUOTE()d columns joined by commas. */
function rowHashSql(cols: string[]): string {
  return `CAST(CONV(LEFT(MD5(CONCAT_WS(',', ${cols.map((c) => `QUOTE(${quoteIdent(c, 'mysql')})`).join(', ')})), 16), 16, 10) AS UNSIGNED)`;
}

/** A dedicated connection holding one consistent-snapshot transaction (see SnapshotReader). */
class MysqlSnapshotReader implements SnapshotReader {
  private readonly columns = new Map<string, string[]>();

  constructor(
    private readonly pool: Pool,
    private readonly conn: PoolConnection,
    private readonly endpoint: DbEndpoint,
  ) {}

  private async rows<R>(sql: string, params: unknown[] = []): Promise<R[]> {
    const [rows] = await this.conn.query<RowDataPacket[]>(sql, params);
    return rows as R[];
  }

  async begin(): Promise<void> {
    await this.conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await this.conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
  }

  private async columnsOf(table: TableRef): Promise<string[]> {
    const key = `${table.schema}.${table.name}`;
    const known = this.columns.get(key);
    if (known) return known;
    const rows = await this.rows<{ c: string }>(
      'SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
      [table.schema, table.name],
    );
    if (rows.length === 0) throw new Error(`table ${key} not found on ${where(this.endpoint)}`);
    const cols = rows.map((r) => r.c);
    this.columns.set(key, cols);
    return cols;
  }

  async primaryKey(table: TableRef): Promise<PrimaryKey | undefined> {
    const cols = await this.rows<{ col: string; type: string }>(
      `SELECT k.COLUMN_NAME AS col, c.DATA_TYPE AS type
       FROM information_schema.KEY_COLUMN_USAGE k
       JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME
       WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.CONSTRAINT_NAME = 'PRIMARY'
       ORDER BY k.ORDINAL_POSITION`,
      [table.schema, table.name],
    );
    if (cols.length === 0) return undefined;
    return { columns: cols.map((c) => c.col), integer: cols.length === 1 && MYSQL_INTEGER_TYPES.has((cols[0]?.type ?? '').toLowerCase()) };
  }

  async keyExtent(table: TableRef, column: string): Promise<{ min: string; max: string } | undefined> {
    const col = quoteIdent(column, 'mysql');
    const [row] = await this.rows<{ min: string | null; max: string | null }>(`SELECT CAST(MIN(${col}) AS CHAR) AS min, CAST(MAX(${col}) AS CHAR) AS max FROM ${quoteTable(table, 'mysql')}`);
    return row?.min != null && row.max != null ? { min: row.min, max: row.max } : undefined;
  }

  async keySplits(table: TableRef, columns: string[], every: number): Promise<string[][]> {
    const cols = columns.map((c) => quoteIdent(c, 'mysql'));
    const rows = await this.rows<Record<string, string>>(
      `SELECT ${cols.map((c, i) => `CAST(${c} AS CHAR) AS k${i}`).join(', ')}
       FROM (SELECT ${cols.join(', ')}, ROW_NUMBER() OVER (ORDER BY ${cols.join(', ')}) AS rn FROM ${quoteTable(table, 'mysql')}) s
       WHERE rn % ? = 0 ORDER BY rn`,
      [every],
    );
    return rows.map((r) => columns.map((_, i) => String(r[`k${i}`])));
  }

  async digest(table: TableRef, hash: boolean, range?: { key: string[]; range: KeyRange }): Promise<RowsDigest> {
    const where = range ? keyRangePredicate(range.key, range.range, 'mysql') : { sql: 'TRUE', params: [] };
    const sum = hash ? `SUM(${rowHashSql(await this.columnsOf(table))})` : 'NULL';
    const [row] = await this.rows<{ n: string; s: string | null }>(`SELECT COUNT(*) AS n, ${sum} AS s FROM ${quoteTable(table, 'mysql')} WHERE ${where.sql}`, where.params);
    return { rows: Number(row?.n ?? 0), ...(hash ? { sum: row?.s ?? '0' } : {}) };
  }

  async rowHashes(table: TableRef, key: string[], range: KeyRange, limit: number): Promise<Map<string, string>> {
    const cols = key.map((c) => quoteIdent(c, 'mysql'));
    const where = keyRangePredicate(key, range, 'mysql');
    const rows = await this.rows<{ k: string; h: string }>(
      `SELECT CAST(JSON_ARRAY(${cols.join(', ')}) AS CHAR) AS k, CAST(${rowHashSql(await this.columnsOf(table))} AS CHAR) AS h
       FROM ${quoteTable(table, 'mysql')} WHERE ${where.sql} ORDER BY ${cols.join(', ')} LIMIT ${Math.max(1, Math.floor(limit))}`,
      where.params,
    );
    return new Map(rows.map((r) => [r.k, r.h]));
  }

  async close(): Promise<void> {
    this.conn.release();
    await this.pool.end().catch(() => undefined);
  }
}
