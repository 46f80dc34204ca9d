// What a person needs at the end of a run, read from the journal: the keys (old -> new), when it ran (with the time
// zone), how long writes were fenced against the prediction and the fence limit, which step failed, what is kept
// for rollback and what is left to clean up. Plain data added to the run's summary (so --json carries it too) and
// rendered by ./summary-text.ts for lines, the TUI and $GITHUB_STEP_SUMMARY.
import type { PublishedSoFar } from '../engine/facts.js';
import type { JournalRecord, ReplayState } from '../engine/journal.js';
import { outputOf } from '../report/findings.js';
import type { Runbook } from '../runbook/schema.js';
import { resourceNames } from '../steps/names.js';

export interface EndOfRunFacts {
  /** The key being left and the key moved to (ARNs when AWS resolved them, else as the runbook names them). */
  keys: { old?: string; new: string };
  timing: { startedAt: string; endedAt: string; durationMs: number; timeZone: string; resumes: number };
  /** The cutover window: how long the source was fenced (fence started -> switch done), the prediction and the limit. */
  window: { fencedAt?: string; fencedMs?: number; predictedSeconds?: number; fenceLimitSeconds: number };
  /** The step that stopped the run, with its title. */
  failedStep?: { id: string; title: string; message: string };
  /** Whether the approval gate was answered, by whom and when. */
  approval?: { gate: string; decision: string; by: string; at: string; waitedMs?: number };
  rollback: { command: string; kept: string[] };
  cleanup: { done: string[]; left: string[] };
}


/** The last time `stepId` started and the last time it succeeded, from the journal. */
function stepTimes(records: readonly JournalRecord[], stepId: string): { started?: number; succeeded?: number } {
  let started: number | undefined;
  let succeeded: number | undefined;
  for (const r of records) {
    if (r.t === 'step_started' && r.stepId === stepId) started = Date.parse(r.at);
    if (r.t === 'step_succeeded' && r.stepId === stepId) succeeded = Date.parse(r.at);
  }
  return { ...(started !== undefined ? { started } : {}), ...(succeeded !== undefined ? { succeeded } : {}) };
}

export function localTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export interface FactsInput {
  runId: string;
  runbook: Runbook;
  records: readonly JournalRecord[];
  state: ReplayState;
  /** Published by steps in this session (the preflight report, when the run did not resume past it). */
  published?: PublishedSoFar;
  steps: readonly { id: string; title: string }[];
  /** ` --state-dir DIR` when not the default. */
  stateDirArg?: string;
  now?: number;
}

export function endOfRunFacts(input: FactsInput): EndOfRunFacts {
  const { runbook: rb, records, state, runId } = input;
  const names = resourceNames(rb, runId);
  const preflight = outputOf(state, 'preflight') ?? input.published?.preflight;
  const now = input.now ?? Date.now();
  const first = records[0] ? Date.parse(records[0].at) : now;
  const fence = stepTimes(records, 'fence');
  const sw = stepTimes(records, 'switch');
  const switched = state.succeeded.has('switch');
  const fencedMs = fence.started !== undefined && switched && sw.succeeded !== undefined && sw.succeeded >= fence.started ? sw.succeeded - fence.started : undefined;
  const lastFailure = [...records].reverse().find((r): r is Extract<JournalRecord, { t: 'step_failed' }> => r.t === 'step_failed');
  const stopped = state.lastStop;
  const failedStep =
    lastFailure && stopped?.status === 'failed' && !state.succeeded.has(lastFailure.stepId)
      ? { id: lastFailure.stepId, title: input.steps.find((s) => s.id === lastFailure.stepId)?.title ?? lastFailure.stepId, message: lastFailure.error.message }
      : undefined;
  const decided = [...records].reverse().find((r): r is Extract<JournalRecord, { t: 'gate_decided' }> => r.t === 'gate_decided');
  const asked = decided ? records.find((r): r is Extract<JournalRecord, { t: 'gate_requested' }> => r.t === 'gate_requested' && r.request.id === decided.decision.id) : undefined;
  const oldDb = switched ? names.oldName : rb.source.identifier;
  const dmsCreated = (outputOf(state, 'dms-setup')?.createdInstance ?? false) === true;
  const cleaned = state.succeeded.has('cleanup');
  const restored = state.succeeded.has('restore');
  const snapshots = [names.snapshot, ...(rb.source.engine === 'aurora-postgresql' || rb.source.engine === 'aurora-mysql' ? [] : [names.snapshotCopy])];
  const kept = switched
    ? [`the old ${isCluster(rb) ? 'cluster' : 'instance'} ${names.oldName} (on the old key, writers fenced)`, `snapshot${snapshots.length > 1 ? 's' : ''} ${snapshots.join(', ')}`, 'the old key']
    : [`the source ${rb.source.identifier} (unchanged${state.succeeded.has('fence') && !state.succeeded.has('cleanup') ? '; unfenced on failure' : ''})`];
  // Aurora global database: the old global cluster and its old secondaries stay for rollback too.
  const global = outputOf(state, 'topology-global');
  const oldSecondaries = (global?.secondaries ?? []).map((g) => `${g.oldNow} (${g.region})`);
  if (global?.oldGlobalCluster && oldSecondaries.length > 0) kept.push(`the old global database ${global.oldGlobalCluster} with its secondaries ${oldSecondaries.join(', ')} (on their Regions' old keys)`);
  const left: string[] = [];
  if (switched) {
    left.push(`once you no longer need to roll back: delete ${oldDb}${oldSecondaries.length > 0 ? `, the old global database ${global?.oldGlobalCluster ?? ''} and its secondaries ${oldSecondaries.join(', ')}` : ''} and snapshot${snapshots.length > 1 ? 's' : ''} ${snapshots.join(', ')}`);
    if (!cleaned) left.push(`the DMS task ${names.task} and endpoints (resume to let cleanup delete them)`);
    if (dmsCreated) left.push(`the replication instance ${names.replicationInstance}, created by rekey (billed while it runs)`);
  } else if (restored) {
    left.push(`until you resume or roll back: the new ${isCluster(rb) ? 'cluster' : 'instance'} ${names.targetCluster}, the DMS task ${names.task}${state.succeeded.has('prepare-source') && rb.source.engine.includes('postgres') ? ` and the slot ${names.slot} (it holds WAL on the source)` : ''}`);
  }
  const done: string[] = cleaned ? [`${rb.source.engine.includes('postgres') ? `slot ${names.slot}, ` : ''}DMS task ${names.task} and its endpoints deleted`] : [];
  return {
    keys: { ...(preflight?.source?.kmsKeyId ? { old: preflight.source.kmsKeyId } : {}), new: preflight?.key?.arn ?? rb.target.kmsKeyId },
    timing: {
      startedAt: new Date(first).toISOString(),
      endedAt: new Date(now).toISOString(),
      durationMs: Math.max(0, now - first),
      timeZone: localTimeZone(),
      resumes: Math.max(0, records.filter((r) => r.t === 'runner_started').length - 1),
    },
    window: {
      ...(fencedMs !== undefined && fence.started !== undefined ? { fencedAt: new Date(fence.started).toISOString(), fencedMs } : {}),
      ...(preflight?.estimate?.totalSeconds !== undefined && preflight.estimated !== false ? { predictedSeconds: preflight.estimate.totalSeconds } : {}),
      fenceLimitSeconds: rb.cutover.fenceTimeoutSeconds,
    },
    ...(failedStep ? { failedStep } : {}),
    ...(decided
      ? {
          approval: {
            gate: decided.decision.id,
            decision: decided.decision.decision,
            by: decided.decision.by,
            at: decided.decision.at,
            ...(asked ? { waitedMs: Math.max(0, Date.parse(decided.decision.at) - Date.parse(asked.at)) } : {}),
          },
        }
      : {}),
    rollback: { command: `rekey rollback ${runId}${input.stateDirArg ?? ''}`, kept },
    cleanup: { done, left },
  };
}

function isCluster(rb: Runbook): boolean {
  return rb.source.engine.startsWith('aurora');
}
