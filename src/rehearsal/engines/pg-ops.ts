// The PostgreSQL work behind the fake APIs: snapshot (exported-snapshot slot + pg_dump), restore
// (roles, pg_restore, aurora_volume_logical_start_lsn, slot copies), CDC by native subscription, lag.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { postgresBinDir } from '../servers/index.js';
import type { Backend } from '../registry.js';
import { parseLsn } from '../../db/position.js';

/** Connection settings for a backend (the password comes from the environment, never stored). */
export function pgConfig(b: Backend, database = b.database): pg.ClientConfig {
  const password = b.passwordEnv !== undefined ? process.env[b.passwordEnv] : undefined;
  return { host: b.host, port: b.port, user: b.user, database, ...(password !== undefined ? { password } : {}), connectionTimeoutMillis: 10_000 };
}

/** Run `fn` with a connected client; always closes it. */
export async function withPg<T>(config: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Quote an SQL identifier. */
export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
/** Quote an SQL string literal. */
export const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;
/** schema.table, quoted. */
export const qualified = (table: string): string => {
  const [schema = '', name = ''] = splitTable(table);
  return `${ident(schema)}.${ident(name)}`;
};
function splitTable(table: string): [string, string] {
  const dot = table.indexOf('.');
  return [table.slice(0, dot), table.slice(dot + 1)];
}

async function runPgTool(tool: string, args: string[], b: Backend, timeoutMs = 30 * 60_000): Promise<void> {
  const bin = join(await postgresBinDir(), tool);
  const password = b.passwordEnv !== undefined ? process.env[b.passwordEnv] : undefined;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', ...(password !== undefined ? { PGPASSWORD: password } : {}) };
  const conn = ['-h', b.host, '-p', String(b.port), '-U', b.user];
  await new Promise<void>((resolve, reject) => {
    execFile(bin, [...conn, ...args], { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${tool} failed (exit ${String(error.code ?? error.signal)}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
      else resolve();
    });
  });
}

/** A role as it was at snapshot time. */
export interface RoleSnapshot {
  name: string;
  superuser: boolean;
  inherit: boolean;
  createRole: boolean;
  createDb: boolean;
  canLogin: boolean;
  replication: boolean;
  bypassRls: boolean;
  connLimit: number;
  validUntil: string | null;
  /** Password hash (only readable by a superuser); kept in a 0600 file beside the dump. */
  passwordHash: string | null;
  /** Roles it is a member of. */
  memberOf: string[];
}

/** What a snapshot produced. */
export interface PgSnapshotResult {
  lsn: string;
  slots: { name: string; plugin: string }[];
  databaseOwner: string;
}

/**
 * Create the snapshot's publications and internal pgoutput slot with an exported snapshot, and dump the
 * database and its roles at exactly that snapshot: the dump plus the slot's stream is every change once.
 * The publications must exist before the slot: pgoutput looks them up as of the WAL it decodes.
 */
export async function takeSnapshot(b: Backend, internalSlot: string, publications: [full: string, insertOnly: string], dumpFile: string, rolesFile: string): Promise<PgSnapshotResult> {
  await createPublications(b, publications);
  const repl = new pg.Client({ ...pgConfig(b), replication: 'database' } as pg.ClientConfig);
  repl.on('error', () => undefined);
  await repl.connect();
  try {
    const created = await repl.query<{ consistent_point: string; snapshot_name: string }>(`CREATE_REPLICATION_SLOT ${ident(internalSlot)} LOGICAL pgoutput EXPORT_SNAPSHOT`);
    const row = created.rows[0];
    if (!row) throw new Error('CREATE_REPLICATION_SLOT returned nothing');
    const extra = await withPg(pgConfig(b), async (c) => {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await c.query(`SET TRANSACTION SNAPSHOT ${literal(row.snapshot_name)}`);
      const roles = await readRoles(c);
      const owner = await c.query<{ owner: string }>('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()');
      const slots = await c.query<{ name: string; plugin: string }>(
        `SELECT slot_name AS name, plugin FROM pg_replication_slots WHERE slot_type = 'logical' AND database = current_database() AND slot_name <> $1 AND slot_name NOT LIKE 'rh\\_%'`,
        [internalSlot],
      );
      await c.query('COMMIT');
      return { roles, owner: owner.rows[0]?.owner ?? b.user, slots: slots.rows };
    });
    writeFileSync(rolesFile, JSON.stringify(extra.roles), { mode: 0o600 });
    await runPgTool('pg_dump', ['-d', b.database, `--snapshot=${row.snapshot_name}`, '-Fc', '--no-publications', '--no-subscriptions', '-f', dumpFile], b);
    return { lsn: row.consistent_point, slots: extra.slots, databaseOwner: extra.owner };
  } catch (error) {
    await withPg(pgConfig(b), async (c) => {
      await dropSlotWhenFree(c, internalSlot);
      for (const p of publications) await c.query(`DROP PUBLICATION IF EXISTS ${ident(p)}`);
    }).catch(() => undefined);
    throw error;
  } finally {
    await repl.end().catch(() => undefined);
  }
}

/**
 * Publish every table: with a replica identity for insert/update/delete, without one for inserts only
 * (publishing their updates would make UPDATE/DELETE fail on the source; DMS ignores them anyway).
 */
async function createPublications(b: Backend, [full, insertOnly]: [string, string]): Promise<void> {
  const tables = await listTables(b);
  await withPg(pgConfig(b), async (c) => {
    for (const [name, list, publish] of [
      [full, tables.filter((t) => t.hasReplicaIdentity), 'insert, update, delete'],
      [insertOnly, tables.filter((t) => !t.hasReplicaIdentity), 'insert'],
    ] as const) {
      await c.query(`DROP PUBLICATION IF EXISTS ${ident(name)}`);
      const forTables = list.length > 0 ? ` FOR TABLE ${list.map((t) => qualified(t.name)).join(', ')}` : '';
      await c.query(`CREATE PUBLICATION ${ident(name)}${forTables} WITH (publish = ${literal(publish)})`);
    }
  });
}

async function readRoles(c: pg.Client): Promise<RoleSnapshot[]> {
  const members = await c.query<{ member: string; role: string }>(
    'SELECT pg_get_userbyid(member) AS member, pg_get_userbyid(roleid) AS role FROM pg_auth_members',
  );
  const memberOf = (name: string): string[] => members.rows.filter((m) => m.member === name).map((m) => m.role);
  let rows: Record<string, unknown>[];
  try {
    await c.query('SAVEPOINT roles');
    rows = (await c.query<Record<string, unknown>>("SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil::text AS rolvaliduntil, rolpassword FROM pg_authid WHERE rolname NOT LIKE 'pg\\_%'")).rows;
  } catch {
    // not a superuser (adopted source): attributes without password hashes
    await c.query('ROLLBACK TO SAVEPOINT roles');
    rows = (await c.query<Record<string, unknown>>("SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil::text AS rolvaliduntil, NULL AS rolpassword FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'")).rows;
  }
  return rows.map((r) => ({
    name: String(r.rolname), superuser: r.rolsuper === true, inherit: r.rolinherit === true, createRole: r.rolcreaterole === true,
    createDb: r.rolcreatedb === true, canLogin: r.rolcanlogin === true, replication: r.rolreplication === true, bypassRls: r.rolbypassrls === true,
    connLimit: Number(r.rolconnlimit), validUntil: typeof r.rolvaliduntil === 'string' ? r.rolvaliduntil : null,
    passwordHash: typeof r.rolpassword === 'string' ? r.rolpassword : null, memberOf: memberOf(String(r.rolname)),
  }));
}

function roleAttributes(r: RoleSnapshot): string {
  const flag = (on: boolean, word: string): string => (on ? word : `NO${word}`);
  const parts = [
    flag(r.superuser, 'SUPERUSER'), flag(r.inherit, 'INHERIT'), flag(r.createRole, 'CREATEROLE'), flag(r.createDb, 'CREATEDB'),
    flag(r.canLogin, 'LOGIN'), flag(r.replication, 'REPLICATION'), flag(r.bypassRls, 'BYPASSRLS'), `CONNECTION LIMIT ${r.connLimit}`,
  ];
  if (r.passwordHash !== null) parts.push(`PASSWORD ${literal(r.passwordHash)}`);
  if (r.validUntil !== null) parts.push(`VALID UNTIL ${literal(r.validUntil)}`);
  return parts.join(' ');
}

/** Restore a snapshot into a new database on the target server: roles, data, the Aurora LSN function, slot copies. */
export async function restoreSnapshot(opts: {
  target: Backend;
  dumpFile: string;
  rolesFile: string;
  lsn: string;
  slots: { name: string; plugin: string }[];
  databaseOwner?: string;
  /** Which function serves the snapshot's LSN: Aurora's aurora_volume_logical_start_lsn(), RDS's rds_tools.logical_seed_lsn(), or none (an RDS version without it). */
  seed?: 'aurora' | 'rds_tools' | 'none';
  log: (msg: string) => void;
}): Promise<void> {
  const { target } = opts;
  const roles = JSON.parse(readFileSync(opts.rolesFile, 'utf8')) as RoleSnapshot[];
  await withPg(pgConfig(target, 'postgres'), async (c) => {
    await dropDatabaseIn(c, target.database);
    for (const r of roles) {
      if (r.name === target.user) continue; // the server's own admin stays as it is
      const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [r.name]);
      if (exists.rowCount === 0) await c.query(`CREATE ROLE ${ident(r.name)}`);
      await c.query(`ALTER ROLE ${ident(r.name)} WITH ${roleAttributes(r)}`);
    }
    for (const r of roles) {
      for (const parent of r.memberOf) await c.query(`GRANT ${ident(parent)} TO ${ident(r.name)}`).catch(() => undefined);
    }
    const owner = opts.databaseOwner !== undefined && roles.some((r) => r.name === opts.databaseOwner) ? opts.databaseOwner : target.user;
    await c.query(`CREATE DATABASE ${ident(target.database)} OWNER ${ident(owner)}`);
  });
  await runPgTool('pg_restore', ['-d', target.database, '--exit-on-error', opts.dumpFile], target);
  await withPg(pgConfig(target), async (c) => {
    if (opts.seed === 'rds_tools') {
      // RDS for PostgreSQL ships rds_tools as an extension; here a schema with the function stands in for it, so
      // `CREATE EXTENSION IF NOT EXISTS rds_tools` is never needed (the adapter looks for the function first).
      await c.query('CREATE SCHEMA IF NOT EXISTS rds_tools');
      await c.query(`CREATE OR REPLACE FUNCTION rds_tools.logical_seed_lsn() RETURNS pg_lsn LANGUAGE sql IMMUTABLE AS $$ SELECT ${literal(opts.lsn)}::pg_lsn $$`);
      await c.query('GRANT USAGE ON SCHEMA rds_tools TO PUBLIC');
      await c.query('GRANT EXECUTE ON FUNCTION rds_tools.logical_seed_lsn() TO PUBLIC');
    } else if (opts.seed !== 'none') {
      await c.query(
        `CREATE OR REPLACE FUNCTION pg_catalog.aurora_volume_logical_start_lsn() RETURNS pg_lsn LANGUAGE sql IMMUTABLE AS $$ SELECT ${literal(opts.lsn)}::pg_lsn $$`,
      );
      await c.query('GRANT EXECUTE ON FUNCTION pg_catalog.aurora_volume_logical_start_lsn() TO PUBLIC');
    }
    for (const slot of opts.slots) {
      const taken = await c.query<{ database: string }>('SELECT database FROM pg_replication_slots WHERE slot_name = $1', [slot.name]);
      if ((taken.rowCount ?? 0) > 0) {
        opts.log(`rehearsal: slot ${slot.name} already exists on the target server (database ${taken.rows[0]?.database ?? '?'}); its copy is not made`);
        continue;
      }
      await c.query('SELECT pg_create_logical_replication_slot($1, $2)', [slot.name, slot.plugin]);
    }
  });
}

/** Drop a database and what pins it (subscriptions in it, slots on it). */
export async function dropDatabase(admin: Backend, database: string): Promise<void> {
  await withPg(pgConfig(admin, 'postgres'), (c) => dropDatabaseIn(c, database));
}

async function dropDatabaseIn(c: pg.Client, database: string): Promise<void> {
  const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (exists.rowCount === 0) return;
  const subs = await c.query<{ subname: string }>('SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE d.datname = $1', [database]);
  if (subs.rows.length > 0) {
    const cfg = { host: c.host, port: c.port, user: c.user, database, password: c.password } as pg.ClientConfig;
    await withPg(cfg, async (inDb) => {
      for (const s of subs.rows) {
        await inDb.query(`ALTER SUBSCRIPTION ${ident(s.subname)} DISABLE`);
        await inDb.query(`ALTER SUBSCRIPTION ${ident(s.subname)} SET (slot_name = NONE)`);
        await inDb.query(`DROP SUBSCRIPTION ${ident(s.subname)}`);
      }
    });
  }
  const slots = await c.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots WHERE database = $1', [database]);
  for (const s of slots.rows) await c.query('SELECT pg_drop_replication_slot($1)', [s.slot_name]).catch(() => undefined);
  await c.query(`DROP DATABASE ${ident(database)} WITH (FORCE)`);
}

/** A table on the source with what the publication needs to know. */
export interface SourceTable {
  name: string;
  hasReplicaIdentity: boolean;
}

/** Ordinary tables of the database (system schemas excluded). */
export async function listTables(b: Backend): Promise<SourceTable[]> {
  return withPg(pgConfig(b), async (c) => {
    const res = await c.query<{ schema: string; name: string; ident: string; has_pk: boolean }>(
      `SELECT n.nspname AS schema, c.relname AS name, c.relreplident AS ident,
              EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS has_pk
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 1, 2`,
    );
    return res.rows.map((r) => ({ name: `${r.schema}.${r.name}`, hasReplicaIdentity: r.ident === 'f' || r.ident === 'i' || (r.ident === 'd' && r.has_pk) }));
  });
}

/** Slot facts on the source. */
export async function slotInfo(b: Backend, slot: string): Promise<{ plugin: string; database: string; confirmedFlushLsn: string | null; active: boolean } | undefined> {
  return withPg(pgConfig(b), async (c) => {
    const res = await c.query<{ plugin: string; database: string; confirmed_flush_lsn: string | null; active: boolean }>(
      'SELECT plugin, database, confirmed_flush_lsn::text, active FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    );
    const row = res.rows[0];
    return row ? { plugin: row.plugin, database: row.database, confirmedFlushLsn: row.confirmed_flush_lsn, active: row.active } : undefined;
  });
}

/** A libpq keyword value, single-quoted with ' and \ escaped, so spaces and quotes in names and passwords survive. */
export function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Set up (idempotently) the publications on the source and the subscription on the target. */
export async function startSubscription(opts: {
  source: Backend;
  target: Backend;
  tables: SourceTable[];
  /** The snapshot's publications (created before its slot). */
  publications: [full: string, insertOnly: string];
  subscription: string;
  internalSlot: string;
  holdBackTable?: string;
  /** The password file the target server reads the source's password from (core.passfile), when it needs one. */
  passfile?: string;
}): Promise<void> {
  const { source, target } = opts;
  const [full, insertOnly] = opts.publications;
  await withPg(pgConfig(source), async (c) => {
    // The publications date from the snapshot; tables outside the mappings leave them from here on.
    const wanted = new Set(opts.tables.map((t) => t.name));
    const members = await c.query<{ pubname: string; t: string }>(
      "SELECT pubname, schemaname || '.' || tablename AS t FROM pg_publication_tables WHERE pubname = ANY($1)",
      [[full, insertOnly]],
    );
    for (const m of members.rows) if (!wanted.has(m.t)) await c.query(`ALTER PUBLICATION ${ident(m.pubname)} DROP TABLE ${qualified(m.t)}`);
  });
  await withPg(pgConfig(target), async (c) => {
    if (opts.holdBackTable !== undefined) {
      // Fault injection: the target silently swallows sentinel rows, so the drain never sees one.
      const t = qualified(opts.holdBackTable);
      await c.query(`CREATE OR REPLACE FUNCTION public.rh_hold_back() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`);
      await c.query(`DROP TRIGGER IF EXISTS rh_hold_back ON ${t}`);
      await c.query(`CREATE TRIGGER rh_hold_back BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION public.rh_hold_back()`);
      await c.query(`ALTER TABLE ${t} ENABLE ALWAYS TRIGGER rh_hold_back`);
    }
    const exists = await c.query<{ subenabled: boolean }>('SELECT subenabled FROM pg_subscription WHERE subname = $1', [opts.subscription]);
    if (exists.rows[0]) {
      if (!exists.rows[0].subenabled) await c.query(`ALTER SUBSCRIPTION ${ident(opts.subscription)} ENABLE`);
      return;
    }
    // The password never goes into the conninfo (pg_subscription, the WAL, a logged statement): the server reads
    // it from the password file while a runner is alive.
    const password = source.passwordEnv !== undefined ? process.env[source.passwordEnv] : undefined;
    const credential: Record<string, string> = password === undefined || password === '' ? {} : opts.passfile !== undefined ? { passfile: opts.passfile } : { password };
    const conninfo = Object.entries({ host: source.host, port: String(source.port), user: source.user, dbname: source.database, application_name: opts.subscription, ...credential })
      .map(([k, v]) => `${k}=${conninfoValue(v)}`)
      .join(' ');
    await c.query(
      `CREATE SUBSCRIPTION ${ident(opts.subscription)} CONNECTION ${literal(conninfo)} PUBLICATION ${ident(full)}, ${ident(insertOnly)}
         WITH (create_slot = false, slot_name = ${literal(opts.internalSlot)}, copy_data = false, enabled = true)`,
    );
  });
}

/** Enable or disable the subscription (missing is fine). */
export async function setSubscriptionEnabled(target: Backend, subscription: string, enabled: boolean): Promise<void> {
  await withPg(pgConfig(target), async (c) => {
    const exists = await c.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [subscription]);
    if (exists.rowCount === 0) return;
    await c.query(`ALTER SUBSCRIPTION ${ident(subscription)} ${enabled ? 'ENABLE' : 'DISABLE'}`);
  });
}

/** Drop the subscription (and with it the internal slot on the source) and the publications. */
export async function dropSubscription(opts: { source: Backend; target: Backend; subscription: string; publications: string[]; internalSlot: string }): Promise<void> {
  await withPg(pgConfig(opts.target), async (c) => {
    const exists = await c.query('SELECT 1 FROM pg_subscription WHERE subname = $1', [opts.subscription]);
    if (exists.rowCount !== 0) {
      await c.query(`ALTER SUBSCRIPTION ${ident(opts.subscription)} DISABLE`);
      await c.query(`ALTER SUBSCRIPTION ${ident(opts.subscription)} SET (slot_name = NONE)`);
      await c.query(`DROP SUBSCRIPTION ${ident(opts.subscription)}`);
    }
  });
  await withPg(pgConfig(opts.source), async (c) => {
    for (const p of opts.publications) await c.query(`DROP PUBLICATION IF EXISTS ${ident(p)}`);
    await dropSlotWhenFree(c, opts.internalSlot);
  });
}

/** Drop a slot, waiting briefly for a walsender to let go of it. */
export async function dropSlotWhenFree(c: pg.Client, slot: string): Promise<void> {
  for (let i = 0; i < 50; i += 1) {
    const res = await c.query<{ active_pid: number | null }>('SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    const row = res.rows[0];
    if (!row) return;
    if (row.active_pid === null) {
      await c.query('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    }
    await c.query('SELECT pg_terminate_backend($1)', [row.active_pid]);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`replication slot ${slot} stayed in use`);
}

/** One observation of the replication on the source. */
export interface LagObservation {
  /** pg_current_wal_lsn() */
  current: bigint;
  /** What the subscriber has received (walsender write_lsn, else the slot's confirmed_flush_lsn). */
  written: bigint;
  /** What the subscriber has applied (walsender replay_lsn, else the slot's confirmed_flush_lsn). */
  applied: bigint;
  /** The internal slot's confirmed_flush_lsn, as text. */
  confirmed: string | null;
  /** Changes (ins+upd+del) per table on the source. */
  tuples: Record<string, [number, number, number]>;
}

/** Read lag positions and tuple counters on the source. */
export async function observeSource(source: Backend, subscription: string, internalSlot: string, tables: string[]): Promise<LagObservation> {
  return withPg(pgConfig(source), async (c) => {
    const res = await c.query<{ current: string; write_lsn: string | null; replay_lsn: string | null; confirmed: string | null }>(
      `SELECT pg_current_wal_lsn()::text AS current,
              (SELECT write_lsn::text FROM pg_stat_replication WHERE application_name = $1 LIMIT 1) AS write_lsn,
              (SELECT replay_lsn::text FROM pg_stat_replication WHERE application_name = $1 LIMIT 1) AS replay_lsn,
              (SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $2) AS confirmed`,
      [subscription, internalSlot],
    );
    const row = res.rows[0];
    const current = parseLsn(row?.current ?? '0/0');
    const confirmed = row?.confirmed ?? null;
    const fallback = confirmed !== null ? parseLsn(confirmed) : 0n;
    const written = row?.write_lsn ? parseLsn(row.write_lsn) : fallback;
    const applied = row?.replay_lsn ? parseLsn(row.replay_lsn) : fallback;
    return { current, written: written > fallback ? written : fallback, applied: applied > fallback ? applied : fallback, confirmed, tuples: await tupleCounts(c, tables) };
  });
}

/** n_tup_ins/upd/del per schema.table from pg_stat_user_tables. */
export async function tupleCounts(c: pg.Client, tables: string[]): Promise<Record<string, [number, number, number]>> {
  const res = await c.query<{ t: string; i: string; u: string; d: string }>(
    "SELECT schemaname || '.' || relname AS t, n_tup_ins AS i, n_tup_upd AS u, n_tup_del AS d FROM pg_stat_user_tables",
  );
  const out: Record<string, [number, number, number]> = {};
  for (const r of res.rows) if (tables.includes(r.t)) out[r.t] = [Number(r.i), Number(r.u), Number(r.d)];
  return out;
}

/** Tuple counters on the target. */
export async function targetTuples(target: Backend, tables: string[]): Promise<Record<string, [number, number, number]>> {
  return withPg(pgConfig(target), (c) => tupleCounts(c, tables));
}

/** Move the runner's slot forward to what the subscription has confirmed, so it does not pin WAL. */
export async function advanceSlot(source: Backend, slot: string, to: string): Promise<void> {
  await withPg(pgConfig(source), async (c) => {
    await c.query(
      `SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn) FROM pg_replication_slots
        WHERE slot_name = $1 AND NOT active AND confirmed_flush_lsn < $2::pg_lsn`,
      [slot, to],
    );
  });
}
