// Compensation is the engine's: making the source safe after a failure (from the flow's SafetySpec) and rolling a
// run back (each step's own undo, newest first). Flows declare data; steps carry their undo; nothing else decides.
import type { Flow, SafetySpec, Step, StepContext } from './types.js';

const has = (outputs: Readonly<Record<string, unknown>>, id: string): boolean => Object.prototype.hasOwnProperty.call(outputs, id);

/** Whether a step's effect is in place now: its own answer, else whether it has an output. */
export async function inEffect<S>(step: Step<S>, ctx: StepContext<S>): Promise<boolean> {
  return step.inEffect ? await step.inEffect(ctx) : has(ctx.outputs, step.id);
}

/**
 * The step a resume starts from once the guard was lifted (SafetySpec.rewindTo): the first `ifStarted` entry whose
 * step succeeded or is the one that failed (it may have done part of its work), else the first `ifSucceeded` entry
 * whose step succeeded, else `default`.
 */
export function rewindTarget(spec: SafetySpec, outputs: Readonly<Record<string, unknown>>, failedStepId?: string): string {
  const started = Object.entries(spec.rewindTo.ifStarted ?? {}).find(([id]) => has(outputs, id) || id === failedStepId);
  if (started) return started[1];
  const hit = Object.entries(spec.rewindTo.ifSucceeded ?? {}).find(([id]) => has(outputs, id));
  return hit ? hit[1] : spec.rewindTo.default;
}

/** The guard steps of a spec, in flow order. */
function guardsOf(spec: SafetySpec): readonly string[] {
  return typeof spec.guard === 'string' ? [spec.guard] : spec.guard;
}

function stepOf<S>(flow: Flow<S>, id: string): Step<S> {
  const step = flow.steps.find((s) => s.id === id);
  if (!step) throw new Error(`flow ${flow.id} declares ${id} in its safety spec but has no such step`);
  return step;
}

/**
 * Leaves the source safe after `failedStepId` failed or was interrupted (idempotent): lifts every guard in effect
 * (the cutover's fence, the consistent point's brief one) unless the boundary (switch) happened or has begun. Returns the ids of succeeded steps to mark undone so a resume
 * runs them again (empty when nothing was lifted).
 */
export async function makeSafe<S>(flow: Flow<S>, ctx: StepContext<S>, failedStepId: string): Promise<string[]> {
  const spec = flow.safety;
  if (!spec) return [];
  const ids = flow.steps.map((s) => s.id);
  const order = (id: string): number => ids.indexOf(id);
  const guards = guardsOf(spec).map((id) => stepOf(flow, id));
  const boundary = stepOf(flow, spec.boundary);
  const up: Step<S>[] = [];
  for (const guard of guards) if (await inEffect(guard, ctx)) up.push(guard);
  if (up.length === 0) return [];
  if (has(ctx.outputs, boundary.id)) return [];
  // From the boundary on, look before lifting the guard: a half-done switch must be finished or rolled back.
  if (order(failedStepId) >= order(boundary.id) && boundary.inEffect && (await boundary.inEffect(ctx))) {
    ctx.report.log('warn', `the ${boundary.id} has (partly) happened: the old source stays fenced; resume to finish or rollback to rename back`);
    return [];
  }
  // Newest first: a later guard's state was taken while an earlier one may still have been up.
  for (const guard of up.reverse()) await guard.undo?.(ctx);
  const from = order(rewindTarget(spec, ctx.outputs, failedStepId));
  return ids.filter((id) => order(id) >= from && order(id) < order(boundary.id) && has(ctx.outputs, id));
}

/** What a rollback did with each step it looked at, newest first. */
export interface UndoReport {
  /** Steps whose undo ran. */
  undone: string[];
  /** Steps whose effect was kept (keepOnRollback), with what was kept. */
  kept: { stepId: string; what: string }[];
}

/**
 * Rollback: calls `undo` of every step that succeeded or was started (a partial run is taken back too), in reverse
 * flow order. Steps with `keepOnRollback` are left in place unless `discard` is set. Stops at the first undo that
 * throws (later undos may depend on it, e.g. unfence after the rename back).
 */
export async function undoSteps<S>(
  flow: Flow<S>,
  ctx: StepContext<S>,
  done: { succeeded: ReadonlySet<string>; started?: ReadonlySet<string> },
  opts: { discard?: boolean } = {},
): Promise<UndoReport> {
  const report: UndoReport = { undone: [], kept: [] };
  for (const step of [...flow.steps].reverse()) {
    if (!step.undo) continue;
    if (!done.succeeded.has(step.id) && !done.started?.has(step.id)) continue;
    if (step.keepOnRollback !== undefined && !opts.discard) {
      report.kept.push({ stepId: step.id, what: step.keepOnRollback });
      continue;
    }
    ctx.report.log('info', `undo ${step.id}: ${step.title}`);
    await step.undo(ctx);
    report.undone.push(step.id);
  }
  return report;
}
