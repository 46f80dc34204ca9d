// Engine adapters: what steps need from a database connection, independent of PostgreSQL or MySQL.
// Steps open adapters through DbConnector (from the step services); the engine never sees them.
import type { MyNative, PgNative } from './native.js';

/** Where to connect. The password is resolved from the runbook's secret reference and never logged. */
export interface DbEndpoint {
  host: string;
  port: number;
  /** PostgreSQL database / MySQL schema. */
  database: string;
  user: string;
  password?: string;
  /** Use TLS (real AWS: yes; rehearsal: no). */
  tls?: boolean;
  /**
   * Inside the fence: every statement of this connection is cut off by the server after this many ms
   * (PostgreSQL statement_timeout, MariaDB max_statement_time, MySQL max_execution_time), and the adapter gives
   * up waiting once that much time has passed since it was opened.
   */
  statementTimeoutMs?: number;
}

/** One preflight finding. */
export interface Check {
  /** Stable id, e.g. `pg.wal_level`, `mysql.binlog_format`. */
  id: string;
  ok: boolean;
  /** `error` fails preflight; `warning` is reported and shown at the gate. */
  severity: 'error' | 'warning';
  /** What was found, for people. */
  message: string;
}

/** A table as schema + name. */
export interface TableRef {
  schema: string;
  name: string;
}

export interface TableSize extends TableRef {
  /** Estimated rows (statistics), for the window estimate. */
  estimatedRows: number;
  bytes: number;
}

export interface ColumnConcern extends TableRef {
  column: string;
  type: string;
  /** Why DMS may mishandle it. */
  reason: string;
}

/** A replication slot on a PostgreSQL source. */
export interface SlotInfo {
  name: string;
  plugin: string;
  database: string;
  active: boolean;
  /** Text LSN like `0/16B3748`. */
  confirmedFlushLsn: string | undefined;
  restartLsn: string | undefined;
}

/** What a fence changed, so unfence restores exactly that. Plain data: it is journaled. */
export interface FenceState {
  /** Per role/account: its state before the fence. */
  principals: { name: string; before: Record<string, string | number | boolean | null> }[];
  /** When the fence was applied (ISO). */
  at: string;
  /** Sessions the fence left open (rekey's or DMS's own login used by another client), when allowed to go on. */
  unfenced?: OpenSession[];
  /** The DMS replication instance's addresses when the fence went up: sessions from them are DMS's own. */
  dmsAddresses?: string[];
}

/** What `writability` found (see DbAdapter.writability). */
export interface Writability {
  /** Why the server refuses every write (undefined: it takes writes). */
  readOnly?: string;
  /** Principals that cannot write, each with why. */
  blocked: { name: string; reason: string }[];
}

/** A client session the fence left open: one of rekey's or DMS's own logins, used by another client. */
export interface OpenSession {
  user: string;
  /** Client address (PostgreSQL client_addr, MySQL host without port), or `local` for a socket. */
  client: string;
  /** PostgreSQL application_name; on MySQL the session's current command. */
  application: string;
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.5) as the IPv4 address it carries. */
export function normalizeAddress(address: string): string {
  return address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
}

/** See DbAdapter.fence. */
export interface FenceOptions {
  previous?: FenceState;
  beforeChange?: (state: FenceState) => Promise<void>;
  /** Called after each principal was fenced (1-based), before the next: the test crash points hook in here. */
  afterEach?: (name: string, n: number) => void;
}

/**
 * Merges fence records (oldest first): every principal any of them names, each with the prior state the oldest
 * record holds (a later record may have read it already fenced). The latest record's time and extras win.
 * Undefined when there is no record at all.
 */
export function mergeFences(records: readonly (FenceState | undefined)[]): FenceState | undefined {
  const present = records.filter((r): r is FenceState => r !== undefined && Array.isArray(r.principals));
  if (present.length === 0) return undefined;
  const before = new Map<string, FenceState['principals'][number]['before']>();
  for (const r of present) for (const p of r.principals) if (!before.has(p.name)) before.set(p.name, p.before);
  const last = present.at(-1)!;
  return { ...last, principals: [...before].map(([name, b]) => ({ name, before: b })) };
}

/** Keeps the `before` values an earlier attempt recorded for the same principals. */
export function withPreviousBefore(state: FenceState, previous: FenceState | undefined): FenceState {
  if (!previous) return state;
  const earlier = new Map(previous.principals.map((p) => [p.name, p.before]));
  return { ...state, principals: state.principals.map((p) => ({ ...p, before: earlier.get(p.name) ?? p.before })) };
}

/** A sequence (PostgreSQL) or AUTO_INCREMENT counter (MySQL). */
export interface SequenceState {
  /** schema.name of the sequence, or schema.table for AUTO_INCREMENT. */
  name: string;
  /** Value the next insert would get at least (PostgreSQL: last_value + increment if is_called). */
  nextValue: bigint | null;
  /** Columns fed by this sequence (serial/identity/default nextval); shared sequences list several. */
  columns: (TableRef & { column: string })[];
}

/** One side's numbers for a table. */
export interface TableCount extends TableRef {
  rows: number;
}

/** A primary-key range: key >= from (when set) and key < to (when set); values as text, in key column order. */
export interface KeyRange {
  from?: string[];
  to?: string[];
}

/** Row count and order-independent sum of row hashes of some rows (`sum` undefined when only counted). */
export interface RowsDigest {
  rows: number;
  sum?: string;
}

/** A table's primary key, as the chunker needs it. */
export interface PrimaryKey {
  columns: string[];
  /** One integer column: ranges are cut by value. */
  integer: boolean;
}

/**
 * One connection that reads a consistent snapshot. Opened before the fence; `begin` (called while the source is
 * fenced and the target drained) starts a REPEATABLE READ / consistent-snapshot transaction, so every read after
 * it sees the database as it was at that point while writes and CDC go on.
 */
export interface SnapshotReader {
  begin(): Promise<void>;
  primaryKey(table: TableRef): Promise<PrimaryKey | undefined>;
  /** Smallest and largest value of an integer key column, as text; undefined for an empty table. */
  keyExtent(table: TableRef, column: string): Promise<{ min: string; max: string } | undefined>;
  /** Key values of every `every`-th row in key order: range boundaries for keys that are not one integer. */
  keySplits(table: TableRef, columns: string[], every: number): Promise<string[][]>;
  /** Count (and with `hash`, the row-text hash sum) of the rows of a key range, or of the whole table. */
  digest(table: TableRef, hash: boolean, range?: { key: string[]; range: KeyRange }): Promise<RowsDigest>;
  /** Row-text hash per key (key as a JSON array text) of a key range, at most `limit` rows in key order. */
  rowHashes(table: TableRef, key: string[], range: KeyRange, limit: number): Promise<Map<string, string>>;
  close(): Promise<void>;
}

/**
 * A connection to one database. Methods are engine-neutral where the concept is; the engine-specific
 * ones say so and throw `unsupported` on the other engine.
 */
export interface DbAdapter {
  readonly engine: 'postgres' | 'mysql';
  close(): Promise<void>;
  serverVersion(): Promise<string>;

  // --- preflight (read-only)
  /** Replication prerequisites, each as a Check (wal_level, slot capacity, max_slot_wal_keep_size / binlog_format, retention...). */
  replicationChecks(): Promise<Check[]>;
  tablesWithoutPrimaryKey(): Promise<TableRef[]>;
  columnConcerns(): Promise<ColumnConcern[]>;
  tableSizes(): Promise<TableSize[]>;

  // --- position (PostgreSQL)
  /** Creates the slot if missing (idempotent); returns it. */
  ensureLogicalSlot(name: string, plugin: 'test_decoding' | 'pgoutput'): Promise<SlotInfo>;
  slot(name: string): Promise<SlotInfo | undefined>;
  dropSlotIfExists(name: string): Promise<boolean>;
  /** The snapshot's start position on a restored database (`aurora_volume_logical_start_lsn()` etc.). */
  seedPosition(fn: 'aurora_volume_logical_start_lsn' | 'rds_tools.logical_seed_lsn'): Promise<string>;
  /** Compares two LSNs / binlog positions: negative, 0, positive. */
  comparePositions(a: string, b: string): number;

  // --- sentinel
  ensureSentinelTable(table: string): Promise<void>;
  writeSentinel(table: string, token: string): Promise<void>;
  hasSentinel(table: string, token: string): Promise<boolean>;

  // --- fence
  /** Login roles/accounts that can write, minus `exclude`. */
  writerPrincipals(exclude: string[]): Promise<string[]>;
  /**
   * Stops the principals from writing (no login + sessions terminated); returns what to restore.
   * `previous`: the state an interrupted earlier attempt recorded; its `before` values win over what is read now
   * (the earlier attempt may already have changed them). `beforeChange` runs with the state before anything is
   * altered, so the caller can journal it first.
   */
  fence(principals: string[], opts?: FenceOptions): Promise<FenceState>;
  unfence(state: FenceState): Promise<void>;
  /** Principals of `state` that could log in before the fence and cannot now (what an unfence failed to restore). */
  stillFenced?(state: FenceState): Promise<string[]>;
  /**
   * Whether the named principals could write here now, as the admin reads it from the catalog (no login as them:
   * rekey has no password of theirs): why the server takes no writes at all (a replica, read-only), and each
   * principal that cannot log in or connect, with why (NOLOGIN, ACCOUNT LOCK, missing, no CONNECT...).
   */
  writability?(principals: string[]): Promise<Writability>;
  /**
   * Client sessions of `users` that are not rekey's own connections, replication streams left out: the fence
   * cannot lock out the login rekey (and by default DMS) uses, so these are who could still write.
   */
  openSessions(users: string[]): Promise<OpenSession[]>;

  // --- validation
  /** Tables matching schema.table patterns (% wildcard), minus excludes. */
  listTables(include: string[], exclude: string[]): Promise<TableRef[]>;
  rowCount(table: TableRef): Promise<number>;
  /** Order-independent content checksum of a table. */
  checksum(table: TableRef): Promise<string>;
  /** A dedicated connection for consistent-point validation (see SnapshotReader); the caller closes it. */
  snapshotReader(): Promise<SnapshotReader>;

  // --- sequences
  sequences(): Promise<SequenceState[]>;
  /** Max of a column (for sequence sanity), null if the table is empty. */
  columnMax(table: TableRef, column: string): Promise<bigint | null>;
  /** Makes the next value at least `next` (never lowers it). */
  raiseSequence(name: string, next: bigint): Promise<void>;

  // --- native replication (strategy native; src/db/native.ts)
  /** PostgreSQL adapters: publications, the subscription, WAL positions. */
  readonly pgNative?: PgNative;
  /** MySQL adapters: the RDS external-source procedures and the replica's status. */
  readonly myNative?: MyNative;

  // --- binary log (MySQL only; absent on PostgreSQL adapters)
  /** The source's binary log files and their sizes in bytes (SHOW BINARY LOGS), oldest first. */
  binaryLogs?(): Promise<BinaryLog[]>;
  /** The current write position of the binary log (SHOW MASTER STATUS / SHOW BINARY LOG STATUS). */
  binlogPosition?(): Promise<BinlogPosition>;
  /** How long binary logs are kept, in hours: 0 = purged as soon as possible, null = never purged automatically. */
  binlogRetentionHours?(): Promise<number | null>;
  /** RDS: sets binlog retention (CALL mysql.rds_set_configuration('binlog retention hours', N)). */
  setBinlogRetentionHours?(hours: number): Promise<void>;
  /** RDS read replica: stops replication (CALL mysql.rds_stop_replication). */
  stopReplication?(): Promise<void>;
  /** On a (stopped) replica: the source binlog coordinates it has executed (SHOW REPLICA STATUS / SHOW SLAVE STATUS). */
  replicaExecutedPosition?(): Promise<BinlogPosition>;
}

/** One binary log file on a MySQL/MariaDB server. */
export interface BinaryLog {
  /** File name, e.g. `mysql-bin-changelog.000012`. */
  file: string;
  /** Size in bytes: a position within this file is at most this. */
  size: number;
}

/** A binary log coordinate; as text `<file>:<position>` (DMS CdcStartPosition form). */
export interface BinlogPosition {
  /** File name, e.g. `mysql-bin.000003`. */
  file: string;
  /** Byte offset within the file. */
  position: number;
}

/** Opens adapters; supplied by the composition root (real or rehearsal). */
export interface DbConnector {
  open(engine: 'postgres' | 'mysql', endpoint: DbEndpoint): Promise<DbAdapter>;
}

/** Scoped use of an adapter, so closing can't be forgotten. */
export async function withDb<T>(
  connector: DbConnector,
  engine: 'postgres' | 'mysql',
  endpoint: DbEndpoint,
  fn: (db: DbAdapter) => Promise<T>,
): Promise<T> {
  const db = await connector.open(engine, endpoint);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
