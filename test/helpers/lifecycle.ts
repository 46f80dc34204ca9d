// One step-lifecycle harness for every step of every flow: run -> run again (finds what it made, creates nothing
// more) -> undo -> undo again (finds nothing left to take back) -> run. Steps are addressed by id; the steps before
// it in the flow run first, once, to give it its inputs.
import { expect } from '@jest/globals';
import type { Flow, Step, StepContext } from '../../src/engine/types.js';

/** What the harness needs from a world: the flow, a context whose outputs it fills, and counters of side effects. */
export interface LifecycleWorld<S> {
  flow: Flow<S>;
  ctx: StepContext<S> & { outputs: Record<string, unknown> };
  /** Resources created so far (create/restore/copy/start calls, slots): a repeated run must not add any. */
  creations(): number;
  /** Deletions so far (delete/stop/rename calls): a repeated undo must not add any. */
  deletions(): number;
  /** Checks the world after the first undo (e.g. the roles are writable again after the fence's undo). */
  afterUndo?(stepId: string): void;
}

/** Which phases ran for a step, for the test's own checks. */
export interface LifecycleResult {
  stepId: string;
  hasUndo: boolean;
  /** Creations made by the first run. */
  createdByRun: number;
  /** Deletions made by the first undo. */
  deletedByUndo: number;
}

function stepById<S>(flow: Flow<S>, id: string): Step<S> {
  const step = flow.steps.find((s) => s.id === id);
  if (!step) throw new Error(`flow ${flow.id} has no step ${id}`);
  return step;
}

export async function stepLifecycle<S>(world: LifecycleWorld<S>, stepId: string): Promise<LifecycleResult> {
  const { flow, ctx } = world;
  const step = stepById(flow, stepId);
  for (const before of flow.steps.slice(0, flow.steps.indexOf(step))) ctx.outputs[before.id] = await before.run(ctx);

  const c0 = world.creations();
  ctx.outputs[stepId] = await step.run(ctx);
  const c1 = world.creations();
  ctx.outputs[stepId] = await step.run(ctx);
  expect({ stepId, createdBySecondRun: world.creations() - c1 }).toEqual({ stepId, createdBySecondRun: 0 });

  let deletedByUndo = 0;
  if (step.undo) {
    const d0 = world.deletions();
    await step.undo(ctx);
    delete ctx.outputs[stepId];
    const d1 = world.deletions();
    deletedByUndo = d1 - d0;
    world.afterUndo?.(stepId);
    await step.undo(ctx);
    expect({ stepId, deletedBySecondUndo: world.deletions() - d1 }).toEqual({ stepId, deletedBySecondUndo: 0 });
    ctx.outputs[stepId] = await step.run(ctx);
  }
  return { stepId, hasUndo: step.undo !== undefined, createdByRun: c1 - c0, deletedByUndo };
}
