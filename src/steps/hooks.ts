// before-fence (carries the cutover gate: the first cutover action) and after-switch: the runbook's local
// commands, each with its time limit; a failing hook stops the run.
import { StepError } from '../engine/types.js';
import type { CutoverGateFacts } from '../engine/facts.js';
import type { GateSpec, PlannedAction, Step } from '../engine/types.js';
import { reportLatency, sampleLatency } from './catch-up.js';
import { output } from './common.js';
import type { Ctx } from './common.js';
import type { RekeyServices } from './services.js';
import type { HooksOutput } from './outputs.js';
import { instanceRenames, keepsInstanceNames } from './topology-instances.js';

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
  async facts(ctx) {
    const c = ctx as Ctx;
    const catchUp = output(c, 'catch-up');
    // The latency of the moment the gate opens: after a resume, catch-up's reading is the old run's.
    const fresh = await sampleLatency(c).catch(() => undefined);
    const now = c.services.clock.now();
    const validation = output(c, 'validate');
    const preflight = output(c, 'preflight');
    const facts: CutoverGateFacts = {
      source: c.services.runbook.source.identifier,
      newKey: preflight?.key?.arn ?? c.services.runbook.target.kmsKeyId,
      switch: c.services.runbook.cutover.switch,
    };
    if (fresh?.total !== undefined) {
      reportLatency(c, fresh);
      facts.latencySeconds = fresh.total;
      facts.latencySampledAt = new Date(now).toISOString();
    } else if (catchUp) {
      facts.latencySeconds = catchUp.latencySeconds;
      facts.latencySampledAt = catchUp.at;
    }
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
      if (preflight.estimate.customEndpointSeconds) facts.customEndpointDeleteSeconds = preflight.estimate.customEndpointSeconds;
      facts.tablesWithoutPrimaryKey = preflight.tablesWithoutPk.length;
      if ((preflight.openSessions ?? 0) > 0) facts.sessionsOfRekeyLoginAtPreflight = preflight.openSessions ?? 0;
      const replicas = preflight.replicas;
      if (replicas && replicas.found.length > 0) {
        facts.replicasToRecreate = replicas.found.length;
        if (replicas.regions.length > 0) facts.replicaRegions = replicas.regions.join(', ');
        facts.withoutReplicasSeconds = replicas.withoutReplicasSeconds;
      }
      const global = preflight.globalDatabase;
      // After the switch the secondary Regions read the old, fenced cluster until their new secondaries are available.
      if (global && global.secondaries.length > 0) facts.globalSecondariesAddedAfterSwitch = `${global.identifier}: ${global.secondaries.map((g) => `${g.identifier} (${g.region})`).join(', ')}`;
    }
    const topology = output(c, 'topology-readers');
    if (topology) {
      const t = topology.topology;
      facts.readersOnNewCluster = `${topology.available.length}/${t.readers.length}${topology.available.length > 0 ? `: ${topology.available.join(', ')}` : ''}`;
      const ready = output(c, 'topology-endpoints')?.available ?? [];
      if (t.customEndpoints.length > 0) facts.customEndpointsReady = `${ready.length}/${t.customEndpoints.length}: ${t.customEndpoints.map((e) => `${e.name} -> ${e.temporary}`).join(', ')}`;
      const kept = keepsInstanceNames(c.services.runbook) ? instanceRenames(t, c.runId) : [];
      if (kept.length > 0) facts.instanceNamesAfterSwitch = `${kept.map((r) => `${r.name} <- ${r.newInstance}`).join(', ')} (outside the fence; the new writer reboots once: writes pause briefly)`;
      if (t.autoScaling) facts.autoScalingAfterSwitch = `${t.autoScaling.resourceId} ${t.autoScaling.minCapacity}-${t.autoScaling.maxCapacity}, ${t.autoScaling.policies.length} polic${t.autoScaling.policies.length === 1 ? 'y' : 'ies'}`;
    }
    const overlap = output(c, 'capture-position')?.overlap;
    if (overlap) facts.cdcStartedBeforeSnapshot = `at ${overlap.fromLsn}: the overlap was replayed as upserts`;
    return facts;
  },
  confirmText: (ctx) => (ctx as Ctx).services.runbook.source.identifier,
  async watch(ctx, signal) {
    const c = ctx as Ctx;
    if (!output(c, 'dms-setup')) return;
    // CloudWatch keeps one datapoint a period; sampling faster than the poll cadence (or every 5 s) shows nothing new.
    const everyMs = Math.max(c.services.timing.pollMs, GATE_SAMPLE_MIN_MS);
    const dimensions = {};
    while (!signal.aborted) {
      try {
        await c.services.clock.sleep(everyMs, signal);
      } catch {
        return;
      }
      const latency = await untilAborted(sampleLatency(c, dimensions), signal);
      if (latency && !signal.aborted) reportLatency(c, latency);
    }
  },
};

/** The slowest the gate re-samples latency in a rehearsal (whose poll cadence is ~100 ms). */
export const GATE_SAMPLE_MIN_MS = 5000;

/** `work`'s result, or undefined as soon as `signal` aborts (a CloudWatch call does not hold the gate's answer up). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

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
