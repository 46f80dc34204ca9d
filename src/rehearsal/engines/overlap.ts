// A DMS task started before the snapshot's position replays changes the restored target already has. With the
// task's ErrorBehavior set to ApplyErrorInsertPolicy INSERT_RECORD and ApplyErrorUpdatePolicy UPDATE_RECORD,
// DMS turns a duplicate insert into an update of the row with that key, an update of a missing row into an
// insert, and ignores a delete of a missing row (ApplyErrorDeletePolicy IGNORE_RECORD). Here the changes are
// read from the task's own test_decoding slot, as DMS reads them, and applied in commit order with exactly
// those rules. Tables without a primary key cannot be matched: their inserts are applied again (duplicates)
// and their updates and deletes are skipped, as DMS would.
import type pg from 'pg';
import { parseLsn } from '../../db/position.js';
import { pgConfig, withPg } from './pg-ops.js';
import type { Backend, OverlapReplay } from '../registry.js';
import { parseTestDecoding } from './test-decoding.js';
import type { DecodedChange, DecodedColumn } from './test-decoding.js';

export type { OverlapReplay };

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
        if (parseLsn(row.lsn) >= parseLsn(from)) out.push(open);
        open = [];
      } else open.push(change);
    }
    return out;
  });
}

/** Each table's primary key: its columns as quote_ident prints them (the form test_decoding uses). */
interface PrimaryKey {
  columns: Set<string>;
}

async function primaryKeys(c: pg.Client, tables: string[]): Promise<Map<string, PrimaryKey>> {
  const keys = new Map<string, PrimaryKey>();
  const res = await c.query<{ tbl: string; col: string }>(
    `SELECT n.nspname || '.' || t.relname AS tbl, quote_ident(a.attname) AS col
       FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
      WHERE k.contype = 'p' AND n.nspname || '.' || t.relname = ANY ($1)`,
    [tables],
  );
  for (const r of res.rows) {
    const key = keys.get(r.tbl) ?? { columns: new Set<string>() };
    key.columns.add(r.col);
    keys.set(r.tbl, key);
  }
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

const isUniqueViolation = (error: unknown): boolean => (error as { code?: string }).code === '23505';

/** Insert a row; if its primary key is taken, update that row instead. Whether it was inserted. */
async function upsert(c: pg.Client, table: string, tuple: DecodedColumn[], pk: PrimaryKey): Promise<boolean> {
  await c.query('SAVEPOINT overlap_row');
  try {
    await run(c, (s) => s.insert(table, tuple));
    await c.query('RELEASE SAVEPOINT overlap_row');
    return true;
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    // Which unique index reports first depends on the indexes' order, so the row's presence decides: a row with
    // this primary key is updated; with none, another unique index refused it, an apply error.
    await c.query('ROLLBACK TO SAVEPOINT overlap_row');
    const key = tuple.filter((x) => pk.columns.has(x.name));
    const set = tuple.filter((x) => !pk.columns.has(x.name));
    const there = set.length > 0 ? await run(c, (s) => s.update(table, set, key)) : await run(c, (s) => `SELECT 1 FROM ${table} WHERE ${s.where(key)}`);
    if (there === 0) throw error;
    return false;
  }
}

type Outcome = 'applied' | 'insertAsUpdate' | 'updateAsInsert' | 'deleteMissing' | 'keylessInsert' | 'skipped';

/** One change by DMS's rules (INSERT_RECORD, UPDATE_RECORD, IGNORE_RECORD for deletes). */
async function applyChange(c: pg.Client, change: Exclude<DecodedChange, { kind: 'begin' | 'commit' | 'message' | 'truncate' }>, pk: PrimaryKey | undefined): Promise<Outcome> {
  const keyOf = (cols: DecodedColumn[]): DecodedColumn[] => cols.filter((x) => pk?.columns.has(x.name));
  const present = (cols: DecodedColumn[]): DecodedColumn[] => cols.filter((x) => x.unchanged !== true);
  if (change.kind === 'insert') {
    if (!pk) {
      await run(c, (s) => s.insert(change.table, present(change.tuple)));
      return 'keylessInsert';
    }
    return (await upsert(c, change.table, present(change.tuple), pk)) ? 'applied' : 'insertAsUpdate';
  }
  if (change.kind === 'update') {
    const key = keyOf(change.oldKey ?? change.tuple);
    if (!pk || key.length !== pk.columns.size) return 'skipped';
    if ((await run(c, (s) => s.update(change.table, present(change.tuple), key))) > 0) return 'applied';
    // A key change replayed after the snapshot has it may find the new key taken: then it updates that row.
    await upsert(c, change.table, present(change.tuple), pk);
    return 'updateAsInsert';
  }
  const key = change.key === undefined ? [] : keyOf(change.key);
  if (!pk || key.length !== pk.columns.size) return 'skipped';
  return (await run(c, (s) => `DELETE FROM ${change.table} WHERE ${s.where(key)}`)) > 0 ? 'applied' : 'deleteMissing';
}

/**
 * Replay on `target` the transactions that committed between `from` (the task's start) and `upTo` (the
 * snapshot) on the source slot `slot`, for the task's tables only, in one transaction.
 */
export async function replayOverlap(opts: { source: Backend; target: Backend; slot: string; from: string; upTo: string; tables: string[] }): Promise<OverlapReplay> {
  const transactions = await peekTransactions(opts.source, opts.slot, opts.from, opts.upTo);
  const selected = new Set(opts.tables);
  const stats: OverlapReplay = {
    from: opts.from, upTo: opts.upTo, transactions: transactions.length, changes: 0, insertsAsUpdates: 0, updatesAsInserts: 0, deletesMissing: 0, keylessInserts: 0, skipped: 0, applyErrors: 0,
  };
  await withPg(pgConfig(opts.target), async (c) => {
    const keys = await primaryKeys(c, opts.tables);
    await c.query('BEGIN');
    try {
      // As an apply worker: no triggers, no foreign-key checks (the source already checked them, in this order).
      await c.query('SET LOCAL session_replication_role = replica');
      for (const change of transactions.flat()) {
        if (change.kind === 'message' || change.kind === 'begin' || change.kind === 'commit') continue;
        if (change.kind === 'truncate') {
          const names = change.tables.filter((t) => selected.has(plainName(t)));
          if (names.length > 0) await c.query(`TRUNCATE ${names.join(', ')}`);
          stats.changes += names.length > 0 ? 1 : 0;
          continue;
        }
        if (!selected.has(plainName(change.table))) continue;
        stats.changes += 1;
        // Each change on its own: one the target refuses is counted and passed over, not the end of the replay.
        await c.query('SAVEPOINT overlap_change');
        try {
          const outcome = await applyChange(c, change, keys.get(plainName(change.table)));
          await c.query('RELEASE SAVEPOINT overlap_change');
          if (outcome === 'insertAsUpdate') stats.insertsAsUpdates += 1;
          else if (outcome === 'updateAsInsert') stats.updatesAsInserts += 1;
          else if (outcome === 'deleteMissing') stats.deletesMissing += 1;
          else if (outcome === 'keylessInsert') stats.keylessInserts += 1;
          else if (outcome === 'skipped') stats.skipped += 1;
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
          await c.query('ROLLBACK TO SAVEPOINT overlap_change');
          stats.applyErrors += 1;
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
