// The DMS-CDC flow for Aurora (PostgreSQL and MySQL) and RDS DB instances (postgres, mysql, mariadb): which steps,
// in which order, and (as data) how the engine makes the source safe after a failure. Rollback is the engine's,
// from each step's undo. The steps are shared; instances add copy-snapshot (and, for MySQL/MariaDB,
// replica-position); what differs lives in the database adapters and src/steps/engine.ts.
import { StepError } from '../engine/types.js';
import type { Flow, PlannedAction, Step, StepContext } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { buildNativeFlow } from './native.js';
import { buildSnapshotFlow } from './snapshot.js';
import { buildCloneFlow } from './clone.js';
import { profile } from '../steps/engine.js';
import { copySnapshot } from '../steps/instance.js';
import { copySnapshotTo } from '../steps/copy-snapshot-to.js';
import { restore } from '../steps/restore.js';
import type { RekeyServices } from '../steps/services.js';
import { snapshot } from '../steps/snapshot.js';
import { buildBlueGreenFlow } from './blue-green.js';
import { dmsCdcFlow } from './dms-cdc.js';

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
  const seed: Step<RekeyServices>[] = [snapshot, ...(p.instance ? [copySnapshot] : []), restore];
  return dmsCdcFlow(runbook, `dms-cdc/${runbook.source.engine}`, seed, runbook.after?.copySnapshotTo.length ? [copySnapshotTo] : []);
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
