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

/**
 * The context a step gets from the engine: shared outputs plus its own durable checkpoints, kept until it succeeds
 * (a re-entered attempt sees what the one before journaled).
 */
function engineLike<S>(ctx: LifecycleWorld<S>['ctx'], stepId: string, store: Record<string, Record<string, unknown>>): StepContext<S> {
  return {
    ...ctx,
    outputs: ctx.outputs,
    get checkpoints() {
      return store;
    },
    checkpoint: (key, value) => {
      store[stepId] = { ...store[stepId], [key]: value };
      return Promise.resolve();
    },
  };
}

export async function stepLifecycle<S>(world: LifecycleWorld<S>, stepId: string): Promise<LifecycleResult> {
  const { flow } = world;
  const store: Record<string, Record<string, unknown>> = {};
  const ctxOf = (id: string): StepContext<S> => engineLike(world.ctx, id, store);
  const outputs = world.ctx.outputs;
  const succeed = (id: string, out: unknown): void => {
    outputs[id] = out;
    delete store[id];
  };
  const step = stepById(flow, stepId);
  for (const before of flow.steps.slice(0, flow.steps.indexOf(step))) succeed(before.id, await before.run(ctxOf(before.id)));

  // The second run is a re-entry: the first one's success was never journaled (its checkpoints are still there).
  const c0 = world.creations();
  await step.run(ctxOf(stepId));
  const c1 = world.creations();
  succeed(stepId, await step.run(ctxOf(stepId)));
  expect({ stepId, createdBySecondRun: world.creations() - c1 }).toEqual({ stepId, createdBySecondRun: 0 });

  let deletedByUndo = 0;
  if (step.undo) {
    const d0 = world.deletions();
    await step.undo(ctxOf(stepId));
    delete outputs[stepId];
    const d1 = world.deletions();
    deletedByUndo = d1 - d0;
    world.afterUndo?.(stepId);
    await step.undo(ctxOf(stepId));
    expect({ stepId, deletedBySecondUndo: world.deletions() - d1 }).toEqual({ stepId, deletedBySecondUndo: 0 });
    succeed(stepId, await step.run(ctxOf(stepId)));
  }
  return { stepId, hasUndo: step.undo !== undefined, createdByRun: c1 - c0, deletedByUndo };
}
