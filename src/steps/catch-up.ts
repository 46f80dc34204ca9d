// catch-up: wait until CDC latency (source + target, from CloudWatch) stays under the threshold for the
// sustain window, watching the task too: a failed task ends the wait at once.
import type { Dimension } from '@aws-sdk/client-cloudwatch';
import { findTask } from '../aws/dms.js';
import { discoverTaskDimensions, readLatency } from '../aws/metrics.js';
import type { LatencyReading } from '../aws/metrics.js';
import { poll } from '../aws/poll.js';
import type { Verdict } from '../aws/poll.js';
import type { Step } from '../engine/types.js';
import { formatBytes } from './bytes.js';
import { output, required, withSource } from './common.js';
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
  /** PostgreSQL: WAL the source retains for the slot, bytes (undefined when not readable). */
  backlogBytes?: number;
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

/** What catch-up has seen so far, for its progress: the largest backlog and when the latency was last seen over it. */
export interface BacklogTrack {
  /** The highest latency seen (seconds) and when. */
  peak?: { latency: number; at: number };
  /** The source's retained WAL for the slot (bytes) at its highest. */
  peakBytes?: number;
}

/** The share of the bar the backlog takes; the sustain window fills the rest. */
const BACKLOG_SHARE = 80;

/**
 * Catch-up's progress from the backlog, not only the sustain window: how far the latency came down from its peak
 * towards the threshold (0-80 %), then how much of the sustain window passed (80-99 %). The ETA extrapolates the
 * rate the latency fell since its peak, plus what is left of the sustain window. Pure; updates `track`.
 */
export function catchUpProgress(
  o: { latency?: number; underForMs: number; backlogBytes?: number; backlogWhat?: string },
  rule: { thresholdSeconds: number; sustainMs: number },
  track: BacklogTrack,
  now: number,
): { percent?: number; etaSeconds?: number; message: string } {
  const { thresholdSeconds, sustainMs } = rule;
  const sustainLeftMs = Math.max(0, sustainMs - o.underForMs);
  const bytes = o.backlogBytes !== undefined ? `, ${o.backlogWhat ?? 'source WAL retained for the slot'} ${formatBytes(o.backlogBytes)}` : '';
  if (o.backlogBytes !== undefined) track.peakBytes = Math.max(track.peakBytes ?? 0, o.backlogBytes);
  if (o.latency === undefined) return { message: `waiting for CDC latency datapoints${bytes}` };
  if (!track.peak || o.latency >= track.peak.latency) track.peak = { latency: o.latency, at: now };
  const sustainShare = sustainMs > 0 ? 99 - BACKLOG_SHARE : 0;
  const backlogShare = 99 - sustainShare;
  if (o.latency > thresholdSeconds) {
    const span = track.peak.latency - thresholdSeconds;
    const done = span > 0 ? (track.peak.latency - o.latency) / span : 0;
    const percent = Math.max(0, Math.min(backlogShare, Math.round(done * backlogShare)));
    const elapsed = (now - track.peak.at) / 1000;
    const rate = elapsed > 0 ? (track.peak.latency - o.latency) / elapsed : 0;
    const eta = rate > 0 ? Math.round((o.latency - thresholdSeconds) / rate + sustainMs / 1000) : undefined;
    return {
      percent,
      ...(eta !== undefined ? { etaSeconds: eta } : {}),
      message: `behind: latency ${o.latency} s (threshold ${thresholdSeconds} s, peak ${track.peak.latency} s)${bytes}`,
    };
  }
  const sustained = sustainMs > 0 ? Math.min(1, o.underForMs / sustainMs) : 1;
  return {
    percent: Math.min(99, backlogShare + Math.round(sustained * sustainShare)),
    etaSeconds: Math.ceil(sustainLeftMs / 1000),
    message: `caught up: latency ${o.latency} s (threshold ${thresholdSeconds} s)${bytes}; under it for ${Math.floor(o.underForMs / 1000)}/${Math.round(sustainMs / 1000)} s`,
  };
}

/** How often catch-up reads the slot's retained WAL on the source (a query on the source, not on every fast poll). */
export const BACKLOG_READ_MIN_MS = 5000;

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
    const track: BacklogTrack = {};
    // PostgreSQL: the source keeps WAL for the slot DMS reads; how much is the backlog in bytes.
    const slot = output(ctx, 'prepare-source')?.slot?.name;
    let backlog: { bytes?: number; at: number } | undefined;
    const readBacklog = async (): Promise<number | undefined> => {
      if (!slot) return undefined;
      const now = clock.now();
      if (backlog && now - backlog.at < Math.max(timing.pollMs, BACKLOG_READ_MIN_MS)) return backlog.bytes;
      const bytes = await withSource(ctx, async (db) => (db.slotRetainedWalBytes ? db.slotRetainedWalBytes(slot) : undefined)).catch(() => undefined);
      backlog = { at: now, ...(bytes !== undefined ? { bytes } : {}) };
      if (bytes !== undefined) ctx.report.metric('cdc.backlog.bytes', bytes, 'B');
      return bytes;
    };
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
        const backlogBytes = await readBacklog();
        return { taskStatus: task?.Status, taskFailure: task?.LastFailureMessage, latency, underForMs, ...(backlogBytes !== undefined ? { backlogBytes } : {}) };
      },
      classify: (o) => classifyCatchUp(o, sustainMs),
      onRetry: (o) => {
        const p = catchUpProgress(
          { ...(o.latency?.total !== undefined ? { latency: o.latency.total } : {}), underForMs: o.underForMs, ...(o.backlogBytes !== undefined ? { backlogBytes: o.backlogBytes } : {}) },
          { thresholdSeconds, sustainMs },
          track,
          clock.now(),
        );
        ctx.report.progress(p.message, p.percent, p.etaSeconds);
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
