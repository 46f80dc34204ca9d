// catch-up: wait until CDC latency (source + target, from CloudWatch) stays under the threshold for the
// sustain window, watching the task too: a failed task ends the wait at once.
import type { Dimension } from '@aws-sdk/client-cloudwatch';
import { findTask } from '../aws/dms.js';
import { discoverTaskDimensions, readLatency } from '../aws/metrics.js';
import type { LatencyReading } from '../aws/metrics.js';
import { poll } from '../aws/poll.js';
import type { Verdict } from '../aws/poll.js';
import type { Step } from '../engine/types.js';
import { output, required } from './common.js';
import type { Ctx } from './common.js';
import type { RekeyServices } from './services.js';
import type { CatchUpOutput } from './outputs.js';

export type { CatchUpOutput } from './outputs.js';

/** One catch-up poll. */
export interface CatchUpObservation {
  taskStatus: string | undefined;
  taskFailure: string | undefined;
  latency: LatencyReading | undefined;
  /** How long latency has been continuously under the threshold (0 when it is not). */
  underForMs: number;
}

/** Pure: success once latency stayed under the threshold long enough; failure when the task stopped or failed. */
export function classifyCatchUp(o: CatchUpObservation, sustainMs: number): Verdict {
  if (o.taskStatus === 'failed' || o.taskStatus === 'stopped' || o.taskStatus === undefined) {
    return { state: 'failure', reason: `the CDC task is ${o.taskStatus ?? 'gone'}${o.taskFailure ? `: ${o.taskFailure}` : ''}` };
  }
  if (o.latency?.total === undefined) return { state: 'retry', note: 'no latency datapoints yet' };
  if (o.underForMs > 0 && o.underForMs >= sustainMs) return { state: 'success' };
  return { state: 'retry', note: `latency ${o.latency.total} s` };
}

export const catchUp: Step<RekeyServices, CatchUpOutput> = {
  id: 'catch-up',
  title: 'Wait for CDC to catch up',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    return [
      { kind: 'aws', target: 'cloudwatch:ListMetrics', summary: `discover the AWS/DMS dimensions of ${names.task} on ${names.replicationInstance}` },
      {
        kind: 'wait',
        target: 'cloudwatch:GetMetricData',
        summary: `CDCLatencySource + CDCLatencyTarget under ${rb.cutover.maxLatencySeconds} s for ${rb.cutover.sustainSeconds} s (give up after ${rb.cutover.catchUpTimeoutSeconds} s)`,
      },
      { kind: 'aws', target: 'dms:DescribeReplicationTasks', summary: 'task still running at each poll' },
    ];
  },
  async run(ctx) {
    const { cloud, names, runbook: rb, clock, timing } = ctx.services;
    const dms = required(ctx, 'dms-setup', 'catch-up');
    const thresholdSeconds = rb.cutover.maxLatencySeconds;
    const sustainMs = rb.cutover.sustainSeconds * 1000;
    let dimensions: Dimension[] | undefined;
    let underSince: number | undefined;
    const last = await poll<CatchUpObservation>({
      what: `CDC latency under ${rb.cutover.maxLatencySeconds} s for ${rb.cutover.sustainSeconds} s`,
      clock,
      signal: ctx.signal,
      minDelayMs: timing.pollMs,
      maxDelayMs: timing.pollMs,
      timeoutMs: rb.cutover.catchUpTimeoutSeconds * 1000,
      observe: async () => {
        const task = await findTask(cloud, names.task);
        dimensions ??= await discoverTaskDimensions(cloud, names.replicationInstance, dms.taskArn);
        const latency = dimensions ? await readLatency(cloud, dimensions, timing.metricPeriodSeconds, clock.now()) : undefined;
        const now = clock.now();
        if (latency?.total !== undefined) {
          if (latency.total <= thresholdSeconds) underSince ??= now;
          else underSince = undefined;
          ctx.report.metric('cdc.latency.source', latency.source ?? 0, 's');
          ctx.report.metric('cdc.latency.target', latency.target ?? 0, 's');
          ctx.report.metric('cdc.latency', latency.total, 's');
        }
        // A reading that is under the threshold with a zero sustain window counts at once.
        const underForMs = underSince === undefined ? 0 : Math.max(now - underSince, 1);
        // What the latency chart draws beside the two latencies: the threshold and the sustain window.
        ctx.report.metric('cdc.threshold', thresholdSeconds, 's');
        ctx.report.metric('cdc.sustained', Math.floor(underForMs / 1000), 's');
        ctx.report.metric('cdc.sustain.required', rb.cutover.sustainSeconds, 's');
        return { taskStatus: task?.Status, taskFailure: task?.LastFailureMessage, latency, underForMs };
      },
      classify: (o) => classifyCatchUp(o, sustainMs),
      onRetry: (o) => {
        const total = o.latency?.total;
        const sustain = rb.cutover.sustainSeconds;
        const percent = sustain > 0 ? Math.min(99, Math.round((o.underForMs / sustainMs) * 100)) : undefined;
        ctx.report.progress(
          total === undefined
            ? 'waiting for CDC latency datapoints'
            : `latency ${total} s (threshold ${rb.cutover.maxLatencySeconds} s), under it for ${Math.floor(o.underForMs / 1000)}/${sustain} s`,
          percent,
        );
      },
    });
    return {
      latencySeconds: last.latency?.total ?? 0,
      sourceSeconds: last.latency?.source ?? 0,
      targetSeconds: last.latency?.target ?? 0,
      sustainedSeconds: Math.floor(last.underForMs / 1000),
      at: new Date(clock.now()).toISOString(),
    };
  },
};

/**
 * The CDC task's latency now, one CloudWatch reading (ListMetrics once per `dimensions` holder, then GetMetricData):
 * undefined when the flow has no DMS task or CloudWatch has no datapoint yet. For the cutover gate, which must show
 * the latency of the moment it is read, not catch-up's (after a resume, catch-up's is the old run's).
 */
export async function sampleLatency(ctx: Ctx, dimensions: { value?: Dimension[] } = {}): Promise<LatencyReading | undefined> {
  const dms = output(ctx, 'dms-setup');
  if (!dms?.taskArn) return undefined;
  const { cloud, names, timing, clock } = ctx.services;
  dimensions.value ??= await discoverTaskDimensions(cloud, names.replicationInstance, dms.taskArn);
  if (!dimensions.value) return undefined;
  const latency = await readLatency(cloud, dimensions.value, timing.metricPeriodSeconds, clock.now());
  return latency.total === undefined ? undefined : latency;
}

/** Reports a reading as the metrics the TUI, line mode and --json show (the same names catch-up reports). */
export function reportLatency(ctx: Ctx, latency: LatencyReading): void {
  ctx.report.metric('cdc.latency.source', latency.source ?? 0, 's');
  ctx.report.metric('cdc.latency.target', latency.target ?? 0, 's');
  if (latency.total !== undefined) ctx.report.metric('cdc.latency', latency.total, 's');
}
