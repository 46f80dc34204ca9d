// The engines' own replication, as the native strategy drives it: PostgreSQL publications and a subscription
// that starts at the snapshot's LSN; MySQL/MariaDB's RDS procedures pointing the restored database at the
// source's binlog position. Plain SQL over a query function, so both adapters expose it without new pools.
import { quoteIdent, quoteTable } from './sql.js';
import type { BinlogPosition, TableRef } from './types.js';

/** Runs one statement and returns its rows. */
export type Query = <R>(sql: string, params?: unknown[]) => Promise<R[]>;

/** A subscription on the restored PostgreSQL database. */
export interface SubscriptionState {
  name: string;
  /** subenabled */
  enabled: boolean;
  /** The slot on the source it streams from (null once detached). */
  slot: string | null;
  /** The remote LSN its origin has reached (null: never advanced, nothing applied). */
  originLsn: string | null;
  /** Whether an apply worker is running (pg_stat_subscription.pid). */
  workerRunning: boolean;
  /** pg_stat_subscription_stats.apply_error_count where the server has it (PostgreSQL 15+). */
  applyErrors?: number;
}

/** Where the source's WAL and the subscriber stand, read on the source. */
export interface SourceWal {
  /** pg_current_wal_lsn() */
  current: string;
  /** The slot's confirmed_flush_lsn (what the subscriber confirmed). */
  confirmedFlush: string | null;
  /** The walsender's replay_lsn for the subscription (null when not connected). */
  replay: string | null;
}

/** PostgreSQL native replication (source: publications and WAL; target: the subscription). */
export interface PgNative {
  /** schema.table of the given tables that have a replica identity (primary key, or FULL/USING INDEX). */
  withReplicaIdentity(tables: TableRef[]): Promise<Set<string>>;
  /** Creates the publication if missing (idempotent; an existing one is left as it is). */
  ensurePublication(name: string, tables: TableRef[], publish: 'insert, update, delete' | 'insert'): Promise<boolean>;
  dropPublication(name: string): Promise<void>;
  subscription(name: string): Promise<SubscriptionState | undefined>;
  /** CREATE SUBSCRIPTION ... WITH (enabled = false, create_slot = false, copy_data = false, slot_name = ...). */
  createSubscription(opts: { name: string; conninfo: string; publications: string[]; slot: string }): Promise<void>;
  /** Moves the subscription's origin to `lsn` (pg_replication_origin_advance on pg_<oid>). */
  advanceOrigin(subscription: string, lsn: string): Promise<void>;
  setSubscriptionEnabled(name: string, enabled: boolean): Promise<void>;
  /** Disables, detaches from its remote slot (left to the source's cleanup) and drops the subscription; false when missing. */
  dropSubscription(name: string): Promise<boolean>;
  /** Source side: current WAL position, the slot's confirmed position, the walsender's replay position. */
  sourceWal(slot: string, applicationName: string): Promise<SourceWal>;
}

/** A libpq conninfo value, quoted so spaces, quotes and backslashes survive. */
export function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * The conninfo of a subscription. The password goes into the target's catalog, as PostgreSQL stores it (never
 * logged), unless `passfile` names a password file the target server reads it from (the rehearsal's servers).
 */
export function subscriptionConninfo(o: { host: string; port: number; database: string; user: string; password?: string; passfile?: string; tls: boolean; applicationName: string }): string {
  const hasPassword = o.password !== undefined && o.password !== '';
  const fields: [string, string][] = [
    ['host', o.host], ['port', String(o.port)], ['dbname', o.database], ['user', o.user],
    ...(hasPassword ? [(o.passfile !== undefined ? ['passfile', o.passfile] : ['password', o.password]) as [string, string]] : []),
    ['sslmode', o.tls ? 'require' : 'prefer'], ['application_name', o.applicationName],
  ];
  return fields.map(([k, v]) => `${k}=${conninfoValue(v)}`).join(' ');
}

const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

export function pgNative(q: Query): PgNative {
  return {
    async withReplicaIdentity(tables) {
      const rows = await q<{ t: string }>(
        `SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND (n.nspname || '.' || c.relname) = ANY($1::text[])
            AND (c.relreplident IN ('f', 'i') OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))`,
        [tables.map((t) => `${t.schema}.${t.name}`)],
      );
      return new Set(rows.map((r) => r.t));
    },
    async ensurePublication(name, tables, publish) {
      const [exists] = await q('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
      if (exists) return false;
      const forTables = tables.length > 0 ? ` FOR TABLE ${tables.map((t) => quoteTable(t, 'postgres')).join(', ')}` : '';
      await q(`CREATE PUBLICATION ${quoteIdent(name, 'postgres')}${forTables} WITH (publish = ${literal(publish)})`);
      return true;
    },
    async dropPublication(name) {
      await q(`DROP PUBLICATION IF EXISTS ${quoteIdent(name, 'postgres')}`);
    },
    async subscription(name) {
      const [row] = await q<{ oid: string; subenabled: boolean; subslotname: string | null; remote_lsn: string | null; pid: number | null }>(
        `SELECT s.oid::text, s.subenabled, s.subslotname::text, o.remote_lsn::text,
                (SELECT pid FROM pg_stat_subscription st WHERE st.subid = s.oid AND st.relid IS NULL LIMIT 1) AS pid
           FROM pg_subscription s
           LEFT JOIN pg_replication_origin_status o ON o.external_id = 'pg_' || s.oid::text
          WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [name],
      );
      if (!row) return undefined;
      let applyErrors: number | undefined;
      const [hasStats] = await q("SELECT 1 FROM pg_catalog.pg_class WHERE relname = 'pg_stat_subscription_stats'");
      if (hasStats) {
        const [st] = await q<{ n: string }>('SELECT apply_error_count::text AS n FROM pg_stat_subscription_stats WHERE subid = $1::oid', [row.oid]);
        if (st) applyErrors = Number(st.n);
      }
      const origin = row.remote_lsn === null || row.remote_lsn === '0/0' ? null : row.remote_lsn;
      return { name, enabled: row.subenabled, slot: row.subslotname, originLsn: origin, workerRunning: row.pid !== null, ...(applyErrors !== undefined ? { applyErrors } : {}) };
    },
    async createSubscription(o) {
      await q(
        `CREATE SUBSCRIPTION ${quoteIdent(o.name, 'postgres')} CONNECTION ${literal(o.conninfo)} PUBLICATION ${o.publications.map((p) => quoteIdent(p, 'postgres')).join(', ')}
           WITH (enabled = false, create_slot = false, copy_data = false, slot_name = ${literal(o.slot)})`,
      );
    },
    async advanceOrigin(subscription, lsn) {
      const [row] = await q<{ oid: string }>('SELECT oid::text FROM pg_subscription WHERE subname = $1', [subscription]);
      if (!row) throw new Error(`subscription ${subscription} does not exist`);
      await q('SELECT pg_replication_origin_advance($1, $2::pg_lsn)', [`pg_${row.oid}`, lsn]);
    },
    async setSubscriptionEnabled(name, enabled) {
      await q(`ALTER SUBSCRIPTION ${quoteIdent(name, 'postgres')} ${enabled ? 'ENABLE' : 'DISABLE'}`);
    },
    async dropSubscription(name) {
      const [exists] = await q('SELECT 1 FROM pg_subscription WHERE subname = $1', [name]);
      if (!exists) return false;
      const sub = quoteIdent(name, 'postgres');
      await q(`ALTER SUBSCRIPTION ${sub} DISABLE`);
      // Detached, DROP SUBSCRIPTION does not connect to the source to drop the slot: that is the source cleanup's.
      await q(`ALTER SUBSCRIPTION ${sub} SET (slot_name = NONE)`);
      await q(`DROP SUBSCRIPTION ${sub}`);
      return true;
    },
    async sourceWal(slot, applicationName) {
      const [row] = await q<{ current: string; confirmed: string | null; replay: string | null }>(
        `SELECT pg_current_wal_lsn()::text AS current,
                (SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1) AS confirmed,
                (SELECT replay_lsn::text FROM pg_stat_replication WHERE application_name = $2 ORDER BY replay_lsn DESC NULLS LAST LIMIT 1) AS replay`,
        [slot, applicationName],
      );
      return { current: row?.current ?? '0/0', confirmedFlush: row?.confirmed ?? null, replay: row?.replay ?? null };
    },
  };
}

/** What the restored MySQL database's replica says (SHOW REPLICA STATUS / SHOW SLAVE STATUS). */
export interface ReplicaState {
  /** Source host it replicates from ('' when none is configured). */
  sourceHost: string;
  /** IO thread: Yes, No, Connecting. */
  io: string;
  /** SQL thread: Yes, No. */
  sql: string;
  /** Seconds_Behind_Source/Master (null when a thread is stopped). */
  secondsBehind: number | null;
  /** The source coordinates applied. */
  executed: BinlogPosition;
  /** Last IO/SQL error, if any. */
  error?: string;
  /** Last_SQL_Error: applying failed (the replica stops; not retried). */
  sqlError?: string;
}

/** MySQL/MariaDB native replication through the RDS procedures. */
export interface MyNative {
  /** CALL mysql.rds_set_external_source (MySQL 8.0.23+), else mysql.rds_set_external_master; returns which. */
  setExternalSource(o: { host: string; port: number; user: string; password: string; position: BinlogPosition; tls: boolean }): Promise<string>;
  startReplication(): Promise<void>;
  stopReplication(): Promise<void>;
  /** CALL mysql.rds_reset_external_source, else mysql.rds_reset_external_master. */
  resetExternalSource(): Promise<void>;
  /** Undefined when no replica is configured. */
  replicaState(): Promise<ReplicaState | undefined>;
}

/** ER_SP_DOES_NOT_EXIST: no such procedure. */
const NO_PROCEDURE = 1305;
const errnoOf = (err: unknown): number | undefined => (err as { errno?: number }).errno;

async function callEither(q: Query, names: [string, string], args: string, params: unknown[]): Promise<string> {
  try {
    await q(`CALL mysql.${names[0]}(${args})`, params);
    return names[0];
  } catch (err) {
    if (errnoOf(err) !== NO_PROCEDURE) throw err;
    await q(`CALL mysql.${names[1]}(${args})`, params);
    return names[1];
  }
}

export function myNative(q: Query): MyNative {
  return {
    setExternalSource(o) {
      return callEither(q, ['rds_set_external_source', 'rds_set_external_master'], '?, ?, ?, ?, ?, ?, ?', [o.host, o.port, o.user, o.password, o.position.file, o.position.position, o.tls ? 1 : 0]);
    },
    async startReplication() {
      await q('CALL mysql.rds_start_replication');
    },
    async stopReplication() {
      await q('CALL mysql.rds_stop_replication');
    },
    async resetExternalSource() {
      await callEither(q, ['rds_reset_external_source', 'rds_reset_external_master'], '', []);
    },
    async replicaState() {
      let rows: Record<string, unknown>[];
      try {
        rows = await q('SHOW REPLICA STATUS');
      } catch {
        rows = await q('SHOW SLAVE STATUS');
      }
      const r = rows[0];
      if (!r) return undefined;
      const s = (...keys: string[]): string => {
        for (const k of keys) {
          const v = r[k];
          if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') return String(v);
        }
        return '';
      };
      const behind = s('Seconds_Behind_Source', 'Seconds_Behind_Master');
      const error = [s('Last_IO_Error'), s('Last_SQL_Error')].filter((e) => e !== '').join('; ');
      return {
        sourceHost: s('Source_Host', 'Master_Host'),
        io: s('Replica_IO_Running', 'Slave_IO_Running'),
        sql: s('Replica_SQL_Running', 'Slave_SQL_Running'),
        secondsBehind: behind === '' ? null : Number(behind),
        executed: { file: s('Relay_Source_Log_File', 'Relay_Master_Log_File'), position: Number(s('Exec_Source_Log_Pos', 'Exec_Master_Log_Pos') || 0) },
        ...(error !== '' ? { error } : {}),
        ...(s('Last_SQL_Error') !== '' ? { sqlError: s('Last_SQL_Error') } : {}),
      };
    },
  };
}
