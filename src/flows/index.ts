// The DMS-CDC flow for Aurora (PostgreSQL and MySQL) and RDS DB instances (postgres, mysql, mariadb): which steps,
// in which order, and how to make the source safe (unfence) after a failure or roll the whole thing back. The steps
// are shared; instances add copy-snapshot (and, for MySQL/MariaDB, replica-position); what differs lives in the
// database adapters and src/steps/engine.ts.
import { StepError } from '../engine/types.js';
import type { Flow, PlannedAction, Step, StepContext } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { capturePosition } from '../steps/capture-position.js';
import { catchUp } from '../steps/catch-up.js';
import { cleanup } from '../steps/cleanup.js';
import { consistentValidateStep } from '../steps/consistent-validate.js';
import { findDb, newKeyArn } from '../steps/common.js';
import type { Ctx } from '../steps/common.js';
import { dmsSetup } from '../steps/dms-setup.js';
import { drainStep } from '../steps/drain.js';
import { FenceTracker, currentFence, fenceStep, rewindPoint, unfence } from '../steps/fence.js';
import { profile } from '../steps/engine.js';
import { fixSequences } from '../steps/fix-sequences.js';
import { copySnapshot, replicaPosition } from '../steps/instance.js';
import { afterSwitch, beforeFence } from '../steps/hooks.js';
import { preflight } from '../steps/preflight.js';
import { prepareSource } from '../steps/prepare-source.js';
import { restore } from '../steps/restore.js';
import type { RekeyServices } from '../steps/services.js';
import { snapshot } from '../steps/snapshot.js';
import { startCdc, stopTask } from '../steps/start-cdc.js';
import { stopTaskStep } from '../steps/stop-task.js';
import { switchStep } from '../steps/switch.js';
import { finalValidate, validate } from '../steps/validate.js';
import { verify } from '../steps/verify.js';

export const STEP_IDS = [
  'preflight',
  'prepare-source',
  'snapshot',
  'restore',
  'capture-position',
  'dms-setup',
  'start-cdc',
  'catch-up',
  'validate',
  'consistent-validate',
  'before-fence',
  'fence',
  'drain',
  'stop-task',
  'final-validate',
  'fix-sequences',
  'switch',
  'verify',
  'after-switch',
  'cleanup',
] as const;

/** Whether the source identifier still names the old cluster (the switch has not happened, even partly). */
async function sourceStillOld(ctx: Ctx): Promise<boolean> {
  const { names, runbook: rb } = ctx.services;
  const [atSource, parked] = await Promise.all([findDb(ctx, rb.source.identifier), findDb(ctx, names.oldName)]);
  if (!atSource || parked) return false;
  return atSource.kmsKeyId !== (await newKeyArn(ctx));
}

/** The step ids of an RDS instance flow: MySQL/MariaDB read the position from a stopped replica; all copy the snapshot. */
export function stepIds(runbook: Runbook): string[] {
  const p = profile(runbook);
  if (!p.instance) return [...STEP_IDS];
  return STEP_IDS.flatMap((id) => {
    if (id === 'snapshot') return [...(p.family === 'mysql' ? ['replica-position'] : []), 'snapshot', 'copy-snapshot'];
    return [id];
  });
}

/** Engines the DMS-CDC flow runs. */
export const SUPPORTED_ENGINES: readonly Runbook['source']['engine'][] = ['aurora-postgresql', 'aurora-mysql', 'postgres', 'mysql', 'mariadb'];

export function buildFlow(runbook: Runbook): Flow<RekeyServices> {
  if (runbook.strategy !== 'dms-cdc') {
    throw new StepError(`strategy ${runbook.strategy} is not available yet: rekey runs strategy dms-cdc for now`, 'rejected');
  }
  if (!SUPPORTED_ENGINES.includes(runbook.source.engine)) {
    throw new StepError(`engine ${runbook.source.engine} is not supported yet: rekey runs ${SUPPORTED_ENGINES.join(' and ')} for now`, 'rejected');
  }
  const tracker = new FenceTracker();
  const p = profile(runbook);
  const steps: Step<RekeyServices>[] = [
    preflight,
    prepareSource,
    ...(p.instance && p.family === 'mysql' ? [replicaPosition] : []),
    snapshot,
    ...(p.instance ? [copySnapshot] : []),
    restore,
    capturePosition,
    dmsSetup,
    startCdc,
    catchUp,
    validate,
    consistentValidateStep(tracker),
    beforeFence,
    fenceStep(tracker),
    drainStep(tracker),
    stopTaskStep,
    finalValidate,
    fixSequences,
    switchStep,
    verify,
    afterSwitch,
    cleanup,
  ];
  const ids = stepIds(runbook);
  const order = (id: string) => ids.indexOf(id);
  return {
    id: `dms-cdc/${runbook.source.engine}`,
    steps,
    async makeSafe(ctx, failedStepId) {
      if (!currentFence(ctx, tracker)) return [];
      if (ctx.outputs.switch !== undefined) return [];
      // From the switch on, look before unfencing: a half-done rename must be finished or rolled back, not unfenced.
      if (order(failedStepId) >= order('switch') && !(await sourceStillOld(ctx))) {
        ctx.report.log('warn', 'the switch has (partly) happened: the old source stays fenced; resume to finish or rollback to rename back');
        return [];
      }
      await unfence(ctx, tracker);
      // Once unfenced, everything from catch-up on must happen again (from start-cdc if the task was stopped).
      const from = rewindPoint(ctx, failedStepId);
      return ids.filter((id) => order(id) >= order(from) && order(id) < order('switch') && ctx.outputs[id] !== undefined);
    },
    async rollback(ctx, succeeded) {
      const switched = succeeded.has('switch') || (ctx.outputs.restore !== undefined && !(await sourceStillOld(ctx)));
      if (switched && runbook.cutover.switch === 'rename') await switchStep.undo?.(ctx);
      await unfence(ctx, tracker);
      await stopTask(ctx, false);
    },
  };
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
