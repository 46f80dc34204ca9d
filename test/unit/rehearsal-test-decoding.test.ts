// The test_decoding text the rehearsal's DMS reads from a slot to replay an overlap: identifiers as printed,
// values as SQL literals, NULL, untouched TOAST values, key changes, keyless deletes, multi-table truncates.
import { describe, expect, test } from '@jest/globals';
import { plainName, toleratesOverlap } from '../../src/rehearsal/engines/overlap.js';
import { parseTestDecoding } from '../../src/rehearsal/engines/test-decoding.js';

describe('parseTestDecoding', () => {
  test('transaction markers and logical messages', () => {
    expect(parseTestDecoding('BEGIN')).toEqual({ kind: 'begin' });
    expect(parseTestDecoding('BEGIN 731')).toEqual({ kind: 'begin' });
    expect(parseTestDecoding('COMMIT 731')).toEqual({ kind: 'commit' });
    expect(parseTestDecoding('message: transactional: 1 prefix: p, sz: 3 content:abc')).toEqual({ kind: 'message' });
  });

  test('an insert with quoted text, doubled quotes, spaces, colons, arrays, bytea, numbers, booleans and NULL', () => {
    const line = `table public.entries: INSERT: id[integer]:1 label[text]:'O''Brien: a "quoted", spaced label' tags[text[]]:'{a,"b c"}' payload[bytea]:'\\x00ff10' amount[numeric]:12.50 settled[boolean]:true note[text]:null "Odd ""Name"""[text]:'x y'`;
    expect(parseTestDecoding(line)).toEqual({
      kind: 'insert', table: 'public.entries',
      tuple: [
        { name: 'id', type: 'integer', value: '1' },
        { name: 'label', type: 'text', value: 'O\'Brien: a "quoted", spaced label' },
        { name: 'tags', type: 'text[]', value: '{a,"b c"}' },
        { name: 'payload', type: 'bytea', value: '\\x00ff10' },
        { name: 'amount', type: 'numeric', value: '12.50' },
        { name: 'settled', type: 'boolean', value: 'true' },
        { name: 'note', type: 'text', value: null },
        { name: '"Odd ""Name"""', type: 'text', value: 'x y' },
      ],
    });
  });

  test('types with spaces, quoted schema and table names, bit strings, an empty string', () => {
    const change = parseTestDecoding(`table "My Schema"."Weird.Table": INSERT: at[timestamp with time zone]:'2026-11-22 06:00:00+00' flags[bit varying]:B'0101' empty[character varying]:''`);
    expect(change).toEqual({
      kind: 'insert', table: '"My Schema"."Weird.Table"',
      tuple: [
        { name: 'at', type: 'timestamp with time zone', value: '2026-11-22 06:00:00+00' },
        { name: 'flags', type: 'bit varying', value: '0101' },
        { name: 'empty', type: 'character varying', value: '' },
      ],
    });
    expect(plainName('"My Schema"."Weird.Table"')).toBe('My Schema.Weird.Table');
    expect(plainName('public."Odd ""Name"""')).toBe('public.Odd "Name"');
  });

  test('updates: plain, with an untouched TOAST value, with a key change, and without tuple data', () => {
    expect(parseTestDecoding(`table public.t: UPDATE: id[bigint]:5 doc[text]:unchanged-toast-datum n[integer]:-3`)).toEqual({
      kind: 'update', table: 'public.t',
      tuple: [{ name: 'id', type: 'bigint', value: '5' }, { name: 'doc', type: 'text', value: null, unchanged: true }, { name: 'n', type: 'integer', value: '-3' }],
    });
    expect(parseTestDecoding(`table public.t: UPDATE: old-key: id[bigint]:5 new-tuple: id[bigint]:6 n[integer]:1`)).toEqual({
      kind: 'update', table: 'public.t', oldKey: [{ name: 'id', type: 'bigint', value: '5' }], tuple: [{ name: 'id', type: 'bigint', value: '6' }, { name: 'n', type: 'integer', value: '1' }],
    });
    expect(parseTestDecoding('table public.t: UPDATE: (no-tuple-data)')).toEqual({ kind: 'update', table: 'public.t', tuple: [] });
  });

  test('deletes with a key, and of a table without replica identity', () => {
    expect(parseTestDecoding(`table public.t: DELETE: a[integer]:1 b[text]:'x'`)).toEqual({
      kind: 'delete', table: 'public.t', key: [{ name: 'a', type: 'integer', value: '1' }, { name: 'b', type: 'text', value: 'x' }],
    });
    expect(parseTestDecoding('table public.ticks: DELETE: (no-tuple-data)')).toEqual({ kind: 'delete', table: 'public.ticks', key: undefined });
  });

  test('a truncate of several tables', () => {
    expect(parseTestDecoding('table public.a, "S".b: TRUNCATE: restart_seqs cascade')).toEqual({ kind: 'truncate', tables: ['public.a', '"S".b'] });
    expect(parseTestDecoding('table public.a: TRUNCATE: (no-flags)')).toEqual({ kind: 'truncate', tables: ['public.a'] });
  });

  test('malformed text fails with where it stopped', () => {
    expect(() => parseTestDecoding(`table public.t: INSERT: a[text]:'unterminated`)).toThrow(/unterminated quoted value/);
    expect(() => parseTestDecoding('table public.t: MERGE: a[int]:1')).toThrow(/unknown change kind/);
    expect(() => parseTestDecoding('table public.t: INSERT: a[text')).toThrow(/expected "\]:"/);
  });
});

describe('toleratesOverlap', () => {
  test('needs both upsert policies in the task settings', () => {
    expect(toleratesOverlap(JSON.stringify({ ErrorBehavior: { ApplyErrorInsertPolicy: 'INSERT_RECORD', ApplyErrorUpdatePolicy: 'UPDATE_RECORD' } }))).toBe(true);
    expect(toleratesOverlap(JSON.stringify({ ErrorBehavior: { ApplyErrorInsertPolicy: 'INSERT_RECORD' } }))).toBe(false);
    expect(toleratesOverlap(JSON.stringify({ ErrorBehavior: { ApplyErrorInsertPolicy: 'LOG_ERROR', ApplyErrorUpdatePolicy: 'UPDATE_RECORD' } }))).toBe(false);
    expect(toleratesOverlap(undefined)).toBe(false);
    expect(toleratesOverlap('{not json')).toBe(false);
  });
});
