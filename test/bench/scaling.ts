// `npm run bench`, scaling section: does the write-unavailable window grow with the data? The bundled rehearsal
// (checksums on, AWS's rename time 0) at two sizes per engine, with the ratio; then the consistent-point
// validation's throughput against the peer method on the same data in the same run: pgcopydb-style
// `sum(hashtext(t::text))`, one query per table, with the same number of connections per side.
// REKEY_BENCH_SCALE_ROWS picks the sizes (default 300000,3000000), REKEY_BENCH_SCALE_ENGINES the engines
// (default postgres,mysql; empty skips the windows), REKEY_BENCH_SCALE_RUNS the rehearsals per size (default 1),
// REKEY_BENCH_THROUGHPUT_ROWS the rows of the throughput comparison (default: the largest size; 0 skips it).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { createPostgresAdapter } from '../../src/db/postgres.js';
import { quoteTable } from '../../src/db/sql.js';
import type { SnapshotReader, TableRef } from '../../src/db/types.js';
import { seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { startPostgres } from '../../src/rehearsal/servers/index.js';
import { digestRanges, planTable } from '../../src/steps/consistent-validate.js';

/** What a rehearsal summary says that this section reads. */
export interface ScalingRehearsal {
  ok: boolean;
  downtimeMs: number;
  writes: { acknowledged: number; lost: number; duplicated: number };
  wallMs: number;
}

const CONNECTIONS = 2;
const CHUNK_ROWS = 100_000;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function list(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(',').map((x) => x.trim()).filter((x) => x !== '');
}

function scaledRunbook(root: string, engine: 'postgres' | 'mysql', rows: number, dir: string): string {
  const doc = parseDocument(readFileSync(join(root, 'runbooks', `rehearsal-${engine}.yaml`), 'utf8'));
  doc.setIn(['rehearsal', 'source', 'seedRows'], rows);
  doc.setIn(['rehearsal', 'delays', 'renameSeconds'], 0);
  doc.setIn(['validation', 'checksums'], true);
  const path = join(dir, `scale-${engine}-${rows}.yaml`);
  writeFileSync(path, doc.toString());
  return path;
}

async function windows(root: string, dir: string, rehearse: (runbook: string, cwd: string) => Promise<ScalingRehearsal>): Promise<void> {
  const sizes = list('REKEY_BENCH_SCALE_ROWS', '300000,3000000').map(Number);
  const runs = Number(process.env.REKEY_BENCH_SCALE_RUNS ?? 1);
  for (const engine of list('REKEY_BENCH_SCALE_ENGINES', 'postgres,mysql') as ('postgres' | 'mysql')[]) {
    const medians: number[] = [];
    for (const rows of sizes) {
      const runbook = scaledRunbook(root, engine, rows, dir);
      const windowsMs: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await rehearse(runbook, mkdtempSync(join(dir, `scale-${engine}-${rows}-`)));
        windowsMs.push(r.downtimeMs);
        console.log(`  ${engine} ${rows} rows, rehearsal ${i + 1}/${runs}: ok=${r.ok} window ${r.downtimeMs} ms, ${r.writes.lost} lost / ${r.writes.duplicated} duplicated (${(r.wallMs / 1000).toFixed(0)} s)`);
      }
      medians.push(median(windowsMs));
    }
    const first = medians[0] ?? 0;
    const last = medians.at(-1) ?? 0;
    console.log(`${engine}: window with checksums on, by source size (median of ${runs}): ${sizes.map((n, i) => `${n} rows ${medians[i]} ms`).join(', ')}`);
    if (sizes.length > 1 && first > 0) console.log(`  ratio ${sizes.at(-1)} / ${sizes[0]} rows: x${(last / first).toFixed(2)} (target <= 1.25: ${last / first <= 1.25 ? 'met' : 'MISSED'})`);
  }
}

/** The tables with the statistics' row estimate (fresh after VACUUM ANALYZE), as the step has them from tableSizes. */
async function tablesOf(client: pg.Client): Promise<(TableRef & { estimate: number })[]> {
  const r = await client.query<{ schema: string; name: string; estimate: string }>(
    "SELECT schemaname AS schema, tablename AS name, greatest(c.reltuples, 0)::int8::text AS estimate FROM pg_tables t JOIN pg_class c ON c.oid = format('%I.%I', schemaname, tablename)::regclass WHERE schemaname = 'public' ORDER BY 1, 2",
  );
  return r.rows.map((t) => ({ schema: t.schema, name: t.name, estimate: Number(t.estimate) }));
}

/** pgcopydb's way: one `count(1), sum(hashtext(t::text))` per table and side; tables over the connections. */
async function peer(url: string, tables: TableRef[]): Promise<number> {
  const clients = await Promise.all(Array.from({ length: CONNECTIONS * 2 }, async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    return c;
  }));
  try {
    const t0 = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONNECTIONS }, async (_, i) => {
      while (next < tables.length) {
        const t = tables[next++] as TableRef;
        const q = `SELECT count(1) AS n, sum(hashtext(t::text)::bigint) AS s FROM ONLY ${quoteTable(t, 'postgres')} AS t`;
        await Promise.all([clients[2 * i]!.query(q), clients[2 * i + 1]!.query(q)]);
      }
    }));
    return Date.now() - t0;
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/** rekey's: snapshot readers, the step's plans (typed row hash where both sides agree) and jobs over the connections. */
async function ours(url: string, tables: (TableRef & { estimate: number })[]): Promise<{ ms: number; rows: number }> {
  const u = new URL(url);
  const endpoint = { host: u.hostname, port: Number(u.port), database: u.pathname.slice(1), user: decodeURIComponent(u.username), ...(u.password ? { password: decodeURIComponent(u.password) } : {}) };
  const [a, b] = await Promise.all([createPostgresAdapter(endpoint), createPostgresAdapter(endpoint)]);
  const readers: SnapshotReader[] = [];
  try {
    const pairs = await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      const [source, target] = await Promise.all([a.snapshotReader(), b.snapshotReader()]);
      readers.push(source, target);
      return { source, target };
    }));
    const t0 = Date.now();
    await Promise.all(readers.map((r) => r.begin()));
    const plans = [];
    for (const t of tables) plans.push(await planTable(pairs[0]!.source, { schema: t.schema, name: t.name }, true, CHUNK_ROWS, t.estimate, pairs[0]!.target));
    const digests = await digestRanges(pairs, plans, undefined, CHUNK_ROWS);
    const ms = Date.now() - t0;
    const rows = [...digests.values()].flat().reduce((n, d) => n + d.source.rows, 0);
    return { ms, rows };
  } finally {
    await Promise.allSettled([...readers.map((r) => r.close()), a.close(), b.close()]);
  }
}

async function throughput(dir: string): Promise<void> {
  const sizes = list('REKEY_BENCH_SCALE_ROWS', '300000,3000000').map(Number);
  const rows = Number(process.env.REKEY_BENCH_THROUGHPUT_ROWS ?? Math.max(...sizes));
  if (!(rows > 0)) {
    console.log('validation throughput: not measured (REKEY_BENCH_THROUGHPUT_ROWS=0)');
    return;
  }
  const server = await startPostgres({ dir: join(dir, 'throughput-pg') });
  try {
    await seedPostgresDemo(server.adminUrl, { database: 'orders', rows });
    const url = new URL(server.adminUrl);
    url.pathname = '/orders';
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    await admin.query('VACUUM ANALYZE');
    const tables = await tablesOf(admin);
    await admin.end();
    // Warm the cache once, then alternate the two methods.
    await peer(url.toString(), tables);
    const peerMs: number[] = [];
    const oursMs: number[] = [];
    let counted = 0;
    for (let i = 0; i < 2; i++) {
      const o = await ours(url.toString(), tables);
      oursMs.push(o.ms);
      counted = o.rows;
      peerMs.push(await peer(url.toString(), tables));
    }
    const rate = (ms: number) => Math.round((counted * 1000) / ms);
    const o = rate(median(oursMs));
    const p = rate(median(peerMs));
    console.log(`validation throughput, PostgreSQL, ${counted} rows compared on both sides, ${CONNECTIONS} connections per side (median of 2, warm cache):`);
    console.log(`  consistent-point (a pass per table or primary-key segment, ${CHUNK_ROWS}-row ranges where one differs; typed row hash): ${o} rows/s (${median(oursMs)} ms)`);
    console.log(`  peer, pgcopydb-style sum(hashtext(t::text)) one query per table: ${p} rows/s (${median(peerMs)} ms)`);
    console.log(`  ratio x${(o / p).toFixed(2)} (target >= 1.5: ${o / p >= 1.5 ? 'met' : 'MISSED'})`);
  } finally {
    await server.stop();
  }
}

export async function benchScaling(root: string, dir: string, rehearse: (runbook: string, cwd: string) => Promise<ScalingRehearsal>): Promise<void> {
  console.log('scaling:');
  await windows(root, dir, rehearse);
  await throughput(dir);
}
