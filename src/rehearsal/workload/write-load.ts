// The rehearsal's live write load: an application stand-in that writes through the source's endpoint at N writes/s,
// journals every acknowledged write, reconnects to the same endpoint after connection loss, and measures the
// longest write-unavailable window. verifyWrites then proves every acknowledged write arrived exactly once.
//
// Journal invariant: a token is appended to the journal only after its COMMIT returned, and it is written to the
// file (write(2), O_APPEND, one whole line) before the load counts it or issues the next write. So a runner killed at
// any moment (even SIGKILL) leaves a journal holding every acknowledgement it ever reported, and nothing that was not
// committed; at most the single write whose COMMIT returned in the instant of the kill is missing, and that one was
// never reported. fdatasync is batched every 100 ms (and at stop): it only matters if the machine itself dies, which
// also takes the local databases with it; fsync-per-write would cost a disk flush per write for no rehearsal benefit.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** The database engine family the load talks to. */
export type LoadEngine = 'postgres' | 'mysql';

/** Where to connect, asked again on every (re)connect so the load follows the endpoint. */
export interface LoadEndpoint {
  /** Host of the endpoint (the rehearsal proxy: 127.0.0.1). */
  host: string;
  /** Port of the endpoint. */
  port: number;
}

export interface WriteLoadOptions {
  /** The endpoint to write through (the identifier's proxy); read on every connect. */
  endpoint: () => LoadEndpoint;
  /** Database (PostgreSQL) or schema (MySQL) holding `rehearsal_writes`. */
  database: string;
  /** Login of the application (rehearsal: `app`). */
  user: string;
  /** Password, if the server asks for one; never logged. */
  password?: string;
  /** Target rate of write transactions. */
  writesPerSecond: number;
  /** File receiving one acknowledged token per line (created, mode 0600, appended to). */
  journalPath: string;
  /** Which driver to use. */
  engine: LoadEngine;
  /** Prefix for tokens (the run id); a random suffix keeps each load's tokens unique. */
  runId?: string;
  /** A write (or connect) taking longer than this fails; default 2000 ms (a fenced session must not hang the load). */
  writeTimeoutMs?: number;
  /** Pause before reconnecting after a failure; default 50 ms. */
  backoffMs?: number;
}

/** What the load has observed so far. */
export interface LoadStats {
  /** Writes whose COMMIT returned (and that are in the journal). */
  acknowledged: number;
  /** Failed write or connect attempts (timeouts included). */
  errors: number;
  /** Acknowledged writes during the last second. */
  perSecond: number;
  /** Longest write-unavailable window so far, in ms (an ongoing one included). */
  longestUnavailableMs: number;
  /** Epoch ms when the current unavailable period began, while writes are failing or blocked. */
  unavailableSince?: number;
  /** Message of the most recent failure (never contains a password). */
  lastError?: string;
}

/** A running write load. */
export interface WriteLoad {
  /** Prefix of every token this load writes. */
  readonly tokenPrefix: string;
  /** Stop after the write in flight, close the connection, flush and close the journal. */
  stop(): Promise<void>;
  /** A copy of the current statistics. */
  stats(): LoadStats;
}

/** One open connection able to perform a write transaction. */
interface LoadSession {
  /** Whether the connection is known to be dead (a pool would discard it silently). */
  isBroken(): boolean;
  /** BEGIN; INSERT token; mixed UPDATE/DELETE; COMMIT. Resolves only once COMMIT returned. */
  write(token: string, n: number): Promise<void>;
  /** Close politely, or destroy when `force` (after a failure). */
  close(force: boolean): Promise<void>;
}

interface SessionConfig extends LoadEndpoint {
  database: string;
  user: string;
  password?: string;
  timeoutMs: number;
}

/** Start writing; the first connection is opened in the background. */
export function startWriteLoad(opts: WriteLoadOptions): WriteLoad {
  if (!(opts.writesPerSecond > 0)) throw new Error(`write load: writesPerSecond must be > 0, got ${opts.writesPerSecond}`);
  const intervalMs = 1000 / opts.writesPerSecond;
  const timeoutMs = opts.writeTimeoutMs ?? 2000;
  const backoffMs = opts.backoffMs ?? 50;
  const tokenPrefix = `${opts.runId ?? 'load'}-${randomBytes(3).toString('hex')}`;
  const journal = openJournal(opts.journalPath);

  let acknowledged = 0;
  let errors = 0;
  let longest = 0;
  let lastSuccessAt: number | undefined;
  let failingSince: number | undefined;
  let inFlightSince: number | undefined;
  let lastError: string | undefined;
  const recentAcks: number[] = [];
  let isStopping = false;
  let stoppedAt: number | undefined;
  let wake: (() => void) | undefined;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (isStopping || ms <= 0) return resolve();
      const timer = setTimeout(() => { wake = undefined; resolve(); }, ms);
      wake = () => { clearTimeout(timer); wake = undefined; resolve(); };
    });

  const onSuccess = (at: number): void => {
    if (failingSince !== undefined) longest = Math.max(longest, at - failingSince);
    else if (lastSuccessAt !== undefined && at - lastSuccessAt > 2 * intervalMs) longest = Math.max(longest, at - lastSuccessAt);
    failingSince = undefined;
    lastSuccessAt = at;
    acknowledged += 1;
    recentAcks.push(at);
    pruneAcks(recentAcks, at);
  };

  const onFailure = (startedAt: number, error: unknown): void => {
    errors += 1;
    failingSince ??= startedAt;
    lastError = error instanceof Error ? error.message : String(error);
  };

  const connect = (): Promise<LoadSession> => {
    const { host, port } = opts.endpoint();
    const config: SessionConfig = { host, port, database: opts.database, user: opts.user, timeoutMs };
    if (opts.password !== undefined) config.password = opts.password;
    return opts.engine === 'postgres' ? openPostgresSession(config) : openMysqlSession(config);
  };

  const loop = async (): Promise<void> => {
    let session: LoadSession | undefined;
    let counter = 0;
    let due = Date.now();
    try {
      while (!isStopping) {
        if (session?.isBroken()) {
          await session.close(true);
          session = undefined;
        }
        const startedAt = Date.now();
        inFlightSince = startedAt;
        try {
          session ??= await connect();
          counter += 1;
          const token = `${tokenPrefix}-${counter}`;
          await session.write(token, counter);
          const ackedAt = Date.now();
          journal.append(`${token} ${ackedAt}`);
          onSuccess(ackedAt);
        } catch (error) {
          if (error instanceof JournalError) throw error;
          onFailure(startedAt, error);
          await session?.close(true);
          session = undefined;
          inFlightSince = undefined;
          await sleep(backoffMs);
          due = Date.now();
          continue;
        }
        inFlightSince = undefined;
        // Keep the rate without bursting to catch up after an outage.
        due = Math.max(due + intervalMs, Date.now());
        await sleep(due - Date.now());
      }
    } finally {
      inFlightSince = undefined;
      stoppedAt = Date.now();
      try {
        await session?.close(false);
      } finally {
        journal.close();
      }
    }
  };

  const running = loop();
  // Surfaced by stop(); the catch keeps a journal failure from becoming an unhandled rejection meanwhile.
  running.catch(() => undefined);

  return {
    tokenPrefix,
    async stop() {
      isStopping = true;
      wake?.();
      await running;
    },
    stats() {
      const now = stoppedAt ?? Date.now();
      pruneAcks(recentAcks, now);
      let since = failingSince;
      if (since === undefined && inFlightSince !== undefined && now - inFlightSince > 2 * intervalMs) since = inFlightSince;
      const stats: LoadStats = {
        acknowledged,
        errors,
        perSecond: recentAcks.length,
        longestUnavailableMs: Math.max(longest, since === undefined ? 0 : now - since),
      };
      if (since !== undefined) stats.unavailableSince = since;
      if (lastError !== undefined) stats.lastError = lastError;
      return stats;
    },
  };
}

function pruneAcks(acks: number[], now: number): void {
  while (acks.length > 0 && (acks[0] ?? now) <= now - 1000) acks.shift();
}

class JournalError extends Error {}

interface Journal {
  append(token: string): void;
  close(): void;
}

function openJournal(journalPath: string): Journal {
  fs.mkdirSync(path.dirname(journalPath), { recursive: true });
  const fd = fs.openSync(journalPath, 'a', 0o600);
  let isDirty = false;
  let isClosed = false;
  const flush = (): void => {
    if (isDirty && !isClosed) {
      fs.fdatasyncSync(fd);
      isDirty = false;
    }
  };
  const timer = setInterval(() => {
    try { flush(); } catch { /* reported by the next append or by close */ }
  }, 100);
  timer.unref();
  return {
    append(token) {
      try {
        fs.writeSync(fd, `${token}\n`);
        isDirty = true;
      } catch (error) {
        throw new JournalError(`write load: cannot append to journal ${journalPath}: ${(error as Error).message}`, { cause: error });
      }
    },
    close() {
      if (isClosed) return;
      clearInterval(timer);
      try { flush(); } finally {
        isClosed = true;
        fs.closeSync(fd);
      }
    },
  };
}

/** Which optional demo tables exist, so the UPDATE/DELETE mix only touches what is there. */
interface MixTargets {
  hasCustomers: boolean;
  hasOrderItems: boolean;
}

const MIX_COLUMNS_SQL = `SELECT table_name AS t FROM information_schema.columns
  WHERE table_schema = %SCHEMA% AND ((table_name = 'customers' AND column_name = 'updated_at')
    OR (table_name = 'order_items' AND column_name = 'id'))`;

function mixTargets(tables: string[]): MixTargets {
  return { hasCustomers: tables.includes('customers'), hasOrderItems: tables.includes('order_items') };
}

/** Every 5th write also updates a customer, every 10th (offset 3) deletes the oldest order item. */
function mixFor(n: number, targets: MixTargets): { update?: number; isDelete: boolean } {
  const mix: { update?: number; isDelete: boolean } = { isDelete: targets.hasOrderItems && n % 10 === 3 };
  if (targets.hasCustomers && n % 5 === 0) mix.update = 1 + ((n * 7919) % 1000);
  return mix;
}

async function openPostgresSession(config: SessionConfig): Promise<LoadSession> {
  // Own the socket so a stuck connection can be destroyed at once (pg's end() waits for the server).
  const socket = new net.Socket();
  let isBroken = false;
  const client = new pg.Client({
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.user,
    password: config.password,
    application_name: 'rekey-write-load',
    statement_timeout: config.timeoutMs,
    query_timeout: config.timeoutMs + 250,
    connectionTimeoutMillis: config.timeoutMs,
    stream: () => socket,
  });
  client.on('error', () => { isBroken = true; });
  socket.on('close', () => { isBroken = true; });
  try {
    await client.connect();
    const found = await client.query<{ t: string }>(MIX_COLUMNS_SQL.replace('%SCHEMA%', 'current_schema()'));
    const targets = mixTargets(found.rows.map((r) => r.t));
    return {
      isBroken: () => isBroken,
      async write(token, n) {
        const mix = mixFor(n, targets);
        await client.query('BEGIN');
        await client.query('INSERT INTO rehearsal_writes (token, n, written_at) VALUES ($1, $2, clock_timestamp())', [token, n]);
        if (mix.update !== undefined) await client.query('UPDATE customers SET updated_at = clock_timestamp() WHERE id = $1', [mix.update]);
        if (mix.isDelete) await client.query('DELETE FROM order_items WHERE id = (SELECT min(id) FROM order_items)');
        await client.query('COMMIT');
      },
      async close(force) {
        if (!force && !isBroken) {
          await Promise.race([client.end().catch(() => undefined), delay(500)]);
        }
        socket.destroy();
      },
    };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

async function openMysqlSession(config: SessionConfig): Promise<LoadSession> {
  let isBroken = false;
  const options: mysql.ConnectionOptions = {
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.user,
    connectTimeout: config.timeoutMs,
  };
  if (config.password !== undefined) options.password = config.password;
  const conn = await mysql.createConnection(options);
  conn.on('error', () => { isBroken = true; });
  const timeout = config.timeoutMs + 250;
  const run = (sql: string, values?: unknown[]): Promise<unknown> => conn.query({ sql, timeout }, values);
  try {
    const seconds = Math.max(1, Math.ceil(config.timeoutMs / 1000));
    await run(`SET SESSION innodb_lock_wait_timeout = ${seconds}`);
    // MariaDB bounds every statement; MySQL lacks the variable and relies on the client-side timeout.
    await run(`SET SESSION max_statement_time = ${config.timeoutMs / 1000}`).catch(() => undefined);
    const [rows] = (await run(MIX_COLUMNS_SQL.replace('%SCHEMA%', 'DATABASE()'))) as [{ t: string }[], unknown];
    const targets = mixTargets(rows.map((r) => r.t));
    return {
      isBroken: () => isBroken,
      async write(token, n) {
        const mix = mixFor(n, targets);
        await run('START TRANSACTION');
        await run('INSERT INTO rehearsal_writes (token, n, written_at) VALUES (?, ?, NOW(6))', [token, n]);
        if (mix.update !== undefined) await run('UPDATE customers SET updated_at = NOW(6) WHERE id = ?', [mix.update]);
        if (mix.isDelete) await run('DELETE FROM order_items ORDER BY id LIMIT 1');
        await run('COMMIT');
      },
      async close(force) {
        if (!force && !isBroken) {
          await Promise.race([conn.end().catch(() => undefined), delay(500)]);
        }
        conn.destroy();
      },
    };
  } catch (error) {
    conn.destroy();
    throw error;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The database that serves the endpoint at the end of a run. */
export interface VerifyTarget extends LoadEndpoint {
  /** Engine family of the database. */
  engine: LoadEngine;
  /** Database (PostgreSQL) or schema (MySQL) holding `rehearsal_writes`. */
  database: string;
  /** A login able to read `rehearsal_writes`. */
  user: string;
  /** Password if needed; never logged. */
  password?: string;
}

/** The outcome of checking journals against the final database. */
export interface WriteVerification {
  /** Distinct acknowledged tokens found in the journals. */
  acknowledged: number;
  /** Acknowledged tokens missing from `rehearsal_writes`. */
  lost: number;
  /** Acknowledged tokens present more than once. */
  duplicated: number;
  /** Up to 10 lost tokens, for the report. */
  lostSample: string[];
  /** Up to 10 duplicated tokens, for the report. */
  duplicatedSample: string[];
}

/** Read the acknowledged tokens of journals; a trailing partial line (a write cut by a kill) is ignored. */
export function readJournalTokens(journalPaths: string[]): Set<string> {
  const tokens = new Set<string>();
  for (const journalPath of journalPaths) {
    const lines = fs.readFileSync(journalPath, 'utf8').split('\n');
    lines.pop(); // after the last newline: empty, or an incomplete line
    // A line is `token` or `token ackedAtMs` (the time lets the window be measured across runners).
    for (const line of lines) if (line !== '') tokens.add(line.split(' ')[0]!);
  }
  return tokens;
}

/** The longest write-unavailable window a shared write log shows, over every runner that appended to it. */
export interface LoggedWindow {
  /** Longest gap between two consecutive acknowledged writes (ms), 0 with fewer than two. */
  longestMs: number;
  /** Whether that gap lies between two runners' loads: a runner died (or stopped) inside it. */
  spansRunners: boolean;
  /** How many loads (runners) wrote to the log. */
  runners: number;
}

/**
 * The window over the whole run from the shared write log: the longest gap between consecutive acknowledgements,
 * whichever runner made them. Time with no runner alive counts as unavailable (no write proves otherwise).
 */
export function windowOfJournals(journalPaths: string[]): LoggedWindow {
  const acks: { at: number; load: string }[] = [];
  for (const journalPath of journalPaths) {
    if (!fs.existsSync(journalPath)) continue;
    const lines = fs.readFileSync(journalPath, 'utf8').split('\n');
    lines.pop();
    for (const line of lines) {
      const [token, at] = line.split(' ');
      const t = Number(at);
      if (!token || !Number.isFinite(t)) continue;
      acks.push({ at: t, load: token.slice(0, token.lastIndexOf('-')) });
    }
  }
  acks.sort((a, b) => a.at - b.at);
  let longestMs = 0;
  let spansRunners = false;
  for (let i = 1; i < acks.length; i++) {
    const gap = acks[i]!.at - acks[i - 1]!.at;
    if (gap > longestMs) {
      longestMs = gap;
      spansRunners = acks[i]!.load !== acks[i - 1]!.load;
    }
  }
  return { longestMs, spansRunners, runners: new Set(acks.map((a) => a.load)).size };
}

/** Every acknowledged token must appear exactly once in `rehearsal_writes` of the database serving the endpoint. */
export async function verifyWrites(opts: { target: VerifyTarget; journalPaths: string[] }): Promise<WriteVerification> {
  const tokens = [...readJournalTokens(opts.journalPaths)];
  const counts = opts.target.engine === 'postgres' ? await countPostgres(opts.target, tokens) : await countMysql(opts.target, tokens);
  const lost: string[] = [];
  const duplicated: string[] = [];
  for (const token of tokens) {
    const count = counts.get(token) ?? 0;
    if (count === 0) lost.push(token);
    else if (count > 1) duplicated.push(token);
  }
  return {
    acknowledged: tokens.length,
    lost: lost.length,
    duplicated: duplicated.length,
    lostSample: lost.slice(0, 10),
    duplicatedSample: duplicated.slice(0, 10),
  };
}

const BATCH = 5000;

async function countPostgres(target: VerifyTarget, tokens: string[]): Promise<Map<string, number>> {
  const client = new pg.Client({
    host: target.host, port: target.port, database: target.database, user: target.user, password: target.password,
    application_name: 'rekey-verify-writes', connectionTimeoutMillis: 10_000,
  });
  await client.connect();
  try {
    const counts = new Map<string, number>();
    for (let i = 0; i < tokens.length; i += BATCH) {
      const result = await client.query<{ token: string; c: number }>(
        'SELECT token, count(*)::int AS c FROM rehearsal_writes WHERE token = ANY($1::text[]) GROUP BY token',
        [tokens.slice(i, i + BATCH)],
      );
      for (const row of result.rows) counts.set(row.token, row.c);
    }
    return counts;
  } finally {
    await client.end();
  }
}

async function countMysql(target: VerifyTarget, tokens: string[]): Promise<Map<string, number>> {
  const options: mysql.ConnectionOptions = {
    host: target.host, port: target.port, database: target.database, user: target.user, connectTimeout: 10_000,
  };
  if (target.password !== undefined) options.password = target.password;
  const conn = await mysql.createConnection(options);
  try {
    const counts = new Map<string, number>();
    for (let i = 0; i < tokens.length; i += BATCH) {
      const batch = tokens.slice(i, i + BATCH);
      if (batch.length === 0) continue;
      const [rows] = await conn.query<(mysql.RowDataPacket & { token: string; c: number })[]>(
        'SELECT token, COUNT(*) AS c FROM rehearsal_writes WHERE token IN (?) GROUP BY token',
        [batch],
      );
      for (const row of rows) counts.set(row.token, Number(row.c));
    }
    return counts;
  } finally {
    await conn.end();
  }
}

/**
 * Whether the database behind the endpoint accepts a write from `target.user` right now (a rolled-back insert):
 * the rehearsal's proof that a run left the source, or the new database, writable.
 */
export async function probeWritable(target: VerifyTarget): Promise<{ writable: boolean; error?: string }> {
  try {
    if (target.engine === 'postgres') {
      const client = new pg.Client({
        host: target.host, port: target.port, database: target.database, user: target.user, password: target.password,
        application_name: 'rekey-probe', connectionTimeoutMillis: 5_000, statement_timeout: 5_000,
      });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query("INSERT INTO rehearsal_writes (token, n) VALUES ('rekey-probe', 0)");
        await client.query('ROLLBACK');
      } finally {
        await client.end().catch(() => undefined);
      }
    } else {
      const options: mysql.ConnectionOptions = { host: target.host, port: target.port, database: target.database, user: target.user, connectTimeout: 5_000 };
      if (target.password !== undefined) options.password = target.password;
      const conn = await mysql.createConnection(options);
      try {
        await conn.query('START TRANSACTION');
        await conn.query("INSERT INTO rehearsal_writes (token, n) VALUES ('rekey-probe', 0)");
        await conn.query('ROLLBACK');
      } finally {
        await conn.end().catch(() => undefined);
      }
    }
    return { writable: true };
  } catch (err) {
    return { writable: false, error: err instanceof Error ? err.message : String(err) };
  }
}
