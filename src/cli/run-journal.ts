// What a run's journal says about the run, for the commands that read it (status, resume, rollback): its first
// record, written when the run is created, and its replayed state. Loads no adapter (no AWS SDK, no database
// driver), so `rekey status` stays a journal reader.
import { replay, type JournalRecord, type ReplayState } from '../engine/journal.js';
import type { Flow } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import type { RunStore } from '../state/run-store.js';
import type { RekeyServices } from '../steps/services.js';
import { CliError } from './common.js';

/** Where a run's AWS calls go. */
export type Provider = 'aws' | 'rehearsal';

/** The journal's first record of a run. */
export type RunCreated = Extract<JournalRecord, { t: 'run_created' }>;

/** The journal's first record: enough for status and resume to find everything again. */
export function createdRecord(runId: string, runbookPath: string, runbook: Runbook, flow: Flow<RekeyServices>, provider: Provider, meta: Record<string, string | number | boolean> = {}): RunCreated {
  return {
    t: 'run_created',
    at: new Date().toISOString(),
    runId,
    flowId: flow.id,
    runbookPath,
    runbookName: runbook.name,
    provider,
    meta: {
      steps: flow.steps.map((s) => s.id).join(','),
      gates: flow.steps.flatMap((s) => (s.gate ? [`${s.id}=${s.gate.id}`] : [])).join(','),
      source: runbook.source.identifier,
      ...meta,
    },
  };
}

/** The run_created record of a run, or exit 2 when there is no such run. */
export async function createdOf(store: RunStore, runId: string): Promise<RunCreated> {
  if (!store.exists(runId)) throw new CliError(`no run ${runId} under ${store.root} (see rekey status)`, 2);
  const records = await store.journal(runId).readAll();
  const created = records.find((r): r is RunCreated => r.t === 'run_created');
  if (!created) throw new CliError(`run ${runId} has no run_created record; its journal is incomplete`, 1);
  return created;
}

/** What a run's journal says: its first record, its step order and gates (as recorded when it was created), its state. */
export interface ReplayedRun {
  created?: RunCreated;
  order: string[];
  state: ReplayState;
}

/**
 * Replays a run's records in the step order its run_created record names (the order the steps started in, for a
 * journal that lost that record), so a reader needs neither the runbook nor the flow.
 */
export function replayRun(records: readonly JournalRecord[]): ReplayedRun {
  const created = records.find((r): r is RunCreated => r.t === 'run_created');
  const order = typeof created?.meta.steps === 'string' ? created.meta.steps.split(',') : [...new Set(records.flatMap((r) => (r.t === 'step_started' ? [r.stepId] : [])))];
  const gates = typeof created?.meta.gates === 'string' ? new Map(created.meta.gates.split(',').filter(Boolean).map((g) => g.split('=') as [string, string])) : new Map<string, string>();
  return { ...(created ? { created } : {}), order, state: replay(records, order, gates) };
}
