// strategy snapshot (offline): the steps of its own. The source is fenced before the snapshot and stays fenced
// until the switch, so nothing written after the snapshot can be acknowledged and then lost. Preflight adds the
// expected outage: from how long earlier snapshots of this source took (their RDS events), else the rehearsal's
// configured delays, else a size model; the plan, the cutover gate and the summary show it.
import { CreateDBSnapshotCommand, DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { findClusterSnapshot, findDBSnapshot, listEvents, waitDBSnapshotAvailable } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { CutoverGateFacts } from '../engine/facts.js';
import type { GateSpec, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { output, rekeyTags, required, waitEnv, withTarget } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import { beforeFence, cutoverGate } from './hooks.js';
import { AWS_RESTORE_BYTES_PER_SECOND, AWS_SNAPSHOT_BYTES_PER_SECOND, preflight, runPreflight } from './preflight.js';
import { snapshot } from './snapshot.js';
import type { RekeyServices } from './services.js';
import type { CleanupOutput, CutoverEstimate, UnfenceTargetOutput, OutageEstimate, PreflightReport, SnapshotOutput } from './outputs.js';

/** AWS: creating the writer of a restored Aurora cluster (RestoreDBInstanceFromDBSnapshot includes it). */
export const AWS_WRITER_SECONDS = 15 * 60;
/** How far back RDS keeps events (about 14 days). */
const HISTORY_DAYS = 14;
/** Earlier snapshots whose events are read. */
const HISTORY_SAMPLES = 5;

/**
 * The expected outage of strategy snapshot. Pure. `historySeconds`: durations of earlier snapshots of this source
 * (used for the snapshot and, for instances, the copy; the restore is taken as long as the snapshot, the size model's
 * assumption of equal rates). Without history: the rehearsal's delays, or the size model on AWS.
 */
export function outageModel(
  rb: Runbook,
  estimate: Pick<CutoverEstimate, 'bytes' | 'countSeconds' | 'checksumSeconds' | 'awsRenameDnsSeconds' | 'customEndpointSeconds'>,
  provider: 'aws' | 'rehearsal',
  samples: { snapshotId: string; seconds: number }[] = [],
): OutageEstimate {
  const instance = profile(rb).instance;
  const rename = rb.cutover.switch === 'rename';
  const d = rb.rehearsal?.delays;
  let snap: number;
  let restore: number;
  let from: OutageEstimate['from'];
  let assumptions: string;
  if (samples.length > 0) {
    const sorted = samples.map((s) => s.seconds).sort((a, b) => a - b);
    snap = sorted[Math.floor(sorted.length / 2)] ?? 0;
    restore = snap + (provider === 'aws' && !instance ? AWS_WRITER_SECONDS : 0);
    from = 'history';
    assumptions = `median of ${samples.length} earlier snapshot${samples.length === 1 ? '' : 's'} of this source (first to last RDS event); restore${instance ? ' and copy' : ''} taken as long as the snapshot${provider === 'aws' && !instance ? `, plus ${AWS_WRITER_SECONDS / 60} min for the writer` : ''}`;
  } else if (provider === 'rehearsal') {
    snap = d?.snapshotSeconds ?? 1;
    restore = d?.restoreSeconds ?? 1;
    from = 'rehearsal-delays';
    assumptions = 'the rehearsal\'s configured snapshot, restore and rename delays';
  } else {
    snap = estimate.bytes / AWS_SNAPSHOT_BYTES_PER_SECOND;
    restore = estimate.bytes / AWS_RESTORE_BYTES_PER_SECOND + (instance ? 0 : AWS_WRITER_SECONDS);
    from = 'size-model';
    assumptions = `no earlier snapshot of this source found: snapshot${instance ? ', copy' : ''} and restore at ${AWS_SNAPSHOT_BYTES_PER_SECOND / 1e6} MB/s each${instance ? '' : `, ${AWS_WRITER_SECONDS / 60} min for the writer`}`;
  }
  const copy = instance ? snap : 0;
  const renames = rename ? (provider === 'aws' ? 120 : 2 * (d?.renameSeconds ?? 1)) : 0;
  const cutover = estimate.countSeconds + estimate.checksumSeconds + (provider === 'aws' ? 60 : 2) + renames + estimate.awsRenameDnsSeconds + (estimate.customEndpointSeconds ?? 0);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    totalSeconds: round(snap + copy + restore + cutover),
    snapshotSeconds: round(snap),
    copySeconds: round(copy),
    restoreSeconds: round(restore),
    cutoverSeconds: round(cutover),
    from,
    samples,
    assumptions: `${assumptions}; then counts + checksums at rest, sequences and the switch`,
  };
}

/** Durations of earlier snapshots of the source, from their first to last RDS event (none when unreadable). */
export async function snapshotHistory(ctx: Ctx): Promise<{ snapshotId: string; seconds: number }[]> {
  const { cloud, runbook: rb, clock } = ctx.services;
  const instance = profile(rb).instance;
  const since = new Date(clock.now() - HISTORY_DAYS * 86_400_000);
  const found: { id: string; at: number }[] = [];
  if (instance) {
    const out = await call('rds:DescribeDBSnapshots', () => cloud.rds.send(new DescribeDBSnapshotsCommand({ DBInstanceIdentifier: rb.source.identifier })));
    for (const s of out.DBSnapshots ?? []) {
      if (s.DBSnapshotIdentifier && s.Status === 'available') found.push({ id: s.DBSnapshotIdentifier, at: new Date(s.OriginalSnapshotCreateTime ?? s.SnapshotCreateTime ?? 0).getTime() });
    }
  } else {
    const out = await call('rds:DescribeDBClusterSnapshots', () => cloud.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: rb.source.identifier })));
    for (const s of out.DBClusterSnapshots ?? []) {
      if (s.DBClusterSnapshotIdentifier && s.Status === 'available') found.push({ id: s.DBClusterSnapshotIdentifier, at: new Date(s.SnapshotCreateTime ?? 0).getTime() });
    }
  }
  const recent = found.filter((s) => s.at >= since.getTime()).sort((a, b) => b.at - a.at).slice(0, HISTORY_SAMPLES);
  const samples: { snapshotId: string; seconds: number }[] = [];
  for (const s of recent) {
    const events = await listEvents(cloud, instance ? 'db-snapshot' : 'db-cluster-snapshot', s.id, since);
    const times = events.flatMap((e) => (e.Date ? [new Date(e.Date).getTime()] : []));
    if (times.length >= 2) samples.push({ snapshotId: s.id, seconds: Math.round((Math.max(...times) - Math.min(...times)) / 100) / 10 });
  }
  return samples;
}

/** Preflight plus the expected outage; the outage is the predicted window everywhere (gate, plan, summary). */
export const snapshotPreflight: Step<RekeyServices, PreflightReport> = {
  ...preflight,
  describe(ctx) {
    const instance = profile(ctx.services.runbook).instance;
    return [
      ...preflight.describe(ctx),
      {
        kind: 'aws',
        target: instance ? 'rds:DescribeDBSnapshots' : 'rds:DescribeDBClusterSnapshots',
        summary: `earlier snapshots of ${ctx.services.runbook.source.identifier} and their RDS events (last ${HISTORY_DAYS} days): how long a snapshot${instance ? ', copy' : ''} and restore take`,
      },
      { kind: 'note', target: 'outage', summary: 'writes are refused from before the snapshot until the switch: the expected outage must fit cutover.fenceTimeoutSeconds' },
    ];
  },
  async run(ctx) {
    const report = await runPreflight(ctx);
    let samples: { snapshotId: string; seconds: number }[] = [];
    try {
      samples = await snapshotHistory(ctx);
    } catch (error) {
      ctx.report.log('warn', `could not read earlier snapshots of the source: ${error instanceof Error ? error.message : String(error)}; estimating without them`);
    }
    const outage = outageModel(ctx.services.runbook, report.estimate, ctx.services.cloud.provider === 'aws' ? 'aws' : 'rehearsal', samples);
    report.outage = outage;
    report.estimate = { ...report.estimate, totalSeconds: outage.totalSeconds, assumptions: `strategy snapshot (offline): ${outage.assumptions}` };
    const limit = ctx.services.runbook.cutover.fenceTimeoutSeconds;
    if (outage.totalSeconds > limit) {
      report.problems.push(`outage.fence_timeout: the source stays fenced about ${outage.totalSeconds} s (snapshot ${outage.snapshotSeconds} s, copy ${outage.copySeconds} s, restore ${outage.restoreSeconds} s, cutover ${outage.cutoverSeconds} s), over cutover.fenceTimeoutSeconds (${limit} s): raise it to at least ${Math.ceil(outage.totalSeconds * 2)} or choose an online strategy`);
    }
    ctx.report.publish('preflight', report);
    for (const w of report.warnings) ctx.report.log('warn', w);
    ctx.report.progress(`preflight: ${report.checks.length} checks, ${report.problems.length} problems; expected outage ${outage.totalSeconds} s (${outage.from})`);
    if (report.problems.length > 0) {
      throw new StepError(`preflight failed: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`, 'preflight', report.problems);
    }
    return report;
  },
};

/** The cutover gate of the offline flow: it fences for the whole snapshot, restore and switch. */
export const snapshotGate: GateSpec = {
  ...cutoverGate,
  question: 'Fence writes on the source now and keep them refused through the snapshot, restore, validation and switch (offline)?',
  async facts(ctx) {
    const facts = (await cutoverGate.facts(ctx)) as CutoverGateFacts;
    const outage = output(ctx as Ctx, 'preflight')?.outage;
    if (outage) {
      facts.expectedOutageSeconds = outage.totalSeconds;
      facts.outageEstimateFrom = outage.from === 'history' ? `${outage.samples.length} earlier snapshots of the source` : outage.from;
    }
    return facts;
  },
};

export const beforeFenceOffline: Step<RekeyServices> = { ...beforeFence, gate: snapshotGate };

/** The snapshot taken inside the fence: of the source itself (RDS MySQL too: no replica is needed offline). */
export const offlineSnapshot: Step<RekeyServices, SnapshotOutput> = {
  ...snapshot,
  title: 'Snapshot the fenced source',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    if (!profile(rb).instance) return snapshot.describe(ctx);
    return [
      { kind: 'aws', target: 'rds:CreateDBSnapshot', summary: `snapshot ${names.snapshot} of ${rb.source.identifier}`, detail: `DBSnapshotIdentifier=${names.snapshot} DBInstanceIdentifier=${rb.source.identifier}` },
      { kind: 'wait', target: 'rds:DescribeDBSnapshots', summary: `until ${names.snapshot} is available (PercentProgress)` },
    ];
  },
  async run(ctx) {
    const { cloud, names, runbook: rb } = ctx.services;
    const fence = output(ctx, 'fence');
    if (!fence) throw new StepError('the offline snapshot needs the source fenced first', 'fatal');
    // A snapshot from before this fence (an earlier attempt, unfenced after a failure) misses the writes made since.
    const stale = (created: Date | undefined) => created !== undefined && new Date(created).getTime() < Date.parse(fence.at);
    if (!profile(rb).instance) {
      const out = await snapshot.run(ctx);
      const s = await findClusterSnapshot(cloud, names.snapshot);
      if (stale(s?.SnapshotCreateTime)) throw staleError(names.snapshot);
      return out;
    }
    const existing = await findDBSnapshot(cloud, names.snapshot);
    if (existing) {
      if (existing.DBInstanceIdentifier && existing.DBInstanceIdentifier !== rb.source.identifier) throw new StepError(`snapshot ${names.snapshot} exists but is of ${existing.DBInstanceIdentifier}`, 'fatal');
      if (stale(existing.SnapshotCreateTime)) throw staleError(names.snapshot);
      ctx.report.log('info', `snapshot ${names.snapshot} already exists (${existing.Status ?? '?'}); not creating another`);
    } else {
      await call('rds:CreateDBSnapshot', () =>
        cloud.rds.send(new CreateDBSnapshotCommand({ DBSnapshotIdentifier: names.snapshot, DBInstanceIdentifier: rb.source.identifier, Tags: rekeyTags(ctx) })),
      );
      crashPoint('snapshot:after-create-call');
    }
    const done = await waitDBSnapshotAvailable(cloud, names.snapshot, waitEnv(ctx));
    return { snapshotId: names.snapshot, ...(done.DBSnapshotArn ? { snapshotArn: done.DBSnapshotArn } : {}) };
  },
};

function staleError(id: string): StepError {
  return new StepError(`snapshot ${id} was taken before the current fence: writes made since are not in it`, 'fatal', [
    `delete snapshot ${id} (and its copy and the restored database, if any; \`rekey rollback\` keeps them), then \`rekey resume\``,
  ]);
}

/**
 * The snapshot was taken with the writer roles fenced, so the restored database has them fenced too: give them back
 * the state they had before the fence (the fence's journaled output), on the target only. The source stays fenced.
 */
export const unfenceTarget: Step<RekeyServices, UnfenceTargetOutput> = {
  id: 'unfence-target',
  title: 'Lift the fence the snapshot carried onto the new database',
  describe: (ctx) => [
    { kind: 'sql', target: 'target', summary: `restore the writer roles' pre-fence state on ${ctx.services.names.targetCluster} (the source stays fenced)` },
  ],
  async run(ctx) {
    const fence = required(ctx, 'fence', 'unfence-target');
    await withTarget(ctx, (db) => db.unfence(fence));
    const roles = fence.principals.map((p) => p.name);
    ctx.report.log('info', `unfenced ${roles.join(', ') || 'nothing'} on the new database`);
    return { roles };
  },
};

/** Nothing to drop: no slot, no replication, no DMS. The old source, its snapshots and the old key are kept. */
export const offlineCleanup: Step<RekeyServices, CleanupOutput> = {
  id: 'cleanup',
  title: 'Clean up (nothing to drop offline)',
  describe: () => [{ kind: 'note', target: 'old source', summary: 'the old source (still fenced), the snapshot(s) and the old key are kept for rollback' }],
  run: () => Promise.resolve({ droppedSlot: false, deletedDms: false }),
};
