// Adopting an existing local database as the rehearsal source (rehearsal.source.url): the rehearsal adds only
// what its write load needs, an `app` login and a `rehearsal_writes` table, and leaves the user's data alone.
//
// Credentials: the rehearsal's own servers have passwordless accounts (its PostgreSQL servers trust local logins),
// so a runbook's passwords are not used there. An adopted database and every copy the rehearsal makes of it (read
// replica, restore) carry the adopted server's accounts and password hashes, so there the runbook's credentials are
// used as written, exactly as against AWS: source.username with source.password, the DMS user with dms.password.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { resolveSecret } from '../../runbook/load.js';
import type { Runbook, SecretRef } from '../../runbook/schema.js';
import { MY_WRITES_TABLE, PG_WRITES_INDEX, PG_WRITES_TABLE } from './writes-table.js';

/** The adopted database, reached with the URL's user (a superuser / an account that may create users). */
export interface AdoptedSource {
  engine: 'postgres' | 'mysql';
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
}

/**
 * The password the rehearsal uses for one of the runbook's secrets (source.password, dms.password): on an adopted
 * database (and its copies) the runbook's value, undefined when its variable is unset or empty (a passwordless
 * account); on the rehearsal's own servers always undefined (their accounts have no passwords).
 */
export function rehearsalSecret(runbook: Runbook, ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return runbook.rehearsal?.source.url !== undefined ? resolveSecret(ref, env) : undefined;
}

/**
 * The login of the write load and of the end-of-run probe: `app`. On an adopted PostgreSQL server it has the adopted
 * user's password (urlPasswordEnv), given when the rehearsal creates it, since pg_hba may ask every login for one; a
 * MariaDB account without a password can always log in, so there (and on the rehearsal's own servers) it has none.
 */
export function appLogin(runbook: Runbook, engine: 'postgres' | 'mysql', env: NodeJS.ProcessEnv = process.env): { user: string; password?: string } {
  const urlEnv = runbook.rehearsal?.source.urlPasswordEnv;
  const password = engine === 'postgres' && runbook.rehearsal?.source.url !== undefined && urlEnv !== undefined ? env[urlEnv] : undefined;
  return { user: 'app', ...(password !== undefined && password !== '' ? { password } : {}) };
}

/** A SCRAM-SHA-256 verifier of `password` (what PostgreSQL stores), so the password itself is never sent in a statement. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * Creates the `app` login and `rehearsal_writes` (no unique token: a duplicated apply stays visible). Idempotent; an
 * existing `app` is left as it is. `appPassword` is the password a new PostgreSQL `app` gets (see appLogin).
 */
export async function prepareAdoptedSource(src: AdoptedSource, appPassword?: string): Promise<void> {
  if (src.engine === 'postgres') {
    const c = new pg.Client({ host: src.host, port: src.port, database: src.database, user: src.user, password: src.password, application_name: 'rekey-adopt' });
    await c.connect();
    try {
      const found = await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'app'");
      if (found.rowCount === 0) await c.query(`CREATE ROLE app LOGIN${appPassword !== undefined ? ` PASSWORD ${c.escapeLiteral(scramVerifier(appPassword))}` : ''}`);
      await c.query(PG_WRITES_TABLE);
      await c.query(PG_WRITES_INDEX);
      await c.query('GRANT INSERT, SELECT ON public.rehearsal_writes TO app');
      await c.query('GRANT USAGE ON SEQUENCE public.rehearsal_writes_id_seq TO app');
    } finally {
      await c.end();
    }
    return;
  }
  const conn = await mysql.createConnection({ host: src.host, port: src.port, database: src.database, user: src.user, ...(src.password !== undefined ? { password: src.password } : {}) });
  try {
    await conn.query("CREATE USER IF NOT EXISTS 'app'@'%'");
    await conn.query(MY_WRITES_TABLE);
    // Database-level, like the demo seed: a restore recreates accounts before it loads the tables.
    await conn.query(`GRANT SELECT, INSERT ON \`${src.database.replace(/`/g, '``')}\`.* TO 'app'@'%'`);
  } finally {
    await conn.end();
  }
}

/** Where rehearsal.source.url points, with the password from urlPasswordEnv (never from the URL). */
export function adoptedSource(url: string, engine: 'postgres' | 'mysql', fallbackDatabase: string, passwordEnv: string | undefined): AdoptedSource {
  const u = new URL(url);
  const password = passwordEnv ? process.env[passwordEnv] : undefined;
  return {
    engine,
    host: u.hostname,
    port: Number(u.port || (engine === 'mysql' ? 3306 : 5432)),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || fallbackDatabase,
    user: decodeURIComponent(u.username || (engine === 'mysql' ? 'root' : 'postgres')),
    ...(password !== undefined ? { password } : {}),
  };
}

/**
 * After a finished rehearsal, gives the adopted database back what the rehearsal changed on it: the logins the fence
 * locked (`undoSql`, from the run's fence records) and the replication slots it left (rekey's slot and the rehearsal's
 * own `rh_` slots, when inactive), so the next rehearsal on it starts clean. Returns what it did, for the log.
 */
export async function restoreAdoptedSource(src: AdoptedSource, undoSql: readonly string[], slot: string): Promise<string[]> {
  const done: string[] = [];
  if (src.engine === 'postgres') {
    const c = new pg.Client({ host: src.host, port: src.port, database: src.database, user: src.user, password: src.password, application_name: 'rekey-adopt' });
    await c.connect();
    try {
      for (const sql of undoSql) await c.query(sql);
      if (undoSql.length > 0) done.push(`restored ${undoSql.length} login setting(s)`);
      const slots = await c.query<{ slot_name: string }>(
        "SELECT slot_name FROM pg_replication_slots WHERE NOT active AND (slot_name = $1 OR slot_name LIKE 'rh\\_%')",
        [slot],
      );
      for (const s of slots.rows) await c.query('SELECT pg_drop_replication_slot($1)', [s.slot_name]);
      if (slots.rows.length > 0) done.push(`dropped slot(s) ${slots.rows.map((s) => s.slot_name).join(', ')}`);
    } finally {
      await c.end();
    }
    return done;
  }
  const conn = await mysql.createConnection({ host: src.host, port: src.port, database: src.database, user: src.user, ...(src.password !== undefined ? { password: src.password } : {}) });
  try {
    for (const sql of undoSql) await conn.query(sql);
    if (undoSql.length > 0) done.push(`unlocked ${undoSql.length} account(s)`);
  } finally {
    await conn.end();
  }
  return done;
}
