// The DMS-CDC flow for Aurora (PostgreSQL and MySQL) and RDS DB instances (postgres, mysql, mariadb): which steps,
// in which order, and (as data) how the engine makes the source safe after a failure. Rollback is the engine's,
// from each step's undo. The steps are shared; instances add copy-snapshot (and, for MySQL/MariaDB,
// replica-position); what differs lives in the database adapters and src/steps/engine.ts.
import { withAuroraTopology } from './topology.js';
import { StepError } from '../engine/types.js';
import type { Flow, PlannedAction, Step, StepContext } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { buildNativeFlow } from './native.js';
import { buildSnapshotFlow } from './snapshot.js';
import { buildCloneFlow } from './clone.js';
import { capturePosition } from '../steps/capture-position.js';
import { catchUp } from '../steps/catch-up.js';
import { cleanup } from '../steps/cleanup.js';
import { consistentValidateStep } from '../steps/consistent-validate.js';
import { dmsSetup } from '../steps/dms-setup.js';
import { drainStep } from '../steps/drain.js';
import { fenceStep } from '../steps/fence.js';
import { profile } from '../steps/engine.js';
import { fixSequences } from '../steps/fix-sequences.js';
import { copySnapshot, replicaPosition } from '../steps/instance.js';
import { copySnapshotTo } from '../steps/copy-snapshot-to.js';
import { afterSwitch, beforeFence } from '../steps/hooks.js';
import { preflight } from '../steps/preflight.js';
import { prepareSource } from '../steps/prepare-source.js';
import { restore } from '../steps/restore.js';
import type { RekeyServices } from '../steps/services.js';
import { snapshot } from '../steps/snapshot.js';
import { startCdc } from '../steps/start-cdc.js';
import { stopTaskStep } from '../steps/stop-task.js';
import { switchStep } from '../steps/switch.js';
import { finalValidate, validate } from '../steps/validate.js';
import { verify } from '../steps/verify.js';
import { buildBlueGreenFlow } from './blue-green.js';

/** Engines the DMS-CDC flow runs. */
export const SUPPORTED_ENGINES: readonly Runbook['source']['engine'][] = ['aurora-postgresql', 'aurora-mysql', 'postgres', 'mysql', 'mariadb'];

export function buildFlow(runbook: Runbook): Flow<RekeyServices> {
  if (!SUPPORTED_ENGINES.includes(runbook.source.engine)) {
    throw new StepError(`engine ${runbook.source.engine} is not supported yet: rekey runs ${SUPPORTED_ENGINES.join(' and ')} for now`, 'rejected');
  }
  if (runbook.strategy === 'native') return buildNativeFlow(runbook);
  if (runbook.strategy === 'snapshot') return buildSnapshotFlow(runbook);
  if (runbook.strategy === 'clone') return buildCloneFlow(runbook);
  if (runbook.strategy === 'blue-green') return buildBlueGreenFlow(runbook);
  // Every other strategy returned above: what is left is dms-cdc (the compiler checks it).
  const strategy: 'dms-cdc' = runbook.strategy;
  void strategy;
  const p = profile(runbook);
  // The order is this list; the ids, the plan and the journal all read it from here.
  const steps: Step<RekeyServices>[] = [
    preflight,
    // MySQL reads the binary log: no replication slot to prepare, and the title must not promise one.
    p.usesSlot ? prepareSource : { ...prepareSource, title: 'Prepare the source (sentinel table)' },
    ...(p.instance && p.family === 'mysql' ? [replicaPosition] : []),
    snapshot,
    ...(p.instance ? [copySnapshot] : []),
    restore,
    capturePosition,
    dmsSetup,
    startCdc,
    catchUp,
    validate,
    consistentValidateStep(),
    beforeFence,
    fenceStep(),
    drainStep,
    stopTaskStep,
    finalValidate,
    fixSequences,
    switchStep,
    verify,
    afterSwitch,
    cleanup,
    ...(runbook.after?.copySnapshotTo.length ? [copySnapshotTo] : []),
  ];
  return {
    id: `dms-cdc/${runbook.source.engine}`,
    steps: withAuroraTopology(runbook, steps),
    // After a failure: unfence (the cutover's fence, or the consistent point's brief one) unless the switch happened
    // (or has begun); then everything from catch-up (from start-cdc once the task was stopped or was being stopped:
    // start-cdc resumes it) up to the switch runs again on resume.
    safety: { guard: ['consistent-validate', 'fence'], boundary: 'switch', rewindTo: { default: 'catch-up', ifStarted: { 'stop-task': 'start-cdc' } } },
  };
}

/** The step ids of the flow for this runbook, in order (read from the declared list). */
export function stepIds(runbook: Runbook): string[] {
  return buildFlow(runbook).steps.map((s) => s.id);
}

/** One step of the plan as `rekey plan` prints it. */
export interface PlanEntry {
  id: string;
  title: string;
  /** Gate asked before the step, if any. */
  gate?: string;
  actions: PlannedAction[];
}

/** The plan: every step with the exact actions it would take. Pure. */
export function planFlow(flow: Flow<RekeyServices>, ctx: StepContext<RekeyServices>): PlanEntry[] {
  return flow.steps.map((s) => ({ id: s.id, title: s.title, ...(s.gate ? { gate: s.gate.id } : {}), actions: s.describe(ctx) }));
}

/** The plan as text for people. */
export function renderPlan(entries: PlanEntry[]): string {
  const lines: string[] = [];
  entries.forEach((e, i) => {
    lines.push(`${String(i + 1).padStart(2)}. ${e.id}: ${e.title}${e.gate ? `  [gate: ${e.gate}]` : ''}`);
    for (const a of e.actions) lines.push(`      ${a.kind.padEnd(4)} ${a.target}  ${a.summary}${a.detail ? `\n           ${a.detail}` : ''}`);
  });
  return lines.join('\n');
}
