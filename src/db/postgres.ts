// The PostgreSQL adapter: preflight checks, slots and LSNs, sentinel, role fence, validation and sequences
// against one database through one small `pg` pool. Every value goes in as a query parameter; every
// identifier is quoted with quoteIdent.
import pg from 'pg';
import type { PoolConfig } from 'pg';
import { describeEndpoint, errorText, filterTables, isDmsArtefact, keyRangePredicate, pollUntil, quoteIdent, quoteTable } from './sql.js';
import type {
  Check,
  KeyRange,
  PrimaryKey,
  RowHashSpec,
  RowsDigest,
  SnapshotReader,
  ColumnConcern,
  DbAdapter,
  DbEndpoint,
  FenceOptions,
  FenceState,
  OpenSession,
  SequenceState,
  SlotInfo,
  TableRef,
  TableSize,
  Writability,
} from './types.js';
import { normalizeAddress, withPreviousBefore } from './types.js';
import { compareLsns, parseLsn } from './position.js';

export { compareLsns, parseLsn };
import { pgNative } from './native.js';
import type { PgNative } from './native.js';

/** Schemas that never hold user data. */
const SYSTEM_SCHEMA_FILTER = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;

/** How long fence waits for terminated sessions to disappear, and dropSlotIfExists for a walsender to let go. */
const TERMINATE_WAIT_MS = 10_000;

/** Seed-position functions rekey may call, by the name the runbook/steps use -> the signature to_regprocedure checks. */
const SEED_FUNCTIONS = {
  aurora_volume_logical_start_lsn: 'aurora_volume_logical_start_lsn()',
  'rds_tools.logical_seed_lsn': 'rds_tools.logical_seed_lsn()',
} as const;

/** Every rekey connection names itself so, which tells its sessions from an application's using the same login. */
const APPLICATION_NAME = 'rekey';

/** The pg pool settings for an endpoint, built from fields so no URL with a password exists anywhere. */
export function poolConfig(endpoint: DbEndpoint): PoolConfig {
  return {
    host: endpoint.host,
    port: endpoint.port,
    database: endpoint.database,
    user: endpoint.user,
    password: endpoint.password,
    // RDS certificates verify against the RDS CA bundle: point NODE_EXTRA_CA_CERTS at it.
    ssl: endpoint.tls ? { rejectUnauthorized: true } : false,
    application_name: APPLICATION_NAME,
    max: 3,
    connectionTimeoutMillis: 15_000,
    idleTimeoutMillis: 10_000,
    // Fixed output settings so checksums of the same rows read the same on source and target.
    options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=1',
    // Inside the fence the server cuts every statement off at what is left of the time box.
    ...(endpoint.statementTimeoutMs !== undefined ? { statement_timeout: Math.max(1, Math.ceil(endpoint.statementTimeoutMs)) } : {}),
  };
}

/**
 * With a statement timeout, the pool also stops waiting at the deadline (opened + timeout): a statement started
 * late gets only what is left, and one started after the deadline fails at once.
 */
function boundPool(pool: pg.Pool, endpoint: DbEndpoint): void {
  if (endpoint.statementTimeoutMs === undefined) return;
  const deadline = Date.now() + endpoint.statementTimeoutMs;
  const query = pool.query.bind(pool) as (config: pg.QueryConfig & { query_timeout?: number }) => Promise<pg.QueryResult>;
  const bounded = (text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult> => {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(`statement timeout: the fence time box (${endpoint.statementTimeoutMs} ms for this connection) is spent`));
    const config = typeof text === 'string' ? { text, ...(values ? { values } : {}) } : text;
    return query({ ...config, query_timeout: left });
  };
  (pool as unknown as { query: typeof bounded }).query = bounded;
}

const where = (endpoint: DbEndpoint): string => describeEndpoint('postgres', endpoint);

/** Opens a pool to the endpoint, proves it with one round trip and returns the adapter. */
export async function createPostgresAdapter(endpoint: DbEndpoint): Promise<DbAdapter> {
  const pool = new pg.Pool(poolConfig(endpoint));
  // An idle client whose backend went away (fence, rename, restart) must not crash the process.
  pool.on('error', () => undefined);
  boundPool(pool, endpoint);
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot connect to ${where(endpoint)}: ${errorText(err)}`, { cause: err });
  }
  return new PostgresAdapter(pool, endpoint);
}

function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}



interface SettingRow {
  name: string;
  setting: string;
  unit: string | null;
}

interface SlotRow {
  slot_name: string;
  plugin: string | null;
  slot_type: string;
  database: string | null;
  active: boolean;
  active_pid: number | null;
  confirmed_flush_lsn: string | null;
  restart_lsn: string | null;
}

/** Why DMS may mishandle a column, by the resolved (array element / domain base) type; undefined if fine. */
function typeConcern(typtype: string, typname: string): string | undefined {
  switch (typtype) {
    case 'e':
      return 'enum type: listed by DMS as not migrated (PostgreSQL to PostgreSQL)';
    case 'r':
    case 'm':
      return 'range type: listed by DMS as not migrated (PostgreSQL to PostgreSQL)';
    case 'c':
      return 'composite type: listed by DMS as not migrated (PostgreSQL to PostgreSQL)';
  }
  switch (typname) {
    case 'inet':
    case 'macaddr':
    case 'macaddr8':
      return `${typname}: listed by DMS as not migrated (PostgreSQL to PostgreSQL)`;
    case 'tsvector':
    case 'tsquery':
      return `${typname}: listed by DMS as not migrated (PostgreSQL to PostgreSQL)`;
    case 'point':
    case 'line':
    case 'lseg':
    case 'box':
    case 'path':
    case 'polygon':
    case 'circle':
      return `geometric type ${typname}: listed by DMS as not migrated (PostgreSQL to PostgreSQL)`;
    case 'oid':
      return 'oid column (large object reference): DMS does not migrate OID large objects';
  }
  return undefined;
}

class PostgresAdapter implements DbAdapter {
  readonly engine = 'postgres' as const;

  constructor(
    private readonly pool: pg.Pool,
    private readonly endpoint: DbEndpoint,
  ) {}

  readonly pgNative: PgNative = pgNative((sql, params) => this.rows(sql, params));

  private async rows<R>(sql: string, params: unknown[] = []): Promise<R[]> {
    const result = await this.pool.query(sql, params);
    return result.rows as R[];
  }

  private async one<R>(sql: string, params: unknown[] = []): Promise<R> {
    const [row] = await this.rows<R>(sql, params);
    if (row === undefined) throw new Error(`query returned no row on ${where(this.endpoint)}`);
    return row;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async serverVersion(): Promise<string> {
    const row = await this.one<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    return row.v;
  }

  // --- preflight

  async replicationChecks(): Promise<Check[]> {
    const settings = new Map(
      (
        await this.rows<SettingRow>(
          `SELECT name, setting, unit FROM pg_settings
           WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders', 'max_slot_wal_keep_size',
                          'wal_sender_timeout', 'idle_in_transaction_session_timeout', 'rds.logical_replication')`,
        )
      ).map((r) => [r.name, r]),
    );
    const num = (name: string): number => Number(settings.get(name)?.setting ?? NaN);
    const usage = await this.one<{ slots: string; senders: string }>(
      `SELECT (SELECT count(*) FROM pg_replication_slots) AS slots,
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender') AS senders`,
    );
    const priv = await this.one<{ rolname: string; rolsuper: boolean; rolreplication: boolean; rds_member: string | null }>(
      `SELECT r.rolname, r.rolsuper, r.rolreplication,
              (SELECT string_agg(g.rolname, ', ' ORDER BY g.rolname) FROM pg_roles g
                WHERE g.rolname IN ('rds_replication', 'rds_superuser') AND pg_has_role(r.oid, g.oid, 'member')) AS rds_member
       FROM pg_roles r WHERE r.rolname = current_user`,
    );

    const checks: Check[] = [];
    const walLevel = settings.get('wal_level')?.setting ?? 'unknown';
    const rdsLogical = settings.get('rds.logical_replication')?.setting;
    checks.push({
      id: 'pg.wal_level',
      ok: walLevel === 'logical',
      severity: 'error',
      message:
        walLevel === 'logical'
          ? 'wal_level is logical'
          : `wal_level is ${walLevel}; logical decoding needs logical` +
            (rdsLogical !== undefined ? ' (set rds.logical_replication = 1 in the parameter group and reboot)' : ''),
    });

    const maxSlots = num('max_replication_slots');
    const freeSlots = maxSlots - Number(usage.slots);
    checks.push({
      id: 'pg.replication_slots',
      ok: freeSlots >= 1,
      severity: 'error',
      message: `${freeSlots} of ${maxSlots} replication slots free (${usage.slots} in use); rekey needs 1`,
    });

    const maxSenders = num('max_wal_senders');
    const freeSenders = maxSenders - Number(usage.senders);
    checks.push({
      id: 'pg.wal_senders',
      ok: freeSenders >= 1,
      severity: 'error',
      message: `${freeSenders} of ${maxSenders} WAL senders free (${usage.senders} in use); the DMS task needs 1`,
    });

    const canReplicate = priv.rolsuper || priv.rolreplication || priv.rds_member !== null;
    const how = priv.rolsuper ? 'superuser' : priv.rolreplication ? 'REPLICATION attribute' : `member of ${priv.rds_member ?? ''}`;
    checks.push({
      id: 'pg.replication_privilege',
      ok: canReplicate,
      severity: 'error',
      message: canReplicate
        ? `${priv.rolname} can create replication slots (${how})`
        : `${priv.rolname} cannot create replication slots: needs superuser, REPLICATION, or membership in rds_replication`,
    });

    const keep = num('max_slot_wal_keep_size');
    checks.push({
      id: 'pg.max_slot_wal_keep_size',
      ok: keep < 0,
      severity: 'warning',
      message:
        keep < 0
          ? 'max_slot_wal_keep_size is unlimited: the slot keeps all WAL it needs'
          : `max_slot_wal_keep_size is ${keep} MB: if the slot falls further behind during snapshot and restore it is invalidated and the DMS task fails`,
    });

    const senderTimeout = num('wal_sender_timeout');
    const senderOk = senderTimeout === 0 || senderTimeout >= 10_000;
    checks.push({
      id: 'pg.wal_sender_timeout',
      ok: senderOk,
      severity: 'error',
      message: senderOk
        ? `wal_sender_timeout is ${senderTimeout} ms`
        : `wal_sender_timeout is ${senderTimeout} ms; DMS needs 0 or at least 10000 ms`,
    });

    const idleTimeout = num('idle_in_transaction_session_timeout');
    checks.push({
      id: 'pg.idle_in_transaction_session_timeout',
      ok: idleTimeout === 0,
      severity: 'warning',
      message:
        idleTimeout === 0
          ? 'idle_in_transaction_session_timeout is off'
          : `idle_in_transaction_session_timeout is ${idleTimeout} ms: it can end DMS sessions; exempt the DMS user`,
    });
    return checks;
  }

  async tablesWithoutPrimaryKey(): Promise<TableRef[]> {
    const rows = await this.rows<TableRef>(
      `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND ${SYSTEM_SCHEMA_FILTER}
         AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
         AND NOT (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident))
       ORDER BY 1, 2`,
    );
    return rows.filter((t) => !isDmsArtefact(t.name));
  }

  async columnConcerns(): Promise<ColumnConcern[]> {
    const rows = await this.rows<{
      schema: string;
      name: string;
      column: string;
      type: string;
      typtype: string;
      typname: string;
      attidentity: string;
    }>(
      `SELECT n.nspname AS schema, c.relname AS name, a.attname AS column,
              format_type(a.atttypid, a.atttypmod) AS type, b.typtype::text AS typtype, b.typname::text AS typname,
              a.attidentity::text AS attidentity
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       -- look through arrays to their element type and through a domain to its base type
       JOIN pg_type e ON e.oid = CASE WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN t.typelem ELSE t.oid END
       JOIN pg_type b ON b.oid = CASE WHEN e.typtype = 'd' THEN e.typbasetype ELSE e.oid END
       WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
         AND ${SYSTEM_SCHEMA_FILTER}
       ORDER BY 1, 2, a.attnum`,
    );
    const concerns: ColumnConcern[] = [];
    for (const r of rows) {
      if (isDmsArtefact(r.name)) continue;
      const base = { schema: r.schema, name: r.name, column: r.column, type: r.type };
      const reason = typeConcern(r.typtype, r.typname);
      if (reason) concerns.push({ ...base, reason });
      if (r.attidentity === 'a') {
        concerns.push({
          ...base,
          reason: 'GENERATED ALWAYS identity: the target rejects explicit values without OVERRIDING SYSTEM VALUE',
        });
      }
    }
    return concerns;
  }

  async tableSizes(): Promise<TableSize[]> {
    const rows = await this.rows<{ schema: string; name: string; reltuples: number; bytes: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, c.reltuples::float8 AS reltuples,
              pg_total_relation_size(c.oid)::text AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND ${SYSTEM_SCHEMA_FILTER}
       ORDER BY 1, 2`,
    );
    // reltuples is -1 for a table never vacuumed or analysed: no estimate, count it as 0.
    return rows.filter((r) => !isDmsArtefact(r.name)).map((r) => ({
      schema: r.schema,
      name: r.name,
      estimatedRows: Math.max(0, Math.round(r.reltuples)),
      bytes: Number(r.bytes),
    }));
  }

  // --- position

  private async slotRow(name: string): Promise<SlotRow | undefined> {
    const [row] = await this.rows<SlotRow>(
      `SELECT slot_name::text, plugin::text, slot_type, database::text, active, active_pid,
              confirmed_flush_lsn::text, restart_lsn::text
       FROM pg_replication_slots WHERE slot_name = $1`,
      [name],
    );
    return row;
  }

  private static slotInfo(row: SlotRow): SlotInfo {
    return {
      name: row.slot_name,
      plugin: row.plugin ?? '',
      database: row.database ?? '',
      active: row.active,
      confirmedFlushLsn: row.confirmed_flush_lsn ?? undefined,
      restartLsn: row.restart_lsn ?? undefined,
    };
  }

  async slot(name: string): Promise<SlotInfo | undefined> {
    const row = await this.slotRow(name);
    return row ? PostgresAdapter.slotInfo(row) : undefined;
  }

  async slotRetainedWalBytes(name: string): Promise<number | undefined> {
    const [row] = await this.rows<{ bytes: string | null }>(
      'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS bytes FROM pg_replication_slots WHERE slot_name = $1',
      [name],
    );
    return row?.bytes == null ? undefined : Number(row.bytes);
  }

  async ensureLogicalSlot(name: string, plugin: 'test_decoding' | 'pgoutput'): Promise<SlotInfo> {
    const existing = await this.slotRow(name);
    if (existing) return this.acceptExistingSlot(existing, plugin);
    try {
      await this.pool.query('SELECT pg_create_logical_replication_slot($1, $2)', [name, plugin]);
    } catch (err) {
      // Someone created it between our look and our create: judge theirs like any existing slot.
      if (pgCode(err) !== '42710') throw err;
    }
    const created = await this.slotRow(name);
    if (!created) throw new Error(`replication slot ${name} vanished right after it was created`);
    return this.acceptExistingSlot(created, plugin);
  }

  private async acceptExistingSlot(row: SlotRow, plugin: string): Promise<SlotInfo> {
    const db = await this.one<{ db: string }>('SELECT current_database() AS db');
    if (row.slot_type !== 'logical' || row.plugin !== plugin || row.database !== db.db) {
      throw new Error(
        `replication slot ${row.slot_name} already exists as a ${row.slot_type} slot with plugin ${row.plugin ?? 'none'} ` +
          `on database ${row.database ?? 'none'}; rekey needs a logical ${plugin} slot on ${db.db}: drop it or choose another slot name`,
      );
    }
    return PostgresAdapter.slotInfo(row);
  }

  async dropSlotIfExists(name: string): Promise<boolean> {
    const row = await this.slotRow(name);
    if (!row) return false;
    if (row.active_pid !== null) {
      await this.pool.query('SELECT pg_terminate_backend($1)', [row.active_pid]);
      const released = await pollUntil(async () => !(await this.slotRow(name))?.active, TERMINATE_WAIT_MS);
      if (!released) throw new Error(`replication slot ${name} is still in use after terminating its walsender (pid ${row.active_pid})`);
    }
    try {
      await this.pool.query('SELECT pg_drop_replication_slot($1)', [name]);
      return true;
    } catch (err) {
      if (pgCode(err) === '42704') return false;
      throw err;
    }
  }

  async seedPosition(fn: 'aurora_volume_logical_start_lsn' | 'rds_tools.logical_seed_lsn'): Promise<string> {
    const signature = SEED_FUNCTIONS[fn];
    let found = await this.one<{ proc: string | null }>('SELECT to_regprocedure($1)::text AS proc', [signature]);
    if (found.proc === null && fn === 'rds_tools.logical_seed_lsn') {
      // The extension may simply not be created yet; its absence from the server shows as the error below.
      await this.pool.query('CREATE EXTENSION IF NOT EXISTS rds_tools').catch(() => undefined);
      found = await this.one<{ proc: string | null }>('SELECT to_regprocedure($1)::text AS proc', [signature]);
    }
    if (found.proc === null) {
      const hint = fn === 'rds_tools.logical_seed_lsn' ? ' (run CREATE EXTENSION rds_tools first)' : '';
      throw new Error(`function ${signature} does not exist on ${this.endpoint.database}${hint}; cannot read the snapshot's start LSN`);
    }
    // The name comes from the fixed SEED_FUNCTIONS table above, never from input.
    const row = await this.one<{ lsn: string | null }>(`SELECT (${signature})::text AS lsn`);
    if (row.lsn === null) throw new Error(`${signature} returned NULL on ${this.endpoint.database}`);
    return row.lsn;
  }

  comparePositions(a: string, b: string): number {
    return compareLsns(a, b);
  }

  // --- sentinel

  async ensureSentinelTable(table: string): Promise<void> {
    await this.pool.query(
      `CREATE TABLE IF NOT EXISTS public.${quoteIdent(table, 'postgres')} (
         token text PRIMARY KEY,
         written_at timestamptz NOT NULL DEFAULT now())`,
    );
  }

  async writeSentinel(table: string, token: string): Promise<void> {
    // Idempotent for a re-run step: the same token written twice is one row. Committed with synchronous_commit on
    // whatever the server's setting: CDC reads only flushed WAL, and an asynchronous commit waits for the WAL
    // writer (wal_writer_delay, 200 ms by default; measured 165-410 ms on the rehearsal servers, 1-10 ms when
    // synchronous), time the drain would spend fenced. The flush carries every change before the sentinel too.
    // set_config(..., true) is SET LOCAL for the statement's own transaction, so one round trip does it.
    await this.pool.query(
      `WITH sync AS (SELECT set_config('synchronous_commit', 'on', true))
       INSERT INTO public.${quoteIdent(table, 'postgres')} (token) SELECT $1 FROM sync ON CONFLICT (token) DO NOTHING`,
      [token],
    );
  }

  async hasSentinel(table: string, token: string): Promise<boolean> {
    const exists = await this.one<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
      `public.${quoteIdent(table, 'postgres')}`,
    ]);
    // On a target the table may not have arrived yet: that is "not yet", not an error.
    if (exists.t === null) return false;
    const row = await this.one<{ found: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM public.${quoteIdent(table, 'postgres')} WHERE token = $1) AS found`,
      [token],
    );
    return row.found;
  }

  // --- fence

  async writerPrincipals(exclude: string[]): Promise<string[]> {
    const rows = await this.rows<{ rolname: string }>(
      `SELECT rolname FROM pg_roles
       WHERE rolcanlogin AND rolname <> current_user AND rolname !~ '^(pg_|rds)' AND NOT (rolname = ANY($1::text[]))
       ORDER BY rolname`,
      [exclude],
    );
    return rows.map((r) => r.rolname);
  }

  async fence(requested: string[], opts: FenceOptions = {}): Promise<FenceState> {
    const principals = [...new Set(requested)];
    // Nothing to fence is a no-op: no statement, no record to write.
    if (principals.length === 0) return withPreviousBefore({ principals: [], at: new Date().toISOString() }, opts.previous);
    const roles = await this.rows<{ rolname: string; rolcanlogin: boolean; rolconnlimit: number; is_me: boolean }>(
      `SELECT rolname, rolcanlogin, rolconnlimit, rolname = current_user AS is_me
       FROM pg_roles WHERE rolname = ANY($1::text[])`,
      [principals],
    );
    const missing = principals.filter((p) => !roles.some((r) => r.rolname === p));
    if (missing.length > 0) throw new Error(`cannot fence unknown role(s): ${missing.join(', ')}`);
    const me = roles.find((r) => r.is_me);
    if (me) throw new Error(`refusing to fence ${me.rolname}: it is the role rekey itself connects as`);

    const read: FenceState = {
      principals: principals.map((name) => {
        const r = roles.find((x) => x.rolname === name);
        return { name, before: { rolcanlogin: r?.rolcanlogin ?? false, rolconnlimit: r?.rolconnlimit ?? -1 } };
      }),
      at: new Date().toISOString(),
    };
    const state = withPreviousBefore(read, opts.previous);
    await opts.beforeChange?.(state);
    try {
      // NOLOGIN first so terminated sessions cannot come back; a role already NOLOGIN is left untouched.
      // By the recorded prior state: a role an earlier attempt fenced reads NOLOGIN now but is fenced (again) all the same.
      for (const [i, p] of state.principals.entries()) {
        if (p.before.rolcanlogin === true) await this.pool.query(`ALTER ROLE ${quoteIdent(p.name, 'postgres')} NOLOGIN`);
        opts.afterEach?.(p.name, i + 1);
      }
      const sessions = async (): Promise<number> =>
        Number(
          (
            await this.one<{ n: string }>(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE usename = ANY($1::text[]) AND pid <> pg_backend_pid()`,
              [principals],
            )
          ).n,
        );
      const gone = await pollUntil(async () => {
        await this.pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1::text[]) AND pid <> pg_backend_pid()`,
          [principals],
        );
        return (await sessions()) === 0;
      }, TERMINATE_WAIT_MS);
      if (!gone) throw new Error(`sessions of ${principals.join(', ')} were still open ${TERMINATE_WAIT_MS} ms after terminating them`);
    } catch (err) {
      // Leave nothing half-fenced: put back what we changed, then report.
      await this.unfence(state).catch(() => undefined);
      throw new Error(`fence failed and was undone: ${errorText(err)}`, { cause: err });
    }
    return state;
  }

  async openSessions(users: string[]): Promise<OpenSession[]> {
    // Without pg_read_all_stats a session of another role shows with backend_type and client_addr NULL: it is
    // kept (as "hidden"), since it may well be an application's.
    const rows = await this.rows<{ user: string; client: string | null; application: string | null; visible: boolean }>(
      `SELECT usename AS user, host(client_addr) AS client, application_name AS application, backend_type IS NOT NULL AS visible
         FROM pg_stat_activity
        WHERE usename = ANY($1::text[]) AND coalesce(backend_type, 'client backend') = 'client backend'
          AND coalesce(application_name, '') <> $2 AND pid <> pg_backend_pid()
        ORDER BY 1, 2, 3`,
      [users, APPLICATION_NAME],
    );
    return rows.map((r) => ({
      user: r.user,
      client: r.client !== null ? normalizeAddress(r.client) : r.visible ? 'local' : 'hidden (no pg_read_all_stats)',
      application: r.application ?? '',
    }));
  }

  async stillFenced(state: FenceState): Promise<string[]> {
    const wanted = state.principals.filter((p) => p.before.rolcanlogin === true).map((p) => p.name);
    if (wanted.length === 0) return [];
    const rows = await this.rows<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[]) AND rolcanlogin', [wanted]);
    const can = new Set(rows.map((r) => r.rolname));
    return wanted.filter((n) => !can.has(n));
  }

  async writability(principals: string[]): Promise<Writability> {
    const server = await this.one<{ recovery: boolean; ro: string }>("SELECT pg_is_in_recovery() AS recovery, current_setting('default_transaction_read_only') AS ro");
    const readOnly = server.recovery ? 'the server is a replica (pg_is_in_recovery)' : server.ro === 'on' ? 'default_transaction_read_only is on' : undefined;
    const wanted = [...new Set(principals)];
    const rows = wanted.length === 0 ? [] : await this.rows<{ rolname: string; rolcanlogin: boolean; rolconnlimit: number; can_connect: boolean; expired: boolean }>(
      `SELECT rolname, rolcanlogin, rolconnlimit, has_database_privilege(oid, current_database(), 'CONNECT') AS can_connect,
              coalesce(rolvaliduntil < now(), false) AS expired
         FROM pg_roles WHERE rolname = ANY($1::text[])`,
      [wanted],
    );
    const blocked: Writability['blocked'] = [];
    for (const name of wanted) {
      const r = rows.find((x) => x.rolname === name);
      const reasons = !r
        ? ['the role does not exist']
        : [
            ...(r.rolcanlogin ? [] : ['NOLOGIN']),
            ...(r.rolconnlimit === 0 ? ['CONNECTION LIMIT 0'] : []),
            ...(r.can_connect ? [] : ['no CONNECT privilege on the database']),
            ...(r.expired ? ['its password expired (VALID UNTIL)'] : []),
          ];
      if (reasons.length > 0) blocked.push({ name, reason: reasons.join(', ') });
    }
    return { ...(readOnly ? { readOnly } : {}), blocked };
  }

  async unfence(state: FenceState): Promise<void> {
    const problems: string[] = [];
    for (const p of state.principals) {
      const role = quoteIdent(p.name, 'postgres');
      try {
        const [now] = await this.rows<{ rolcanlogin: boolean; rolconnlimit: number }>(
          'SELECT rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = $1',
          [p.name],
        );
        if (!now) {
          problems.push(`${p.name}: role no longer exists`);
          continue;
        }
        const { rolcanlogin, rolconnlimit } = p.before;
        if (typeof rolcanlogin === 'boolean' && rolcanlogin !== now.rolcanlogin) {
          await this.pool.query(`ALTER ROLE ${role} ${rolcanlogin ? 'LOGIN' : 'NOLOGIN'}`);
        }
        if (typeof rolconnlimit === 'number' && Number.isInteger(rolconnlimit) && rolconnlimit !== now.rolconnlimit) {
          await this.pool.query(`ALTER ROLE ${role} CONNECTION LIMIT ${rolconnlimit}`);
        }
      } catch (err) {
        problems.push(`${p.name}: ${errorText(err)}`);
      }
    }
    if (problems.length > 0) throw new Error(`unfence could not restore every role: ${problems.join('; ')}`);
  }

  // --- validation

  async listTables(include: string[], exclude: string[]): Promise<TableRef[]> {
    // Partitions are covered by their partitioned parent, so only top-level tables are listed.
    const rows = await this.rows<TableRef>(
      `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${SYSTEM_SCHEMA_FILTER}
       ORDER BY 1, 2`,
    );
    return filterTables(
      rows.filter((t) => !isDmsArtefact(t.name)),
      include,
      exclude,
    );
  }

  async rowCount(table: TableRef): Promise<number> {
    const row = await this.one<{ n: string }>(`SELECT count(*) AS n FROM ${quoteTable(table, 'postgres')}`);
    return Number(row.n);
  }

  /**
   * `rows:sum` where sum adds hashtextextended(row::text, 0) over all rows: independent of row order and
   * physical layout. hashtextextended is stable across servers and versions (hash partitioning relies on it);
   * the row text is made comparable by the fixed TimeZone/DateStyle/float settings of poolConfig.
   */
  async checksum(table: TableRef): Promise<string> {
    const row = await this.one<{ n: string; s: string }>(
      `SELECT count(*)::text AS n, coalesce(sum(hashtextextended(t::text, 0)), 0)::text AS s
       FROM ${quoteTable(table, 'postgres')} AS t`,
    );
    return `${row.n}:${row.s}`;
  }

  async snapshotReader(): Promise<SnapshotReader> {
    const client = new pg.Client(poolConfig(this.endpoint));
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      throw new Error(`cannot connect to ${where(this.endpoint)}: ${errorText(err)}`, { cause: err });
    }
    return new PgSnapshotReader(client);
  }

  // --- sequences

  async sequences(): Promise<SequenceState[]> {
    const seqs = await this.rows<{ oid: number; schema: string; name: string; increment: string }>(
      `SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, s.seqincrement::text AS increment
       FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE ${SYSTEM_SCHEMA_FILTER}
       ORDER BY 2, 3`,
    );
    // Columns fed by a sequence: a default that calls nextval on it (serial, shared sequences) or
    // ownership by an identity/serial column.
    const uses = await this.rows<{ seq: string; schema: string; name: string; column: string }>(
      `SELECT DISTINCT u.seq::int8::text AS seq, n.nspname AS schema, c.relname AS name, a.attname AS column
       FROM (
         SELECT d.refobjid AS seq, ad.adrelid AS rel, ad.adnum AS attnum
         FROM pg_depend d JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
         WHERE d.refclassid = 'pg_class'::regclass
         UNION
         SELECT d.objid, d.refobjid, d.refobjsubid
         FROM pg_depend d
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
           AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
       ) u
       JOIN pg_class s ON s.oid = u.seq AND s.relkind = 'S'
       JOIN pg_class c ON c.oid = u.rel
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = u.rel AND a.attnum = u.attnum
       ORDER BY 2, 3, 4`,
    );
    const result: SequenceState[] = [];
    for (const s of seqs) {
      const cur = await this.one<{ last_value: string; is_called: boolean }>(
        `SELECT last_value::text, is_called FROM ${quoteTable(s, 'postgres')}`,
      );
      const last = BigInt(cur.last_value);
      result.push({
        name: `${s.schema}.${s.name}`,
        nextValue: cur.is_called ? last + BigInt(s.increment) : last,
        columns: uses
          .filter((u) => u.seq === String(s.oid))
          .map((u) => ({ schema: u.schema, name: u.name, column: u.column })),
      });
    }
    return result;
  }

  async columnMax(table: TableRef, column: string): Promise<bigint | null> {
    const row = await this.one<{ m: string | null }>(
      `SELECT max(${quoteIdent(column, 'postgres')})::text AS m FROM ${quoteTable(table, 'postgres')}`,
    );
    return row.m === null ? null : BigInt(row.m);
  }

  async raiseSequence(name: string, next: bigint): Promise<void> {
    const matches = await this.rows<{ oid: string; schema: string; name: string; increment: string }>(
      `SELECT c.oid::int8::text AS oid, n.nspname AS schema, c.relname AS name, s.seqincrement::text AS increment
       FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname || '.' || c.relname = $1`,
      [name],
    );
    const [seq] = matches;
    if (!seq) throw new Error(`sequence ${name} not found on ${this.endpoint.database}`);
    if (matches.length > 1) throw new Error(`sequence name ${name} is ambiguous on ${this.endpoint.database}`);
    if (BigInt(seq.increment) < 0n) throw new Error(`sequence ${name} counts down; raising it is not supported`);
    const cur = await this.one<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text, is_called FROM ${quoteTable(seq, 'postgres')}`,
    );
    const nextNow = cur.is_called ? BigInt(cur.last_value) + BigInt(seq.increment) : BigInt(cur.last_value);
    if (nextNow >= next) return;
    // is_called = false: the next nextval() returns exactly `next`.
    await this.pool.query('SELECT setval($1::oid::regclass, $2::int8, false)', [seq.oid, next.toString()]);
  }
}

const PG_INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);

/**
 * Built-in types (by OID, fixed across versions) whose own extended hash is equal exactly when their text under
 * poolConfig's settings is: integers, boolean, bytes, uuid, dates and timestamps (the stored instant; the text is
 * fixed by TimeZone/DateStyle), text and varchar hashed byte by byte (COLLATE "C"), numeric only with a declared
 * scale (its hash ignores display scale). Everything else (float's -0, interval's 24 h = 1 day, json, enums by OID,
 * arrays, domains, ...) is hashed by its text.
 */
const PG_TYPED_HASH = new Map<number, 'plain' | 'bytes' | 'scaled'>([
  [16, 'plain'], [17, 'plain'], [20, 'plain'], [21, 'plain'], [23, 'plain'], [26, 'plain'], [2950, 'plain'],
  [1082, 'plain'], [1114, 'plain'], [1184, 'plain'],
  [25, 'bytes'], [1043, 'bytes'],
  [1700, 'scaled'],
]);

/** The row hash of a spec: hash_record_extended over the columns, typed ones as they are, the rest as text. */
function pgRowHashSql(spec: RowHashSpec | undefined): string {
  if (!spec) return 'hashtextextended(t::text, 0)';
  const cols = spec.columns.map((c) => {
    const col = `t.${quoteIdent(c.name, 'postgres')}`;
    if (c.hash === 'text') return `(${col})::text COLLATE "C"`;
    return c.type === 'text' || c.type.startsWith('character varying') ? `${col} COLLATE "C"` : col;
  });
  return `hash_record_extended(ROW(${cols.join(', ')}), 0)`;
}

/** A dedicated connection holding one REPEATABLE READ transaction (see SnapshotReader). */
class PgSnapshotReader implements SnapshotReader {
  constructor(private readonly client: pg.Client) {}

  private async rows<R>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.client.query(sql, params)).rows as R[];
  }

  async begin(): Promise<void> {
    await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // The snapshot is taken by the transaction's first statement.
    await this.client.query('SELECT 1');
  }

  async primaryKey(table: TableRef): Promise<PrimaryKey | undefined> {
    const cols = await this.rows<{ col: string; type: string }>(
      `SELECT a.attname AS col, format_type(a.atttypid, NULL) AS type
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
       WHERE i.indrelid = $1::regclass AND i.indisprimary
       ORDER BY array_position(i.indkey::int2[], a.attnum)`,
      [quoteTable(table, 'postgres')],
    );
    if (cols.length === 0) return undefined;
    return { columns: cols.map((c) => c.col), integer: cols.length === 1 && PG_INTEGER_TYPES.has(cols[0]?.type ?? '') };
  }

  async keyExtent(table: TableRef, column: string): Promise<{ min: string; max: string } | undefined> {
    const col = quoteIdent(column, 'postgres');
    const [row] = await this.rows<{ min: string | null; max: string | null }>(`SELECT min(${col})::text AS min, max(${col})::text AS max FROM ${quoteTable(table, 'postgres')}`);
    return row?.min != null && row.max != null ? { min: row.min, max: row.max } : undefined;
  }

  async keySplits(table: TableRef, columns: string[], every: number): Promise<string[][]> {
    const cols = columns.map((c) => quoteIdent(c, 'postgres'));
    const rows = await this.rows<{ k: string[] }>(
      `SELECT ARRAY[${cols.map((c) => `${c}::text`).join(', ')}] AS k
       FROM (SELECT ${cols.join(', ')}, row_number() OVER (ORDER BY ${cols.join(', ')}) AS rn FROM ${quoteTable(table, 'postgres')}) s
       WHERE rn % $1 = 0 ORDER BY rn`,
      [every],
    );
    return rows.map((r) => r.k);
  }

  async hashSpec(table: TableRef): Promise<RowHashSpec | undefined> {
    const cols = await this.rows<{ name: string; oid: number; typmod: number; type: string; ok: boolean }>(
      `SELECT a.attname AS name, a.atttypid::int4 AS oid, a.atttypmod AS typmod, format_type(a.atttypid, a.atttypmod) AS type,
         to_regprocedure('pg_catalog.hash_record_extended(record, bigint)') IS NOT NULL AS ok
       FROM pg_attribute a
       WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum`,
      [quoteTable(table, 'postgres')],
    );
    // hash_record_extended arrived in PostgreSQL 14.
    if (cols.length === 0 || !cols[0]?.ok) return undefined;
    return {
      columns: cols.map((c) => {
        const kind = PG_TYPED_HASH.get(c.oid);
        const typed = kind !== undefined && (kind !== 'scaled' || c.typmod >= 0);
        return { name: c.name, type: c.type, hash: typed ? 'typed' : 'text' };
      }),
    };
  }

  async digest(table: TableRef, hash: boolean | RowHashSpec, range?: { key: string[]; range: KeyRange }): Promise<RowsDigest> {
    const where = range ? keyRangePredicate(range.key, range.range, 'postgres') : { sql: 'TRUE', params: [] };
    const sum = hash === false ? 'NULL' : `coalesce(sum(${pgRowHashSql(hash === true ? undefined : hash)}), 0)::text`;
    const [row] = await this.rows<{ n: string; s: string | null }>(
      `SELECT count(*)::text AS n, ${sum} AS s
       FROM ${quoteTable(table, 'postgres')} AS t WHERE ${where.sql}`,
      where.params,
    );
    return { rows: Number(row?.n ?? 0), ...(hash !== false && row?.s != null ? { sum: row.s } : {}) };
  }

  async rowHashes(table: TableRef, key: string[], range: KeyRange, limit: number, spec?: RowHashSpec): Promise<Map<string, string>> {
    const cols = key.map((c) => quoteIdent(c, 'postgres'));
    const where = keyRangePredicate(key, range, 'postgres');
    const rows = await this.rows<{ k: string; h: string }>(
      `SELECT json_build_array(${cols.join(', ')})::text AS k, ${pgRowHashSql(spec)}::text AS h
       FROM ${quoteTable(table, 'postgres')} AS t WHERE ${where.sql} ORDER BY ${cols.join(', ')} LIMIT ${Math.max(1, Math.floor(limit))}`,
      where.params,
    );
    return new Map(rows.map((r) => [r.k, r.h]));
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
