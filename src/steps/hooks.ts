// before-fence (carries the cutover gate: the first cutover action) and after-switch: the runbook's local
// commands, each with its time limit; a failing hook stops the run.
import { StepError } from '../engine/types.js';
import type { CutoverGateFacts } from '../engine/facts.js';
import type { GateSpec, PlannedAction, Step } from '../engine/types.js';
import { output } from './common.js';
import type { Ctx } from './common.js';
import type { RekeyServices } from './services.js';
import type { HooksOutput } from './outputs.js';

export type { HooksOutput } from './outputs.js';

type HookList = { run: string; timeoutSeconds: number }[];

async function runHooks(ctx: Ctx, stepId: string, hooks: HookList): Promise<HooksOutput> {
  const env = { REKEY_RUN_ID: ctx.runId, REKEY_SOURCE: ctx.services.runbook.source.identifier, REKEY_STEP: stepId };
  for (const [i, hook] of hooks.entries()) {
    ctx.report.progress(`hook ${i + 1}/${hooks.length}`);
    const result = await ctx.services.exec(hook.run, env, hook.timeoutSeconds * 1000, ctx.signal);
    if (result.code !== 0) {
      const why = result.code === null ? `was killed after ${hook.timeoutSeconds} s` : `exited with code ${result.code}`;
      const tail = result.output.trim().split('\n').slice(-5);
      throw new StepError(`${stepId} hook ${i + 1} (${hook.run}) ${why}`, 'fatal', tail);
    }
  }
  return { ran: hooks.length };
}

function describeHooks(hooks: HookList, when: string): PlannedAction[] {
  if (hooks.length === 0) return [{ kind: 'note', target: 'hooks', summary: `no ${when} hooks` }];
  return hooks.map((h) => ({ kind: 'exec' as const, target: 'local', summary: `${when} hook (at most ${h.timeoutSeconds} s)`, detail: h.run }));
}

/** The cutover gate: shown the facts that matter, confirmed by typing the source identifier. */
export const cutoverGate: GateSpec = {
  id: 'cutover',
  question: 'Fence writes on the source and cut over to the new cluster?',
  facts(ctx) {
    const c = ctx as Ctx;
    const now = c.services.clock.now();
    const catchUp = output(c, 'catch-up');
    const validation = output(c, 'validate');
    const preflight = output(c, 'preflight');
    const facts: CutoverGateFacts = {
      source: c.services.runbook.source.identifier,
      newKey: preflight?.key?.arn ?? c.services.runbook.target.kmsKeyId,
      switch: c.services.runbook.cutover.switch,
    };
    if (catchUp) facts.latencySeconds = catchUp.latencySeconds;
    if (validation) {
      facts.validationAgeSeconds = Math.round((now - Date.parse(validation.at)) / 1000);
      facts.tablesCompared = validation.tables;
      facts.tablesDifferingBeforeFence = validation.mismatched;
    }
    const point = output(c, 'consistent-validate');
    if (point) {
      facts.consistentPoint = point.point;
      facts.tablesEqualAtConsistentPoint = `${point.tables - point.mismatched}/${point.tables}`;
      facts.rowsCompared = point.rows;
      facts.consistentPointWindowMs = point.windowMs;
      if (point.keyless.length > 0) facts.comparedWholeWithoutPrimaryKey = point.keyless.join(', ');
    }
    if (preflight) {
      facts.predictedWindowSeconds = preflight.estimate.totalSeconds;
      if (preflight.estimate.awsRenameDnsSeconds > 0) facts.awsRenameDnsSeconds = preflight.estimate.awsRenameDnsSeconds;
      facts.tablesWithoutPrimaryKey = preflight.tablesWithoutPk.length;
      if ((preflight.openSessions ?? 0) > 0) facts.sessionsOfRekeyLoginAtPreflight = preflight.openSessions ?? 0;
    }
    const topology = output(c, 'topology-readers');
    if (topology) {
      const t = topology.topology;
      facts.readersOnNewCluster = `${topology.available.length}/${t.readers.length}${topology.available.length > 0 ? `: ${topology.available.join(', ')}` : ''}`;
      const ready = output(c, 'topology-endpoints')?.available ?? [];
      if (t.customEndpoints.length > 0) facts.customEndpointsReady = `${ready.length}/${t.customEndpoints.length}: ${t.customEndpoints.map((e) => `${e.name} -> ${e.temporary}`).join(', ')}`;
      if (t.autoScaling) facts.autoScalingAfterSwitch = `${t.autoScaling.resourceId} ${t.autoScaling.minCapacity}-${t.autoScaling.maxCapacity}, ${t.autoScaling.policies.length} polic${t.autoScaling.policies.length === 1 ? 'y' : 'ies'}`;
    }
    const overlap = output(c, 'capture-position')?.overlap;
    if (overlap) facts.cdcStartedBeforeSnapshot = `at ${overlap.fromLsn}: the overlap was replayed as upserts`;
    return facts;
  },
  confirmText: (ctx) => (ctx as Ctx).services.runbook.source.identifier,
};

export const beforeFence: Step<RekeyServices, HooksOutput> = {
  id: 'before-fence',
  title: 'Cutover: before-fence hooks',
  gate: cutoverGate,
  describe: (ctx) => describeHooks(ctx.services.runbook.hooks.beforeFence, 'before-fence'),
  run: (ctx) => runHooks(ctx, 'before-fence', ctx.services.runbook.hooks.beforeFence),
};

export const afterSwitch: Step<RekeyServices, HooksOutput> = {
  id: 'after-switch',
  title: 'After-switch hooks',
  describe: (ctx) => describeHooks(ctx.services.runbook.hooks.afterSwitch, 'after-switch'),
  run: (ctx) => runHooks(ctx, 'after-switch', ctx.services.runbook.hooks.afterSwitch),
};
