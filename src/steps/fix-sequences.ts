// fix-sequences: DMS does not carry sequence positions. Copy each sequence's position from the fenced
// source, raise it to the column maximum where that is higher, then verify nothing is behind.
import { crashPoint } from '../engine/crash.js';
import type { DbAdapter, SequenceState } from '../db/types.js';
import type { SequenceChange } from '../engine/facts.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { withSource, withStatementTimeout, withTarget } from './common.js';
import { family } from './engine.js';
import { fenceBudgetMs } from './fence.js';
import type { RekeyServices } from './services.js';
import type { FixSequencesOutput } from './outputs.js';

export type { FixSequencesOutput } from './outputs.js';

/** Smallest next value each target sequence must have: the source's position and every fed column's max + 1. */
export async function requiredNext(target: DbAdapter, targetSeqs: SequenceState[], source: Map<string, bigint | null>): Promise<Map<string, bigint>> {
  const need = new Map<string, bigint>();
  for (const seq of targetSeqs) {
    let want = source.get(seq.name) ?? null;
    for (const col of seq.columns) {
      const max = await target.columnMax(col, col.column);
      if (max !== null && (want === null || max + 1n > want)) want = max + 1n;
    }
    if (want !== null) need.set(seq.name, want);
  }
  return need;
}

/**
 * Raises every sequence of `seqs` that is behind `need` (never lowers one), then reads them again: publishes
 * `sequences` and fails with one line per sequence still behind or `missing` on `where`.
 */
export async function raiseAndVerify(
  ctx: Parameters<Step<RekeyServices>['run']>[0],
  db: DbAdapter,
  seqs: SequenceState[],
  need: Map<string, bigint>,
  missing: string[],
  where: string,
  /** Each sequence's position on the source (the old primary), for the per-sequence table. */
  sourceNext: ReadonlyMap<string, bigint | null> = new Map(),
): Promise<FixSequencesOutput> {
  const isBehind = (s: SequenceState): boolean => {
    const want = need.get(s.name);
    return want !== undefined && (s.nextValue === null || s.nextValue < want);
  };
  let raised = 0;
  const setTo = new Map<string, bigint>();
  for (const seq of seqs.filter(isBehind)) {
    await db.raiseSequence(seq.name, need.get(seq.name)!);
    setTo.set(seq.name, need.get(seq.name)!);
    raised++;
    crashPoint('fix-sequences:after-raise');
  }
  const text = (v: bigint | null | undefined): string | null => (v === null || v === undefined ? null : v.toString());
  const items: SequenceChange[] = seqs.map((s) => ({
    name: s.name,
    source: text(sourceNext.get(s.name)),
    targetBefore: text(s.nextValue),
    ...(setTo.has(s.name) ? { setTo: setTo.get(s.name)!.toString() } : {}),
  }));
  const after = await db.sequences();
  const behind = after.filter(isBehind).map((s) => `${s.name}: next ${s.nextValue ?? 'unset'}, needs ${need.get(s.name) ?? '?'}`);
  const problems = [...behind, ...missing];
  ctx.report.progress(`${after.length} sequences checked, ${raised} raised, ${problems.length} behind`);
  ctx.report.publish('sequences', { checked: after.length, behind: problems.length, raised, problems, items });
  if (problems.length > 0) throw new StepError(`${problems.length} sequences are behind on ${where}`, 'fatal', problems);
  return { checked: after.length, behind: 0, raised, items };
}

export const fixSequences: Step<RekeyServices, FixSequencesOutput> = {
  id: 'fix-sequences',
  title: 'Fix sequences on the target',
  describe(ctx) {
    if (family(ctx.services.runbook) === 'mysql') {
      return [
        { kind: 'sql', target: 'source', summary: 'read every AUTO_INCREMENT counter' },
        { kind: 'sql', target: 'target', summary: "ALTER TABLE ... AUTO_INCREMENT to at least the source's counter and max(column) + 1 (never lower)" },
        { kind: 'sql', target: 'target', summary: 'verify every AUTO_INCREMENT counter is at or past both' },
      ];
    }
    return [
      { kind: 'sql', target: 'source', summary: 'read every sequence position (identity, serial, shared sequences)' },
      { kind: 'sql', target: 'target', summary: "setval each sequence to at least the source's position and max(column) + 1 (never lower)" },
      { kind: 'sql', target: 'target', summary: 'verify every sequence is at or past both' },
    ];
  },
  async run(ctx) {
    // Every statement inside the fence is cut off at what is left of the time box.
    const bounded = withStatementTimeout(ctx, fenceBudgetMs(ctx, 'fix-sequences'));
    // Source and target are opened and read at once (on AWS each open also resolves an endpoint): fenced time.
    const sourceRead = withSource(bounded, (db) => db.sequences());
    // Awaited below; this only keeps a target that fails to open first from leaving the read unhandled.
    sourceRead.catch(() => undefined);
    return withTarget(bounded, async (db) => {
      const [sourceSeqs, targetSeqs] = await Promise.all([sourceRead, db.sequences()]);
      const sourceNext = new Map(sourceSeqs.map((s) => [s.name, s.nextValue]));
      const missing = sourceSeqs.filter((s) => !targetSeqs.some((t) => t.name === s.name)).map((s) => s.name);
      const need = await requiredNext(db, targetSeqs, sourceNext);
      crashPoint('fix-sequences:after-read');
      return raiseAndVerify(ctx, db, targetSeqs, need, missing.map((m) => `${m}: exists on the source but not on the target`), 'the target', sourceNext);
    });
  },
};
