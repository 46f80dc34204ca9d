// The text that PostgreSQL's test_decoding output plugin gives for each change, parsed: what DMS reads from a
// test_decoding slot. Identifiers arrive already quoted for SQL (quote_identifier), values as SQL literals:
// numbers bare, everything else in single quotes with quotes doubled, `null`, and `unchanged-toast-datum` for
// a TOASTed value an UPDATE left alone.

/** One column of a tuple; `value` is the text form (null for SQL NULL), `unchanged` for an untouched TOAST value. */
export interface DecodedColumn {
  /** As printed: a valid SQL identifier, quoted where needed. */
  name: string;
  type: string;
  value: string | null;
  unchanged?: true;
}

export type DecodedChange =
  | { kind: 'begin' }
  | { kind: 'commit' }
  | { kind: 'insert'; table: string; tuple: DecodedColumn[] }
  | { kind: 'update'; table: string; oldKey?: DecodedColumn[]; tuple: DecodedColumn[] }
  | { kind: 'delete'; table: string; key: DecodedColumn[] | undefined }
  | { kind: 'truncate'; tables: string[] }
  | { kind: 'message' };

/** Reads the plugin's text left to right. */
class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  expect(s: string): void {
    if (!this.startsWith(s)) throw this.error(`expected "${s}"`);
    this.pos += s.length;
  }

  skipSpaces(): void {
    while (this.text[this.pos] === ' ') this.pos += 1;
  }

  /** A quoted ("a""b") or bare identifier, returned as printed. */
  identifier(stop: string): string {
    const from = this.pos;
    if (this.text[this.pos] === '"') {
      this.pos += 1;
      for (;;) {
        const q = this.text.indexOf('"', this.pos);
        if (q < 0) throw this.error('unterminated quoted identifier');
        if (this.text[q + 1] === '"') {
          this.pos = q + 2;
          continue;
        }
        this.pos = q + 1;
        break;
      }
    } else {
      while (!this.done && !stop.includes(this.text[this.pos] ?? '')) this.pos += 1;
    }
    if (this.pos === from) throw this.error('expected an identifier');
    return this.text.slice(from, this.pos);
  }

  /** A table name as printed: schema.table, each part quoted where needed. */
  qualified(): string {
    const schema = this.identifier('.:');
    this.expect('.');
    return `${schema}.${this.identifier(':, ')}`;
  }

  /** A value as test_decoding prints it. */
  value(): { value: string | null; unchanged?: true } {
    if (this.startsWith("'") || this.startsWith("B'")) {
      this.pos += this.startsWith("B'") ? 2 : 1;
      let out = '';
      for (;;) {
        const q = this.text.indexOf("'", this.pos);
        if (q < 0) throw this.error('unterminated quoted value');
        out += this.text.slice(this.pos, q);
        if (this.text[q + 1] === "'") {
          out += "'";
          this.pos = q + 2;
          continue;
        }
        this.pos = q + 1;
        return { value: out };
      }
    }
    const end = this.text.indexOf(' ', this.pos);
    const token = this.text.slice(this.pos, end < 0 ? undefined : end);
    this.pos += token.length;
    if (token === '') throw this.error('expected a value');
    if (token === 'null') return { value: null };
    if (token === 'unchanged-toast-datum') return { value: null, unchanged: true };
    return { value: token };
  }

  /** Columns up to the end or to a `new-tuple:` marker: name[type]:value separated by spaces. */
  tuple(): DecodedColumn[] {
    const cols: DecodedColumn[] = [];
    this.skipSpaces();
    while (!this.done && !this.startsWith('new-tuple:')) {
      const name = this.identifier('[');
      this.expect('[');
      const close = this.text.indexOf(']:', this.pos);
      if (close < 0) throw this.error('expected "]:" after a column type');
      const type = this.text.slice(this.pos, close);
      this.pos = close + 2;
      cols.push({ name, type, ...this.value() });
      this.skipSpaces();
    }
    return cols;
  }

  error(message: string): Error {
    return new Error(`test_decoding output at column ${this.pos + 1}: ${message}: ${this.text.slice(0, 200)}`);
  }
}

/** Parse one row of `pg_logical_slot_peek_changes(...)`'s data column (with include-xids off). */
export function parseTestDecoding(line: string): DecodedChange {
  if (line === 'BEGIN' || line.startsWith('BEGIN ')) return { kind: 'begin' };
  if (line === 'COMMIT' || line.startsWith('COMMIT ')) return { kind: 'commit' };
  if (line.startsWith('message:')) return { kind: 'message' };
  const c = new Cursor(line);
  c.expect('table ');
  // Several tables may be truncated together: "table a.x, b.y: TRUNCATE: cascade".
  const tables = [c.qualified()];
  while (c.startsWith(', ')) {
    c.pos += 2;
    tables.push(c.qualified());
  }
  c.expect(': ');
  if (c.startsWith('TRUNCATE:')) return { kind: 'truncate', tables };
  const table = tables[0] ?? '';
  if (tables.length > 1) throw c.error('several tables outside a TRUNCATE');
  if (c.startsWith('INSERT: ')) {
    c.pos += 8;
    return { kind: 'insert', table, tuple: c.tuple() };
  }
  if (c.startsWith('UPDATE: ')) {
    c.pos += 8;
    if (c.startsWith('old-key: ')) {
      c.pos += 9;
      const oldKey = c.tuple();
      c.expect('new-tuple: ');
      return { kind: 'update', table, oldKey, tuple: c.tuple() };
    }
    return { kind: 'update', table, tuple: c.startsWith('(no-tuple-data)') ? [] : c.tuple() };
  }
  if (c.startsWith('DELETE: ')) {
    c.pos += 8;
    return { kind: 'delete', table, key: c.startsWith('(no-tuple-data)') ? undefined : c.tuple() };
  }
  throw c.error('unknown change kind');
}
