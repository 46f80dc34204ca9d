// Engine-neutral SQL helpers: identifier quoting and the `schema.table` pattern matching runbooks use.
import type { FenceState, KeyRange, TableRef } from './types.js';

/** Which quoting rules apply. */
export type SqlDialect = 'postgres' | 'mysql';

/** Quotes one identifier: `"a""b"` for PostgreSQL, `` `a``b` `` for MySQL. Rejects empty names and NUL bytes. */
export function quoteIdent(name: string, dialect: SqlDialect): string {
  if (name.length === 0) throw new Error('empty SQL identifier');
  if (name.includes('\0')) throw new Error('SQL identifier contains a NUL byte');
  const q = dialect === 'postgres' ? '"' : '`';
  return q + name.split(q).join(q + q) + q;
}

/** Quotes `schema.table`. */
export function quoteTable(table: TableRef, dialect: SqlDialect): string {
  return `${quoteIdent(table.schema, dialect)}.${quoteIdent(table.name, dialect)}`;
}

/** `schema.table` as people (and runbooks) write it, unquoted. */
export function tableName(table: TableRef): string {
  return `${table.schema}.${table.name}`;
}

/** Compiles one name pattern where `%` matches any run of characters (DMS selection-rule style); everything else is literal. */
export function namePattern(pattern: string): RegExp {
  const body = pattern
    .split('%')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

/** Splits a `schema.table` pattern at its first dot; a pattern without a dot matches that table in any schema. */
export function splitTablePattern(pattern: string): { schema: string; name: string } {
  const dot = pattern.indexOf('.');
  if (dot < 0) return { schema: '%', name: pattern };
  return { schema: pattern.slice(0, dot), name: pattern.slice(dot + 1) };
}

/** True when the table matches the `schema.table` pattern (case-sensitive, `%` wildcard). */
export function matchesTablePattern(table: TableRef, pattern: string): boolean {
  const p = splitTablePattern(pattern);
  return namePattern(p.schema).test(table.schema) && namePattern(p.name).test(table.name);
}

/** Tables matching any include pattern and no exclude pattern, in the order given. */
export function filterTables<T extends TableRef>(tables: T[], include: string[], exclude: string[]): T[] {
  return tables.filter(
    (t) => include.some((p) => matchesTablePattern(t, p)) && !exclude.some((p) => matchesTablePattern(t, p)),
  );
}

/** Tables AWS DMS creates on a database it reads or writes (DDL capture, control tables); never user data. */
export function isDmsArtefact(name: string): boolean {
  return name.toLowerCase().startsWith('awsdms_');
}

/** The message of anything thrown. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Where a connection goes, for error messages (never with the password). */
export function describeEndpoint(engine: 'postgres' | 'mysql', endpoint: { user: string; host: string; port: number; database: string }): string {
  return `${engine} ${endpoint.user}@${endpoint.host}:${endpoint.port}/${endpoint.database}`;
}

/** Polls until `done()` is true or the deadline passes (backing off 20 ms to 250 ms); returns whether it became true. */
export async function pollUntil(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    if (await done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** `(a, b) >= ($1, $2) AND (a, b) < ($3, $4)` for a key range, its parameters numbered from 1. */
export function keyRangePredicate(key: string[], range: KeyRange, dialect: SqlDialect): { sql: string; params: string[] } {
  const cols = key.map((c) => quoteIdent(c, dialect));
  const tuple = cols.length === 1 ? (cols[0] as string) : `(${cols.join(', ')})`;
  const params: string[] = [];
  const place = (values: string[]): string => {
    const marks = values.map((v) => {
      params.push(v);
      return dialect === 'postgres' ? `$${params.length}` : '?';
    });
    return marks.length === 1 ? (marks[0] as string) : `(${marks.join(', ')})`;
  };
  const parts: string[] = [];
  if (range.from) parts.push(`${tuple} >= ${place(range.from)}`);
  if (range.to) parts.push(`${tuple} < ${place(range.to)}`);
  return { sql: parts.length > 0 ? parts.join(' AND ') : 'TRUE', params };
}

/** A MySQL string literal: `'a''b'` (backslashes doubled too, whatever sql_mode says). */
function mysqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/**
 * The statements that put every principal of a fence record back as it was, to print when rekey could not: for
 * people to run by hand (as the master user). Principals recorded as already fenced before rekey get none.
 */
export function unfenceStatements(state: FenceState, dialect: SqlDialect): string[] {
  const out: string[] = [];
  for (const p of state.principals) {
    if (dialect === 'postgres') {
      const role = quoteIdent(p.name, 'postgres');
      if (p.before.rolcanlogin === true) out.push(`ALTER ROLE ${role} LOGIN;`);
      if (typeof p.before.rolconnlimit === 'number') out.push(`ALTER ROLE ${role} CONNECTION LIMIT ${p.before.rolconnlimit};`);
    } else if (p.before.accountLocked === false) {
      const at = p.name.lastIndexOf('@');
      const user = at >= 0 ? p.name.slice(0, at) : p.name;
      const host = at >= 0 ? p.name.slice(at + 1) : '%';
      out.push(`ALTER USER ${mysqlString(user)}@${mysqlString(host)} ACCOUNT UNLOCK;`);
    }
  }
  return out;
}
