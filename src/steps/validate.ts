// validate (before the fence, informative under live writes) and final-validate (after the drain: any
// difference fails the run). Row counts and optional checksums, tables in parallel with bounded concurrency.
import type { DbAdapter, TableRef } from '../db/types.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { tableSelection } from '../runbook/schema.js';
import { clusterEndpoint, mapLimit, openDb, output, withSource } from './common.js';
import type { Ctx } from './common.js';
import { fenceBudgetMs, guardOpenSessions } from './fence.js';
import type { RekeyServices } from './services.js';
import type { ValidationOutput } from './outputs.js';

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

export async function compareTables(ctx: Ctx, withChecksums: boolean): Promise<ValidationOutput> {
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
    const workers = Math.max(1, Math.min(rb.validation.concurrency, tables.length));
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

function describeValidation(ctx: Ctx, final: boolean): PlannedAction[] {
  const v = ctx.services.runbook.validation;
  const actions: PlannedAction[] = [
    { kind: 'sql', target: 'source', summary: 'list replicated tables', detail: `include ${tableSelection(ctx.services.runbook).include.join(', ')}; exclude ${tableSelection(ctx.services.runbook).exclude.join(', ') || 'none'}` },
  ];
  if (v.rowCounts) actions.push({ kind: 'sql', target: 'source+target', summary: `SELECT count(*) per table, ${v.concurrency} at a time on each side` });
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
    const out = await compareTables(ctx, false);
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

export const finalValidate: Step<RekeyServices, ValidationOutput> = {
  id: 'final-validate',
  title: 'Final validation (source fenced, task stopped)',
  describe: (ctx) => describeValidation(ctx, true),
  async run(ctx) {
    fenceBudgetMs(ctx, 'final-validate');
    const out = await compareTables(ctx, true);
    ctx.report.publish('validation', out);
    ctx.report.progress(`${out.tables} tables compared, ${out.mismatched} mismatched`);
    if (out.mismatched > 0) {
      throw new StepError(`final validation failed: ${out.mismatched} of ${out.tables} tables differ`, 'fatal', [...mismatchLines(out), ...overlapDuplicates(ctx, out)]);
    }
    // A session of rekey's own login opened since the fence went up could still write before the switch.
    await withSource(ctx, (db) => guardOpenSessions(ctx, db, output(ctx, 'fence')?.dmsAddresses ?? [], 'after the final validation'));
    return out;
  },
};
