// `npm run bench`: the figures rekey promises, measured on this machine, each beside a baseline from the
// same run: the write-unavailable window of rehearsed cutovers (Aurora PostgreSQL and MySQL clusters, RDS
// PostgreSQL and MySQL instances), against the longest gap the same write load shows with no cutover at all;
// the scaling of the window with the data and the validation throughput (scaling.ts, its own variables); and the
// TUI's start-up and idle CPU. REKEY_BENCH_ENGINES picks the flavours, REKEY_BENCH_RUNS the runs per strategy,
// REKEY_BENCH_STRATEGIES the strategies measured on each flavour (default dms-cdc,blue-green: the same runbook with
// `strategy` set, runs interleaved so both see the same machine; printed side by side with their ratio),
// REKEY_BENCH_ROWS the seeded rows (default: the runbook's).
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { ProxyRegistry } from '../../src/rehearsal/aws/proxy.js';
import { seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { startPostgres } from '../../src/rehearsal/servers/index.js';
import { startWriteLoad } from '../../src/rehearsal/workload/write-load.js';
import { benchScaling } from './scaling.js';
import { benchTui } from './tui.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const RUNS = Number(process.env.REKEY_BENCH_RUNS ?? 5);
/** The bundled rehearsal runbooks measured: Aurora clusters and RDS DB instances. */
const FLAVOURS = ['postgres', 'mysql', 'rds-postgres', 'rds-mysql'] as const;
type Flavour = (typeof FLAVOURS)[number];
const WRITES_PER_SECOND = 100;
/** The strategies whose windows are compared; dms-cdc is rekey's own cutover, blue-green AWS's switchover. */
const STRATEGIES = ['dms-cdc', 'blue-green'] as const;
type Strategy = (typeof STRATEGIES)[number];

interface Rehearsal {
  ok: boolean;
  downtimeMs: number;
  writes: { acknowledged: number; lost: number; duplicated: number };
  wallMs: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function rehearse(runbook: string, cwd: string): Promise<Rehearsal> {
  return new Promise((resolveRun, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, 'rehearse', runbook, '--json', '--load', String(WRITES_PER_SECOND)], { cwd, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => {
      try {
        const summary = JSON.parse(out.trim().split('\n').at(-1) ?? '') as Rehearsal;
        resolveRun({ ...summary, wallMs: Date.now() - t0 });
      } catch (err) {
        reject(new Error(`rehearsal produced no summary: ${String(err)}`));
      }
    });
  });
}

/** The bundled runbook with AWS's rename time taken out, so the window is rekey's own (or AWS's switchover's). */
function benchRunbook(engine: Flavour, strategy: Strategy, dir: string): string {
  const doc = parseDocument(readFileSync(join(ROOT, 'runbooks', `rehearsal-${engine}.yaml`), 'utf8'));
  doc.setIn(['rehearsal', 'delays', 'renameSeconds'], 0);
  if (strategy !== 'dms-cdc') doc.set('strategy', strategy);
  if (process.env.REKEY_BENCH_ROWS) doc.setIn(['rehearsal', 'source', 'seedRows'], Number(process.env.REKEY_BENCH_ROWS));
  const path = join(dir, `bench-${engine}-${strategy}.yaml`);
  writeFileSync(path, doc.toString());
  return path;
}

/** The same write load against a local PostgreSQL through the same proxy, with no cutover. */
async function baselineGapMs(dir: string, seconds: number): Promise<number> {
  const server = await startPostgres({ dir: join(dir, 'baseline-pg') });
  const proxies = new ProxyRegistry();
  try {
    await seedPostgresDemo(server.adminUrl, { database: 'orders', rows: 20_000 });
    const port = await proxies.ensure('baseline');
    proxies.point('baseline', { host: server.host, port: server.port });
    const load = startWriteLoad({ endpoint: () => ({ host: '127.0.0.1', port }), database: 'orders', user: 'app', writesPerSecond: WRITES_PER_SECOND, journalPath: join(dir, 'baseline-writes.log'), engine: 'postgres' });
    await new Promise((r) => setTimeout(r, seconds * 1000));
    await load.stop();
    return load.stats().longestUnavailableMs;
  } finally {
    await proxies.close();
    await server.stop();
  }
}

/** The measured windows of one strategy on one flavour. */
interface Windows {
  median: number;
  max: number;
  clean: boolean;
}

function summarise(engine: Flavour, strategy: Strategy, results: Rehearsal[], baseline: number): Windows {
  const windows = results.map((r) => r.downtimeMs);
  const med = median(windows);
  const max = Math.max(...windows);
  const clean = results.every((r) => r.ok && r.writes.lost === 0 && r.writes.duplicated === 0);
  if (strategy === 'blue-green') {
    console.log(`${engine} blue-green: write-unavailable window over ${results.length} rehearsals at ${WRITES_PER_SECOND} writes/s, the rehearsal cloud's Blue/Green switchover:`);
    console.log(`  median ${med} ms, max ${max} ms`);
  } else {
    const what = engine.startsWith('rds-') ? 'two instance renames' : 'two cluster renames';
    console.log(`${engine} dms-cdc: write-unavailable window over ${results.length} rehearsals at ${WRITES_PER_SECOND} writes/s, ${what} with AWS's rename time set to 0:`);
    console.log(`  median ${med} ms (target < 1000: ${med < 1000 ? 'met' : 'MISSED'}), max ${max} ms (target < 2000: ${max < 2000 ? 'met' : 'MISSED'})`);
  }
  console.log(
    baseline > 0
      ? `  vs baseline gap without cutover ${baseline} ms: median x${(med / baseline).toFixed(1)}, max x${(max / baseline).toFixed(1)}`
      : `  vs baseline without cutover: no write was ever unavailable (no gap over 2 write intervals, ${2000 / WRITES_PER_SECOND} ms)`,
  );
  console.log(`  all ok with 0 lost and 0 duplicated: ${clean}`);
  return { median: med, max, clean };
}

/** RUNS rehearsals of each strategy on one flavour, interleaved (run i of every strategy, then run i + 1). */
async function benchEngine(engine: Flavour, strategies: Strategy[], dir: string, baseline: number): Promise<void> {
  const runbooks = new Map(strategies.map((s) => [s, benchRunbook(engine, s, dir)]));
  const results = new Map<Strategy, Rehearsal[]>(strategies.map((s) => [s, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const strategy of strategies) {
      const cwd = mkdtempSync(join(dir, `${engine}-${strategy}-`));
      const r = await rehearse(runbooks.get(strategy)!, cwd);
      results.get(strategy)!.push(r);
      console.log(`  ${engine} ${strategy} rehearsal ${i + 1}/${RUNS}: ok=${r.ok} window ${r.downtimeMs} ms, writes ${r.writes.acknowledged} acknowledged / ${r.writes.lost} lost / ${r.writes.duplicated} duplicated (${(r.wallMs / 1000).toFixed(1)} s)`);
    }
  }
  const measured = new Map(strategies.map((s) => [s, summarise(engine, s, results.get(s)!, baseline)]));
  const bg = measured.get('blue-green');
  const dms = measured.get('dms-cdc');
  if (bg && dms) {
    const ratio = (a: number, b: number) => (b > 0 ? `x${(a / b).toFixed(2)}` : 'n/a (dms-cdc 0 ms)');
    console.log(`${engine} blue-green vs dms-cdc, same load, same run: median ${bg.median} vs ${dms.median} ms (${ratio(bg.median, dms.median)}), max ${bg.max} vs ${dms.max} ms (${ratio(bg.max, dms.max)})`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rekey-bench-'));
  chmodSync(dir, 0o755);
  try {
    console.log(`rekey bench (${new Date().toISOString()}, node ${process.version})`);
    const baseline = await baselineGapMs(dir, 8);
    console.log(`baseline: longest gap between writes at ${WRITES_PER_SECOND}/s through the proxy, no cutover, 8 s: ${baseline} ms`);
    const engines = (process.env.REKEY_BENCH_ENGINES ?? FLAVOURS.join(',')).split(',');
    const wanted = (process.env.REKEY_BENCH_STRATEGIES ?? STRATEGIES.join(',')).split(',').map((x) => x.trim()).filter((x) => x !== '');
    const unknown = wanted.filter((x) => !(STRATEGIES as readonly string[]).includes(x));
    if (unknown.length > 0) throw new Error(`REKEY_BENCH_STRATEGIES: unknown ${unknown.join(', ')} (known: ${STRATEGIES.join(', ')})`);
    const strategies = STRATEGIES.filter((x) => wanted.includes(x));
    for (const flavour of FLAVOURS) {
      if (engines.includes(flavour) && strategies.length > 0) await benchEngine(flavour, strategies, dir, baseline);
      else console.log(`${flavour}: not measured (REKEY_BENCH_ENGINES)`);
    }

    await benchScaling(ROOT, dir, rehearse);

    const tui = await benchTui();
    console.log('tui:');
    console.log(`  process start to first frame: ${tui.firstFrameMs.toFixed(0)} ms (target < 1000: ${tui.firstFrameMs < 1000 ? 'met' : 'MISSED'})`);
    console.log(`  CPU while a step waits: ${tui.idleCpuPercent.toFixed(2)} % of one core (target < 5: ${tui.idleCpuPercent < 5 ? 'met' : 'MISSED'})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
