// validate (before the fence, informative under live writes) and final-validate (inside the cutover fence, after
// the drain: any difference fails the run). The full comparison happens at the consistent point before the gate
// (consistent-validate.ts); inside the fence final-validate does only O(changes) work by default (validation.final:
// none): the DMS task's state, table statistics and apply exceptions since that point. validation.final: counts
// adds exact row counts; a journal from before consistent-validate existed gets the old full comparison.
import type { DbAdapter, TableRef } from '../db/types.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { findTask } from '../aws/dms.js';
import { tableSelection } from '../runbook/schema.js';
import { clusterEndpoint, mapLimit, openDb, output, withSource, withStatementTimeout, withTarget } from './common.js';
import type { Ctx } from './common.js';
import { unfencedCompareConnections } from './capacity.js';
import { appliedCounts, applyExceptionsTable } from './consistent-validate.js';
import { fenceBudgetMs, guardOpenSessions } from './fence.js';
import type { RekeyServices } from './services.js';
import type { ConsistentValidationOutput, ValidationOutput } from './outputs.js';

export type { TableComparison, ValidationOutput } from './outputs.js';

function wantsChecksum(ctx: Ctx, table: string): boolean {
  const c = ctx.services.runbook.validation.checksums;
  return c === true || (Array.isArray(c) && c.includes(table));
}

/** Compares every replicated table on both sides, `validation.concurrency` tables at a time on each side. */
/** The row count a checksum of the form `rows:sum` carries, or null for any other form. */
function rowsOf(checksum: string): number | null {
  const m = /^(\d+):/.exec(checksum);
  return m ? Number(m[1]) : null;
}

export async function compareTables(ctx: Ctx, withChecksums: boolean, connections = ctx.services.runbook.validation.concurrency): Promise<ValidationOutput> {
  const { runbook: rb, names, clock } = ctx.services;
  const started = clock.now();
  const sourceAt = await clusterEndpoint(ctx, rb.source.identifier, true);
  const targetAt = await clusterEndpoint(ctx, names.targetCluster, false);
  const opened: DbAdapter[] = [];
  const open = async (which: 'source' | 'target') => {
    const a = await openDb(ctx, which === 'source' ? sourceAt : targetAt);
    opened.push(a);
    return a;
  };
  try {
    const first = await open('source');
    const tables: TableRef[] = await first.listTables(tableSelection(rb).include, tableSelection(rb).exclude);
    const workers = Math.max(1, Math.min(connections, tables.length));
    // One connection pair per worker: a single connection would run the queries one after another anyway.
    // Opened all at once: inside the fence every millisecond is write downtime.
    const pairs: { source: DbAdapter; target: DbAdapter }[] = await Promise.all(
      Array.from({ length: workers }, async (_, i) => {
        const [source, target] = await Promise.all([i === 0 ? Promise.resolve(first) : open('source'), open('target')]);
        return { source, target };
      }),
    );
    const free = [...pairs];
    const results = await mapLimit(tables, workers, async (t) => {
      const pair = free.pop() as { source: DbAdapter; target: DbAdapter };
      try {
        const name = `${t.schema}.${t.name}`;
        let sourceRows: number | null = null;
        let targetRows: number | null = null;
        let checksumMatch: boolean | undefined;
        if (withChecksums && wantsChecksum(ctx, name)) {
          const [a, b] = await Promise.all([pair.source.checksum(t), pair.target.checksum(t)]);
          checksumMatch = a === b;
          // Both adapters' checksums start with the exact row count ("rows:sum"): one pass instead of two.
          sourceRows = rowsOf(a);
          targetRows = rowsOf(b);
        }
        if (rb.validation.rowCounts && (sourceRows === null || targetRows === null)) {
          [sourceRows, targetRows] = await Promise.all([pair.source.rowCount(t), pair.target.rowCount(t)]);
        }
        const matches = sourceRows === targetRows && checksumMatch !== false;
        return { table: name, sourceRows, targetRows, ...(checksumMatch !== undefined ? { checksumMatch } : {}), matches };
      } finally {
        free.push(pair);
      }
    });
    const mismatched = results.filter((r) => !r.matches).length;
    return { tables: results.length, mismatched, results, at: new Date(clock.now()).toISOString(), durationMs: clock.now() - started };
  } finally {
    await Promise.allSettled(opened.map((a) => a.close()));
  }
}

/** Row counts inside the fence at `validation.concurrency` tables per side per second: the predicted cost. */
export const FENCED_COUNT_ROWS_PER_SECOND = 2_000_000;

function describeFinal(ctx: Ctx): PlannedAction[] {
  const v = ctx.services.runbook.validation;
  const actions: PlannedAction[] = [
    { kind: 'aws', target: 'dms:DescribeReplicationTasks', summary: 'the task stopped cleanly (not failed)' },
    { kind: 'aws', target: 'dms:DescribeTableStatistics', summary: 'no table in error; changes applied since the consistent point' },
    { kind: 'sql', target: 'target', summary: `rows in ${'awsdms_apply_exceptions'} since the consistent point: any fails the cutover` },
  ];
  if (v.final === 'counts') {
    const rows = (output(ctx, 'preflight')?.estimate.rows ?? 0);
    const seconds = Math.round((rows / (FENCED_COUNT_ROWS_PER_SECOND * v.concurrency)) * 10) / 10;
    actions.push({ kind: 'sql', target: 'source+target', summary: `SELECT count(*) per table inside the fence, ${v.concurrency} at a time on each side (validation.final: counts)`, detail: `predicted ${seconds} s of write downtime for about ${rows} rows` });
  }
  actions.push({ kind: 'sql', target: 'source', summary: 'sessions of rekey\'s login from other clients: any refuses the cutover' });
  return actions;
}

function describeValidation(ctx: Ctx, final: boolean): PlannedAction[] {
  const v = ctx.services.runbook.validation;
  const actions: PlannedAction[] = [
    { kind: 'sql', target: 'source', summary: 'list replicated tables', detail: `include ${tableSelection(ctx.services.runbook).include.join(', ')}; exclude ${tableSelection(ctx.services.runbook).exclude.join(', ') || 'none'}` },
  ];
  // Unfenced (before the fence) the application's writes share the writer's vCPUs: capped (capacity.ts).
  const per = final ? { connections: v.concurrency } : unfencedCompareConnections(ctx);
  if (v.rowCounts) actions.push({ kind: 'sql', target: 'source+target', summary: `SELECT count(*) per table, ${per.connections} at a time on each side`, ...(per.capped ? { detail: per.capped } : {}) });
  if (final && v.checksums !== false) actions.push({ kind: 'sql', target: 'source+target', summary: `content checksums of ${v.checksums === true ? 'every table' : v.checksums.join(', ')}` });
  return actions;
}

function mismatchLines(out: ValidationOutput): string[] {
  return out.results
    .filter((r) => !r.matches)
    .map((r) => `${r.table}: source ${r.sourceRows ?? '-'} rows, target ${r.targetRows ?? '-'} rows${r.checksumMatch === false ? ', checksums differ' : ''}`);
}

/**
 * After the opt-in slot fallback, a keyless table with more rows on the target got the overlap's inserts twice:
 * that never heals by waiting, so say what to do instead.
 */
function overlapDuplicates(ctx: Ctx, out: ValidationOutput): string[] {
  const overlap = output(ctx, 'capture-position')?.overlap;
  if (!overlap) return [];
  const keyless = new Set(output(ctx, 'preflight')?.tablesWithoutPk ?? []);
  const tables = out.results.filter((r) => !r.matches && keyless.has(r.table) && (r.targetRows ?? 0) > (r.sourceRows ?? 0)).map((r) => r.table);
  if (tables.length === 0) return [];
  return [
    `${tables.join(', ')}: no primary key, and CDC started at ${overlap.fromLsn}, before the snapshot (dms.allowSlotPositionFallback): the replayed overlap inserted rows there a second time. Resuming cannot fix that.`,
    'undo with `rekey rollback`, then give those tables a primary key (or use an engine version that has rds_tools.logical_seed_lsn()) and run again',
  ];
}

export const validate: Step<RekeyServices, ValidationOutput> = {
  id: 'validate',
  title: 'Validate before the cutover (row counts)',
  describe: (ctx) => describeValidation(ctx, false),
  async run(ctx) {
    const per = unfencedCompareConnections(ctx);
    if (per.capped) ctx.report.log('info', per.capped);
    const out = await compareTables(ctx, false, per.connections);
    // Writes are still flowing, so differences here are drift, not failure; final-validate decides.
    for (const r of out.results.filter((x) => !x.matches)) {
      const ahead = (r.targetRows ?? 0) > (r.sourceRows ?? 0);
      // The two sides are counted one after the other while writes go on: either may be ahead for a moment.
      const why = ahead ? 'target ahead (counted after new writes arrived; expected under live writes)' : 'target behind (CDC still applying; expected under live writes)';
      ctx.report.log('info', `${why}: ${r.table}: source ${r.sourceRows ?? '-'} rows, target ${r.targetRows ?? '-'} rows${r.checksumMatch === false ? ', checksums differ' : ''}`);
    }
    ctx.report.publish('validation-pre-fence', out);
    ctx.report.progress(`${out.tables} tables compared, ${out.mismatched} differ while writes continue (expected; the final validation, fenced, decides)`);
    return out;
  },
};

/** Fails unless the DMS task applied everything since the consistent point without an error. O(changes). */
async function checkChangesSincePoint(ctx: Ctx, bounded: Ctx, point: ConsistentValidationOutput): Promise<{ changes?: number; exceptions?: number }> {
  const { cloud, names } = ctx.services;
  const problems: string[] = [];
  const table = applyExceptionsTable(ctx);
  // Three independent reads, fenced: at once, so the window pays for the slowest, not the sum (on AWS two are API calls).
  const [task, now, rows] = await Promise.all([
    findTask(cloud, names.task),
    appliedCounts(ctx),
    withTarget(bounded, (db) => db.rowCount(table)).catch(() => undefined),
  ]);
  if (task?.Status === 'failed') problems.push(`the CDC task failed: ${task.LastFailureMessage ?? task.StopReason ?? 'no reason given'}`);
  let changes: number | undefined;
  if (now) {
    for (const [table, s] of Object.entries(now)) {
      if (s.state === 'Table error') problems.push(`${table}: DMS reports the table in error (TableState ${s.state})`);
    }
    if (point.applied) {
      const before = point.applied;
      changes = Object.entries(now).reduce((n, [table, s]) => n + Math.max(0, s.applied - (before[table]?.applied ?? 0)), 0);
    }
  }
  let exceptions: number | undefined;
  if (rows !== undefined) {
    exceptions = Math.max(0, rows - (point.applyExceptions ?? 0));
    if (exceptions > 0) problems.push(`DMS logged ${exceptions} apply exception${exceptions === 1 ? '' : 's'} on the target since the consistent point (${table.schema}.${table.name}): changes were not applied`);
  }
  if (problems.length > 0) {
    throw new StepError(`the CDC task did not apply everything since the consistent point (${point.point})`, 'fatal', problems);
  }
  return { ...(changes !== undefined ? { changes } : {}), ...(exceptions !== undefined ? { exceptions } : {}) };
}

export const finalValidate: Step<RekeyServices, ValidationOutput> = {
  id: 'final-validate',
  title: 'Final checks (source fenced, task stopped): what changed since the consistent point',
  // The O(changes) checks follow a consistent-point validation (dms-cdc); otherwise (native, or a journal from
  // before it existed) the full comparison runs inside the fence.
  describe: (ctx) =>
    output(ctx, 'consistent-validate') !== undefined || (ctx.outputs.validate === undefined && ctx.services.runbook.strategy === 'dms-cdc') ? describeFinal(ctx) : describeValidation(ctx, true),
  async run(ctx) {
    const { clock, runbook: rb } = ctx.services;
    const started = clock.now();
    // Every statement inside the fence is cut off at what is left of the time box.
    const bounded = withStatementTimeout(ctx, fenceBudgetMs(ctx, 'final-validate'));
    const point = output(ctx, 'consistent-validate');
    let out: ValidationOutput;
    if (!point) {
      // A run journaled before the consistent-point validation existed: the full comparison, as then.
      out = { ...(await compareTables(bounded, true)), final: 'full' };
    } else {
      const since = await checkChangesSincePoint(ctx, bounded, point);
      const counted = rb.validation.final === 'counts' ? await compareTables(bounded, false) : undefined;
      const now = clock.now();
      out = {
        ...(counted ?? { tables: point.tables, mismatched: point.mismatched, results: point.results.map(({ table, sourceRows, targetRows, checksumMatch, matches }) => ({ table, sourceRows, targetRows, ...(checksumMatch !== undefined ? { checksumMatch } : {}), matches })) }),
        at: new Date(now).toISOString(),
        durationMs: now - started,
        final: rb.validation.final,
        consistentPoint: point.point,
        ...(since.changes !== undefined ? { changesSincePoint: since.changes } : {}),
        ...(since.exceptions !== undefined ? { applyExceptionsSincePoint: since.exceptions } : {}),
      };
    }
    ctx.report.publish('validation', out);
    ctx.report.progress(
      point && rb.validation.final === 'none'
        ? `${out.tables} tables compared at the consistent point; since then ${out.changesSincePoint ?? '?'} changes applied, ${out.applyExceptionsSincePoint ?? 0} apply exceptions`
        : `${out.tables} tables compared, ${out.mismatched} mismatched`,
    );
    if (out.mismatched > 0) {
      throw new StepError(`final validation failed: ${out.mismatched} of ${out.tables} tables differ`, 'fatal', [...mismatchLines(out), ...overlapDuplicates(ctx, out)]);
    }
    // A session of rekey's own login opened since the fence went up could still write before the switch.
    await withSource(bounded, (db) => guardOpenSessions(ctx, db, output(ctx, 'fence')?.dmsAddresses ?? [], 'after the final validation'));
    return out;
  },
};
