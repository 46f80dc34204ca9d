// A DMS task started before the snapshot's position replays changes the restored target already has. With the
// task's ErrorBehavior set to ApplyErrorInsertPolicy INSERT_RECORD and ApplyErrorUpdatePolicy UPDATE_RECORD,
// DMS turns a duplicate insert into an update of the row with that key, an update of a missing row into an
// insert, and ignores a delete of a missing row (ApplyErrorDeletePolicy IGNORE_RECORD). Here the changes are
// read from the task's own test_decoding slot, as DMS reads them, and applied in commit order with exactly
// those rules. Tables without a primary key cannot be matched: their inserts are applied again (duplicates)
// and their updates and deletes are skipped, as DMS would.
import type pg from 'pg';
import { lsnValue, pgConfig, withPg } from './pg-ops.js';
import type { Backend } from './registry.js';
import { parseTestDecoding } from './test-decoding.js';
import type { DecodedChange, DecodedColumn } from './test-decoding.js';

/** What replaying an overlap did (persisted with the task, logged). */
export interface OverlapReplay {
  /** The task's start position and the snapshot's LSN: changes committed in between were replayed. */
  from: string;
  upTo: string;
  transactions: number;
  changes: number;
  /** Inserts of rows the target had: applied as updates (INSERT_RECORD). */
  insertsAsUpdates: number;
  /** Updates of rows the target lacked: applied as inserts (UPDATE_RECORD). */
  updatesAsInserts: number;
  /** Deletes of rows the target lacked: ignored (IGNORE_RECORD). */
  deletesMissing: number;
  /** Inserts into tables without a primary key: applied again, so the target may hold duplicates. */
  keylessInserts: number;
  /** Updates and deletes of tables without a primary key: not applied. */
  skipped: number;
}

/** `schema.table` without the identifier quoting test_decoding prints. */
export function plainName(printed: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < printed.length; i += 1) {
    const ch = printed[i];
    if (ch === '"') {
      if (quoted && printed[i + 1] === '"') {
        out += '"';
        i += 1;
      } else quoted = !quoted;
    } else out += ch;
  }
  return out;
}

/** Whether task settings make DMS upsert a replayed overlap instead of logging errors. */
export function toleratesOverlap(taskSettings: string | undefined): boolean {
  if (taskSettings === undefined) return false;
  try {
    const behavior = (JSON.parse(taskSettings) as { ErrorBehavior?: Record<string, unknown> }).ErrorBehavior ?? {};
    return behavior.ApplyErrorInsertPolicy === 'INSERT_RECORD' && behavior.ApplyErrorUpdatePolicy === 'UPDATE_RECORD';
  } catch {
    return false;
  }
}

/** The committed transactions in [from, upTo) on `slot`, without consuming them. */
async function peekTransactions(source: Backend, slot: string, from: string, upTo: string): Promise<DecodedChange[][]> {
  return withPg(pgConfig(source), async (c) => {
    const res = await c.query<{ lsn: string; data: string }>(
      "SELECT lsn::text AS lsn, data FROM pg_logical_slot_peek_changes($1, $2::pg_lsn, NULL, 'include-xids', '0', 'skip-empty-xacts', '1')",
      [slot, upTo],
    );
    const out: DecodedChange[][] = [];
    let open: DecodedChange[] = [];
    for (const row of res.rows) {
      const change = parseTestDecoding(row.data);
      if (change.kind === 'begin') open = [];
      else if (change.kind === 'commit') {
        if (lsnValue(row.lsn) >= lsnValue(from)) out.push(open);
        open = [];
      } else open.push(change);
    }
    return out;
  });
}

/** Primary-key columns of each table, as quote_ident prints them (the form test_decoding uses). */
async function primaryKeys(c: pg.Client, tables: string[]): Promise<Map<string, Set<string>>> {
  const keys = new Map<string, Set<string>>();
  const res = await c.query<{ tbl: string; col: string }>(
    `SELECT n.nspname || '.' || t.relname AS tbl, quote_ident(a.attname) AS col
       FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indisprimary AND n.nspname || '.' || t.relname = ANY ($1)`,
    [tables],
  );
  for (const r of res.rows) keys.set(r.tbl, (keys.get(r.tbl) ?? new Set()).add(r.col));
  return keys;
}

/** Builds parameterised statements; values go as untyped text, so the server reads them as the column's type. */
class Statement {
  readonly values: (string | null)[] = [];
  param(v: string | null): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
  insert(table: string, cols: DecodedColumn[]): string {
    return `INSERT INTO ${table} (${cols.map((x) => x.name).join(', ')}) VALUES (${cols.map((x) => this.param(x.value)).join(', ')})`;
  }
  where(key: DecodedColumn[]): string {
    return key.map((x) => `${x.name} = ${this.param(x.value)}`).join(' AND ');
  }
  update(table: string, set: DecodedColumn[], key: DecodedColumn[]): string {
    return `UPDATE ${table} SET ${set.map((x) => `${x.name} = ${this.param(x.value)}`).join(', ')} WHERE ${this.where(key)}`;
  }
}

async function run(c: pg.Client, build: (s: Statement) => string): Promise<number> {
  const s = new Statement();
  const res = await c.query(build(s), s.values);
  return res.rowCount ?? 0;
}

/** Insert a row; if its key is taken, update that row instead. Whether it was inserted. */
async function upsert(c: pg.Client, table: string, tuple: DecodedColumn[], pk: Set<string>): Promise<boolean> {
  await c.query('SAVEPOINT overlap_row');
  try {
    await run(c, (s) => s.insert(table, tuple));
    await c.query('RELEASE SAVEPOINT overlap_row');
    return true;
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    await c.query('ROLLBACK TO SAVEPOINT overlap_row');
    const set = tuple.filter((x) => !pk.has(x.name));
    if (set.length > 0) await run(c, (s) => s.update(table, set, tuple.filter((x) => pk.has(x.name))));
    return false;
  }
}

/**
 * Replay on `target` the transactions that committed between `from` (the task's start) and `upTo` (the
 * snapshot) on the source slot `slot`, for the task's tables only, in one transaction.
 */
export async function replayOverlap(opts: { source: Backend; target: Backend; slot: string; from: string; upTo: string; tables: string[] }): Promise<OverlapReplay> {
  const transactions = await peekTransactions(opts.source, opts.slot, opts.from, opts.upTo);
  const selected = new Set(opts.tables);
  const stats: OverlapReplay = {
    from: opts.from, upTo: opts.upTo, transactions: transactions.length, changes: 0, insertsAsUpdates: 0, updatesAsInserts: 0, deletesMissing: 0, keylessInserts: 0, skipped: 0,
  };
  await withPg(pgConfig(opts.target), async (c) => {
    const keys = await primaryKeys(c, opts.tables);
    await c.query('BEGIN');
    try {
      // As an apply worker: no triggers, no foreign-key checks (the source already checked them, in this order).
      await c.query('SET LOCAL session_replication_role = replica');
      for (const change of transactions.flat()) {
        if (change.kind === 'message') continue;
        if (change.kind === 'truncate') {
          const names = change.tables.filter((t) => selected.has(plainName(t)));
          if (names.length > 0) await c.query(`TRUNCATE ${names.join(', ')}`);
          stats.changes += names.length > 0 ? 1 : 0;
          continue;
        }
        if (change.kind === 'begin' || change.kind === 'commit' || !selected.has(plainName(change.table))) continue;
        stats.changes += 1;
        const pk = keys.get(plainName(change.table));
        const keyOf = (cols: DecodedColumn[]): DecodedColumn[] => cols.filter((x) => pk?.has(x.name));
        const present = (cols: DecodedColumn[]): DecodedColumn[] => cols.filter((x) => x.unchanged !== true);
        if (change.kind === 'insert') {
          if (!pk) {
            stats.keylessInserts += 1;
            await run(c, (s) => s.insert(change.table, present(change.tuple)));
          } else if (!(await upsert(c, change.table, present(change.tuple), pk))) stats.insertsAsUpdates += 1;
        } else if (change.kind === 'update') {
          if (!pk || change.tuple.length === 0) {
            stats.skipped += 1;
            continue;
          }
          const key = keyOf(change.oldKey ?? change.tuple);
          const updated = await run(c, (s) => s.update(change.table, present(change.tuple), key));
          if (updated === 0) {
            // A key change replayed after the snapshot has it may find the new key taken: then it updates that row.
            await upsert(c, change.table, present(change.tuple), pk);
            stats.updatesAsInserts += 1;
          }
        } else {
          if (!pk || change.key === undefined) {
            stats.skipped += 1;
            continue;
          }
          const key = keyOf(change.key);
          if ((await run(c, (s) => `DELETE FROM ${change.table} WHERE ${s.where(key)}`)) === 0) stats.deletesMissing += 1;
        }
      }
      await c.query('COMMIT');
    } catch (error) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
  return stats;
}
