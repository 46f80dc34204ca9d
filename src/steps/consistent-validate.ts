// consistent-validate: full validation at one consistent point, outside the cutover fence. A brief fence and a
// drained sentinel line both sides up; a REPEATABLE READ / consistent-snapshot transaction is opened on every
// reader of the source and of the target at that point; the fence is lifted at once. Row counts and row-text
// checksums are then compared on the two snapshots, by primary-key range over `validation.concurrency`
// connections per side, while writes and CDC go on. Any difference fails the step: the cutover is not offered.
import { randomBytes } from 'node:crypto';
import { DescribeTableStatisticsCommand } from '@aws-sdk/client-database-migration-service';
import type { TableStatistics } from '@aws-sdk/client-database-migration-service';
import { call } from '../aws/errors.js';
import { findTask } from '../aws/dms.js';
import { tableName } from '../db/sql.js';
import { tableSelection } from '../runbook/schema.js';
import type { DbAdapter, FenceState, KeyRange, RowHashSpec, RowsDigest, SnapshotReader, TableRef } from '../db/types.js';
import { crashPoint } from '../engine/crash.js';
import { InterruptedError, StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { unfencedCompareConnections } from './capacity.js';
import { checkAborted, clusterEndpoint, openDb } from './common.js';
import type { Ctx } from './common.js';
import { drainStepAs, waitForSentinel } from './drain.js';
import { family } from './engine.js';
import { fenceStep } from './fence.js';
import type { AppliedCounts, ConsistentValidationOutput, DrainOutput, PointTableComparison, RangeDifference } from './outputs.js';
import type { RekeyServices } from './services.js';

export type { AppliedCounts, ConsistentValidationOutput, PointTableComparison, RangeDifference } from './outputs.js';

const ID = 'consistent-validate';

/**
 * The context the brief fence runs in: the fence step's logic, its journal under this step (`before` is what the
 * roles looked like, `lifted` that this step unfenced them again), and no cutover fence to fall back on.
 */
function briefFenceCtx(ctx: Ctx): Ctx {
  const { fence: _cutover, ...outputs } = ctx.outputs;
  const journaled = ctx.journaled?.bind(ctx);
  return {
    ...ctx,
    outputs,
    checkpoints: { ...(ctx.checkpoints ?? {}), fence: ctx.checkpoints?.[ID] ?? {} },
    // The fence's write-ahead records of this run are this step's own, not the cutover fence's.
    ...(journaled ? { journaled: (stepId: string, key: string) => journaled(stepId === 'fence' ? ID : stepId, key) } : {}),
  };
}

/**
 * Its own crash points (REKEY_CRASH_AT): those of the fence and the drain under its name
 * (consistent-validate:fence:after-journal, ...:fence:after-principal:<n>, ...:drain:after-sentinel), and
 * consistent-validate:after-fence (the brief fence up, the drain not begun), :after-snapshots (every snapshot
 * open, the fence still up) and :after-lift (the fence lifted and journaled so, the comparison not begun).
 */
const briefDrain = drainStepAs(`${ID}:drain`);

/** At most this many differing ranges are looked into row by row, and this many keys named per range. */
const SAMPLED_RANGES = 5;
const SAMPLE_KEYS = 5;
/** Ranges with more rows than this are not read row by row for sample keys. */
const SAMPLE_ROW_LIMIT = 200_000;
/** Integer keys: at most this many ranges per table. */
const MAX_RANGES = 10_000;

/** The control table DMS logs failed changes in, on the target (PostgreSQL: public; MySQL: awsdms_control). */
export function applyExceptionsTable(ctx: Ctx): TableRef {
  return { schema: family(ctx.services.runbook) === 'mysql' ? 'awsdms_control' : 'public', name: 'awsdms_apply_exceptions' };
}

/** The task's table statistics by schema.table, or undefined when DMS does not answer. */
export async function appliedCounts(ctx: Ctx): Promise<AppliedCounts | undefined> {
  const { cloud, names } = ctx.services;
  try {
    const task = await findTask(cloud, names.task);
    const arn = task?.ReplicationTaskArn;
    if (!arn) return undefined;
    const stats: TableStatistics[] = [];
    let marker: string | undefined;
    do {
      const out = await call('dms:DescribeTableStatistics', () =>
        cloud.dms.send(new DescribeTableStatisticsCommand({ ReplicationTaskArn: arn, MaxRecords: 500, ...(marker ? { Marker: marker } : {}) })),
      );
      stats.push(...(out.TableStatistics ?? []));
      marker = out.Marker;
    } while (marker);
    return Object.fromEntries(
      stats.map((s) => [`${s.SchemaName ?? ''}.${s.TableName ?? ''}`, { applied: (s.AppliedInserts ?? s.Inserts ?? 0) + (s.AppliedUpdates ?? s.Updates ?? 0) + (s.AppliedDeletes ?? s.Deletes ?? 0), state: s.TableState }]),
    );
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    ctx.report.log('warn', `dms:DescribeTableStatistics did not answer: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function wantsChecksum(ctx: Ctx, table: string): boolean {
  const c = ctx.services.runbook.validation.checksums;
  return c === true || (Array.isArray(c) && c.includes(table));
}

/** A range as people read it. */
export function describeRange(key: string[], range: KeyRange): string {
  const cols = key.length === 1 ? (key[0] as string) : `(${key.join(', ')})`;
  const value = (v: string[]) => (v.length === 1 ? (v[0] as string) : `(${v.join(', ')})`);
  if (range.from && range.to) return `${cols} in [${value(range.from)}, ${value(range.to)})`;
  if (range.from) return `${cols} >= ${value(range.from)}`;
  if (range.to) return `${cols} < ${value(range.to)}`;
  return `${cols}: every key`;
}

/** Splits [min, max] of an integer key into about (max - min + 1) / chunkRows ranges, open at both ends. */
export function integerRanges(min: bigint, max: bigint, chunkRows: number): KeyRange[] {
  const span = max - min + 1n;
  const n = span <= 0n ? 1n : BigInt(Math.min(MAX_RANGES, Math.max(1, Math.ceil(Number(span) / chunkRows))));
  const width = (span + n - 1n) / n;
  const bounds: string[] = [];
  for (let i = 1n; i < n; i++) bounds.push((min + i * width).toString());
  return rangesFromBounds(bounds.map((b) => [b]));
}

/** Consecutive ranges between boundaries: (-inf, b1), [b1, b2), ..., [bn, +inf). */
export function rangesFromBounds(bounds: string[][]): KeyRange[] {
  if (bounds.length === 0) return [{}];
  const ranges: KeyRange[] = [{ to: bounds[0] }];
  for (let i = 1; i < bounds.length; i++) ranges.push({ from: bounds[i - 1], to: bounds[i] });
  ranges.push({ from: bounds[bounds.length - 1] });
  return ranges;
}

/** A table cut into key ranges. */
export interface TablePlan {
  table: TableRef;
  name: string;
  hash: boolean;
  /** Rows the statistics expect (sizes the compare's jobs); 0 or absent when unknown. */
  estimatedRows?: number;
  /** The typed row hash both sides compute alike (hash is true); absent: the row text is hashed. */
  rowHash?: RowHashSpec;
  key?: string[];
  ranges: KeyRange[];
}

/**
 * The typed row hash for a table when both readers offer one and it is the same column for column (names, types,
 * how each is hashed); otherwise undefined and the portable row-text hash is used.
 */
export async function commonHashSpec(source: SnapshotReader, target: SnapshotReader, table: TableRef): Promise<RowHashSpec | undefined> {
  if (!source.hashSpec || !target.hashSpec) return undefined;
  const [a, b] = await Promise.all([source.hashSpec(table), target.hashSpec(table)]);
  return a && b && JSON.stringify(a) === JSON.stringify(b) ? a : undefined;
}

/**
 * Cuts a table into primary-key ranges (whole table without a key). Runs on a source reader before the fence;
 * with `target` (a reader of the other side) a checksummed table gets the typed row hash when both sides agree on it.
 */
export async function planTable(reader: SnapshotReader, table: TableRef, hash: boolean, chunkRows: number, estimatedRows: number, target?: SnapshotReader): Promise<TablePlan> {
  const name = tableName(table);
  const rowHash = hash && target ? await commonHashSpec(reader, target, table) : undefined;
  const base = { table, name, hash, ...(rowHash ? { rowHash } : {}), ...(Number.isFinite(estimatedRows) && estimatedRows > 0 ? { estimatedRows } : {}) };
  const pk = await reader.primaryKey(table);
  if (!pk) return { ...base, ranges: [{}] };
  if (pk.integer) {
    const extent = await reader.keyExtent(table, pk.columns[0] as string);
    if (!extent) return { ...base, key: pk.columns, ranges: [{}] };
    return { ...base, key: pk.columns, ranges: integerRanges(BigInt(extent.min), BigInt(extent.max), chunkRows) };
  }
  if (estimatedRows <= chunkRows) return { ...base, key: pk.columns, ranges: [{}] };
  return { ...base, key: pk.columns, ranges: rangesFromBounds(await reader.keySplits(table, pk.columns, chunkRows)) };
}

/** Keys that differ between two row-hash maps, each with what is wrong. */
export function differingKeys(source: Map<string, string>, target: Map<string, string>, limit: number): string[] {
  const out: string[] = [];
  for (const [k, h] of source) {
    if (out.length >= limit) return out;
    const t = target.get(k);
    if (t === undefined) out.push(`${k} missing on the target`);
    else if (t !== h) out.push(`${k} differs`);
  }
  for (const k of target.keys()) {
    if (out.length >= limit) return out;
    if (!source.has(k)) out.push(`${k} only on the target`);
  }
  return out;
}

/** Lines for people: one per differing table, then its ranges. */
export function pointMismatchLines(out: ConsistentValidationOutput): string[] {
  const lines: string[] = [];
  for (const r of out.results.filter((x) => !x.matches)) {
    lines.push(`${r.table}: source ${r.sourceRows ?? '-'} rows, target ${r.targetRows ?? '-'} rows${r.checksumMatch === false ? ', checksums differ' : ''}${r.keyless ? ' (no primary key: compared as a whole)' : ''}`);
    for (const d of r.differences) {
      lines.push(`  ${r.table} ${d.range}: source ${d.sourceRows} rows, target ${d.targetRows} rows${d.checksumMatch === false ? ', checksums differ' : ''}${d.sampleKeys.length > 0 ? `; keys: ${d.sampleKeys.join('; ')}` : ''}`);
    }
  }
  return lines;
}

/** Both sides' digests of one range. */
export interface RangeDigest {
  source: RowsDigest;
  target: RowsDigest;
  range: KeyRange;
}

/** One job of the compare: ranges first..last of a plan, read as one range (they are consecutive). */
export interface DigestJob {
  plan: TablePlan;
  first: number;
  last: number;
  /** Rows expected, for the order of the queue. */
  size: number;
}

/**
 * The compare's jobs, largest first. A table is read in as few passes as keep the pairs busy: whole, unless it
 * holds more than a pair's fair share of all rows, then in that many segments of consecutive ranges. One pass
 * over a table scans it once (the server may parallelise it); a segment that differs is then read range by range
 * (digestRanges), so differences are still reported per range of about `chunkRows`.
 */
export function digestJobs(plans: readonly TablePlan[], pairs: number, chunkRows: number): DigestJob[] {
  const rowsOf = (p: TablePlan) => p.estimatedRows ?? (p.key ? p.ranges.length : 1) * chunkRows;
  const total = plans.reduce((n, p) => n + rowsOf(p), 0);
  const share = Math.max(chunkRows, Math.ceil(total / Math.max(1, pairs)));
  const jobs: DigestJob[] = [];
  for (const plan of plans) {
    const rows = rowsOf(plan);
    const n = plan.ranges.length;
    const segments = Math.min(n, Math.max(1, Math.ceil(rows / share)));
    for (let s = 0; s < segments; s++) {
      const first = Math.floor((s * n) / segments);
      const last = Math.floor(((s + 1) * n) / segments) - 1;
      jobs.push({ plan, first, last, size: ((last - first + 1) * rows) / n });
    }
  }
  // Stable: equal sizes keep the plans' order.
  return jobs.map((j, i) => ({ j, i })).sort((a, b) => b.j.size - a.j.size || a.i - b.i).map(({ j }) => j);
}

/** Ranges first..last of a plan as one range (they are consecutive). */
function spanOf(plan: TablePlan, first: number, last: number): KeyRange {
  const from = plan.ranges[first]?.from;
  const to = plan.ranges[last]?.to;
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

/** Whether two sides' digests of the same rows disagree. */
function differs(plan: TablePlan, d: { source: RowsDigest; target: RowsDigest }): boolean {
  return d.source.rows !== d.target.rows || (plan.hash && d.source.sum !== d.target.sum);
}

/**
 * Digests every plan on both sides, one job per reader pair at a time (the pairs share the work queue, so a big
 * table's segments spread over all of them). A segment that differs is read again range by range on the same
 * snapshots, so the result lists, per plan and in key order, one digest per segment that matched and one per
 * range of a segment that did not. `progress` hears the running totals (rows, planned ranges) after each job.
 */
export async function digestRanges(
  pairs: readonly { source: SnapshotReader; target: SnapshotReader }[],
  plans: readonly TablePlan[],
  progress?: (rowsDone: number, rangesDone: number) => void,
  chunkRows = 100_000,
): Promise<Map<TablePlan, RangeDigest[]>> {
  const jobs = digestJobs(plans, pairs.length, chunkRows);
  const found = new Map<TablePlan, { at: number; digest: RangeDigest }[]>();
  let next = 0;
  let rowsDone = 0;
  let rangesDone = 0;
  const both = async (pair: (typeof pairs)[number], plan: TablePlan, range: KeyRange): Promise<RangeDigest> => {
    const hash = plan.rowHash ?? plan.hash;
    const on = plan.key ? { key: plan.key, range } : undefined;
    const [source, target] = await Promise.all([pair.source.digest(plan.table, hash, on), pair.target.digest(plan.table, hash, on)]);
    return { source, target, range };
  };
  await Promise.all(
    pairs.map(async (pair) => {
      while (next < jobs.length) {
        const { plan, first, last } = jobs[next++] as DigestJob;
        const whole = await both(pair, plan, spanOf(plan, first, last));
        const list = found.get(plan) ?? [];
        found.set(plan, list);
        if (first === last || !differs(plan, whole)) list.push({ at: first, digest: whole });
        else for (let i = first; i <= last; i++) list.push({ at: i, digest: await both(pair, plan, plan.ranges[i] as KeyRange) });
        rowsDone += whole.source.rows;
        rangesDone += last - first + 1;
        progress?.(rowsDone, rangesDone);
      }
    }),
  );
  return new Map([...found].map(([plan, list]) => [plan, list.sort((a, b) => a.at - b.at).map((x) => x.digest)]));
}

/**
 * Unfenced: a sentinel written now must reach the target. Before the brief fence, so that its fenced drain waits only
 * for the last moment's changes, not for a backlog (the `validate` step's counts, say, kept both servers busy and CDC
 * fell behind: the more rows, the further); and after the compare, for the same reason before the cutover's fenced
 * drain. Returns how long it took, or undefined (a warning, not a failure: the fenced drains still decide) when it
 * did not arrive within cutover.drainTimeoutSeconds.
 */
async function catchUpUnfenced(ctx: Ctx, src: DbAdapter, tgt: DbAdapter, when: string): Promise<number | undefined> {
  const { runbook: rb, clock } = ctx.services;
  const token = `${ctx.runId}-${ctx.attempt}-cv-${clock.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const started = clock.now();
  try {
    await src.writeSentinel(rb.cutover.sentinelTable, token);
    await waitForSentinel(ctx, tgt, token, `on the target ${when}`, rb.cutover.drainTimeoutSeconds * 1000);
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    ctx.report.log('warn', `CDC did not catch up within ${rb.cutover.drainTimeoutSeconds} s ${when}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  return clock.now() - started;
}

/**
 * The step. Its brief fence is the fence step's own logic, journaled under this step: while it is up, `inEffect`
 * says so and `undo` lifts it, so the engine unfences after a failure or interruption inside it (the flow lists this
 * step among its safety guards) and a rollback does too.
 */
export function consistentValidateStep(): Step<RekeyServices, ConsistentValidationOutput> {
  const fencer = fenceStep(`${ID}:fence`);
  // The latest `lifted` record of the run (false is journaled before each brief fence, true once it is lifted).
  const lifted = (ctx: Ctx): boolean => (ctx.journaled ? ctx.journaled(ID, 'lifted').at(-1) : ctx.checkpoints?.[ID]?.lifted) === true;
  // Up while this step has not succeeded (its own finally lifts it) and has not journaled lifting it.
  const isUp = async (ctx: Ctx): Promise<boolean> =>
    !Object.prototype.hasOwnProperty.call(ctx.outputs, ID) && !lifted(ctx) && (await fencer.inEffect!(briefFenceCtx(ctx)));
  const lift = async (ctx: Ctx): Promise<void> => {
    await fencer.undo!(briefFenceCtx(ctx));
    await ctx.checkpoint?.('lifted', true);
  };
  return {
    id: ID,
    title: 'Validate at a consistent point (brief fence, then compare snapshots while writes go on)',
    describe(ctx) {
      const rb = ctx.services.runbook;
      const v = rb.validation;
      const per = unfencedCompareConnections(ctx);
      return [
        { kind: 'sql', target: 'source+target', summary: `open ${per.connections} connection${per.connections === 1 ? '' : 's'} per side; cut each table into primary-key ranges of about ${v.chunkRows} rows (tables without a primary key: compared whole)`, ...(per.capped ? { detail: per.capped } : {}) },
        { kind: 'sql', target: 'source', summary: 'fence the writer roles briefly (as the cutover does) and write a sentinel row', detail: `at most ${rb.cutover.fenceTimeoutSeconds} s; the window is measured and reported` },
        { kind: 'wait', target: 'target', summary: 'until the sentinel is on the target: both sides are at the same point' },
        { kind: 'sql', target: 'source+target', summary: 'start a REPEATABLE READ / consistent-snapshot transaction on every connection, then unfence at once' },
        {
          kind: 'sql', target: 'source+target',
          summary: `compare ${v.rowCounts ? 'row counts' : ''}${v.rowCounts && v.checksums !== false ? ' and ' : ''}${v.checksums !== false ? `row-text checksums of ${v.checksums === true ? 'every table' : v.checksums.join(', ')}` : ''} per range on the two snapshots while writes and CDC go on`,
          detail: 'any difference fails this step: the cutover is not offered',
        },
        { kind: 'aws', target: 'dms:DescribeTableStatistics', summary: 'the task\'s per-table statistics at the point (the cutover checks what was applied since)' },
        { kind: 'wait', target: 'target', summary: `a sentinel written after the compare (unfenced) reaches the target, so the cutover's drain waits only for the last changes (at most ${rb.cutover.drainTimeoutSeconds} s)` },
      ];
    },
    async run(ctx) {
      const { runbook: rb, names, clock } = ctx.services;
      const started = clock.now();
      const v = rb.validation;
      const sourceAt = await clusterEndpoint(ctx, rb.source.identifier, true);
      const targetAt = await clusterEndpoint(ctx, names.targetCluster, false);
      const adapters: DbAdapter[] = [];
      const readers: SnapshotReader[] = [];
      try {
        const [src, tgt] = await Promise.all([openDb(ctx, sourceAt), openDb(ctx, targetAt)]);
        adapters.push(src, tgt);
        const tables = await src.listTables(tableSelection(rb).include, tableSelection(rb).exclude);
        const sizes = new Map((await src.tableSizes()).map((s) => [tableName(s), Math.max(0, s.estimatedRows)]));
        // The compare runs while the application writes: at most validation.cpuShare of the writer's vCPUs.
        const per = unfencedCompareConnections(ctx);
        if (per.capped) ctx.report.log('info', per.capped);
        const workers = Math.max(1, Math.min(per.connections, 64));
        const opened = await Promise.all(Array.from({ length: workers }, async () => Promise.all([src.snapshotReader(), tgt.snapshotReader()])));
        for (const [s, t] of opened) readers.push(s, t);
        const pairs = opened.map(([source, target]) => ({ source, target }));
        const planner = pairs[0] as (typeof pairs)[number];
        const plans: TablePlan[] = [];
        for (const t of tables) plans.push(await planTable(planner.source, t, wantsChecksum(ctx, tableName(t)), v.chunkRows, sizes.get(tableName(t)) ?? 0, planner.target));
        const keyless = plans.filter((p) => !p.key).map((p) => p.name);
        for (const name of keyless) ctx.report.log('info', `${name} has no primary key: compared as a whole table, not by range`);
        const hashed = plans.filter((p) => p.hash);
        const typed = hashed.filter((p) => p.rowHash);
        if (hashed.length > 0) ctx.report.log('info', `row checksums: ${typed.length} of ${hashed.length} tables hashed column by column by type (both sides agree on every column), ${hashed.length - typed.length} by row text`);
        checkAborted(ctx);

        // CDC caught up first, unfenced: the brief fence's drain then waits only for what was written just before it.
        const before = await catchUpUnfenced(ctx, src, tgt, 'before the brief fence');
        if (before !== undefined) ctx.report.metric('consistent-point.catch-up-before.ms', before, 'ms');
        checkAborted(ctx);
        // The consistent point: fence, drain, snapshots on every connection, unfence.
        await ctx.checkpoint?.('lifted', false);
        let drain: DrainOutput;
        let point: number;
        let fence: FenceState | undefined;
        try {
          fence = await fencer.run(briefFenceCtx(ctx));
          crashPoint(`${ID}:after-fence`);
          drain = await briefDrain.run({ ...ctx, outputs: { ...ctx.outputs, fence } });
          await Promise.all(readers.map((r) => r.begin()));
          point = clock.now();
          crashPoint(`${ID}:after-snapshots`);
        } finally {
          await lift(ctx);
        }
        crashPoint(`${ID}:after-lift`);
        const fencedAt = Date.parse(fence.at);
        const windowMs = clock.now() - (Number.isFinite(fencedAt) ? fencedAt : started);
        ctx.report.metric('consistent-point.window.ms', windowMs, 'ms');
        ctx.report.log('info', `consistent point at ${new Date(point).toISOString()}: writes were fenced for ${windowMs} ms (sentinel ${drain.waitedMs} ms); comparing the snapshots while writes go on`);
        const applied = await appliedCounts(ctx);

        // Compare, range by range, on the two snapshots.
        const totalRows = Math.max(1, plans.reduce((n, p) => n + (sizes.get(p.name) ?? 0), 0));
        const jobCount = plans.reduce((n, p) => n + p.ranges.length, 0);
        const compareStarted = clock.now();
        const digests = await digestRanges(pairs, plans, (rowsDone, rangesDone) => {
          checkAborted(ctx);
          const elapsed = (clock.now() - compareStarted) / 1000;
          const share = Math.min(0.99, Math.max(rowsDone / totalRows, rangesDone / jobCount));
          const eta = share > 0 ? Math.round((elapsed / share) * (1 - share)) : undefined;
          ctx.report.progress(`consistent-point validation: ${rangesDone}/${jobCount} ranges, ${rowsDone} rows`, Math.round(share * 100), eta);
        }, v.chunkRows);

        const results: PointTableComparison[] = [];
        let sampled = 0;
        for (const plan of plans) {
          const list = digests.get(plan) ?? [];
          const sourceRows = list.reduce((n, d) => n + d.source.rows, 0);
          const targetRows = list.reduce((n, d) => n + d.target.rows, 0);
          const differences: RangeDifference[] = [];
          for (const d of list) {
            const sumsDiffer = plan.hash && d.source.sum !== d.target.sum;
            if (d.source.rows === d.target.rows && !sumsDiffer) continue;
            let sampleKeys: string[] = [];
            if (plan.key && sampled < SAMPLED_RANGES && Math.max(d.source.rows, d.target.rows) <= SAMPLE_ROW_LIMIT) {
              sampled++;
              const reader = pairs[0] as (typeof pairs)[number];
              const [s, t] = await Promise.all([reader.source.rowHashes(plan.table, plan.key, d.range, SAMPLE_ROW_LIMIT, plan.rowHash), reader.target.rowHashes(plan.table, plan.key, d.range, SAMPLE_ROW_LIMIT, plan.rowHash)]);
              sampleKeys = differingKeys(s, t, SAMPLE_KEYS);
            }
            differences.push({
              range: plan.key ? describeRange(plan.key, d.range) : 'whole table (no primary key)',
              sourceRows: d.source.rows,
              targetRows: d.target.rows,
              ...(plan.hash ? { checksumMatch: !sumsDiffer } : {}),
              sampleKeys,
            });
          }
          const checksumMatch = plan.hash ? !differences.some((d) => d.checksumMatch === false) : undefined;
          results.push({
            table: plan.name,
            sourceRows,
            targetRows,
            ...(checksumMatch !== undefined ? { checksumMatch } : {}),
            matches: differences.length === 0,
            ranges: plan.ranges.length,
            ...(plan.key ? {} : { keyless: true }),
            ...(plan.hash ? { hashing: plan.rowHash ? ('typed' as const) : ('row-text' as const) } : {}),
            differences,
          });
        }
        // Last, since a missing table ends a PostgreSQL transaction: DMS's apply exceptions as of the point.
        let applyExceptions: number | undefined;
        try {
          applyExceptions = (await pairs[0]!.target.digest(applyExceptionsTable(ctx), false)).rows;
        } catch {
          applyExceptions = undefined;
        }
        const now = clock.now();
        const rows = results.reduce((n, r) => n + (r.sourceRows ?? 0), 0);
        const compareMs = Math.max(1, now - compareStarted);
        const out: ConsistentValidationOutput = {
          tables: results.length,
          mismatched: results.filter((r) => !r.matches).length,
          results,
          at: new Date(now).toISOString(),
          durationMs: now - started,
          point: new Date(point).toISOString(),
          windowMs,
          drainMs: drain.waitedMs,
          rows,
          rowsPerSecond: Math.round((rows * 1000) / compareMs),
          keyless,
          ...(applyExceptions !== undefined ? { applyExceptions } : {}),
          ...(applied ? { applied } : {}),
        };
        ctx.report.metric('consistent-point.rows-per-second', out.rowsPerSecond, 'rows/s');
        ctx.report.publish('validation-consistent-point', out);
        ctx.report.progress(`${out.tables} tables compared at the consistent point (${jobCount} ranges, ${rows} rows, ${out.rowsPerSecond} rows/s), ${out.mismatched} differ; writes were fenced ${windowMs} ms`);
        if (out.mismatched > 0) {
          throw new StepError(
            `consistent-point validation failed: ${out.mismatched} of ${out.tables} tables differ between the source and the target at ${out.point}; the cutover is not offered`,
            'fatal',
            [
              ...pointMismatchLines(out),
              'the target does not hold what the source held at the same point: find out why (apply errors in the DMS task log, writes to the target), then `rekey rollback` and start again',
            ],
          );
        }
        const caughtUp = await catchUpUnfenced(ctx, src, tgt, 'after the compare');
        if (caughtUp !== undefined) {
          out.caughtUpMs = caughtUp;
          ctx.report.metric('consistent-point.catch-up.ms', caughtUp, 'ms');
        }
        return out;
      } finally {
        await Promise.allSettled([...readers.map((r) => r.close()), ...adapters.map((a) => a.close())]);
      }
    },
    inEffect: (ctx) => isUp(ctx),
    async undo(ctx) {
      if (await isUp(ctx)) await lift(ctx);
    },
  };
}
