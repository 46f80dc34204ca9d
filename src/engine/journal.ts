// The journal: an append-only list of plain records per run. The engine reads and writes it through
// JournalStore; src/state holds the file version (JSON lines, fsync per record, mode 0600).
import type { ApprovalDecision, ApprovalRequest, RunStatus, StepErrorInfo } from './types.js';

/** Every record the journal holds. `at` is an ISO time. */
export type JournalRecord =
  | {
      t: 'run_created';
      at: string;
      runId: string;
      flowId: string;
      /** Runbook file as given on the command line. */
      runbookPath: string;
      runbookName: string;
      /** `aws` or `rehearsal`: resume continues against the same provider. */
      provider: 'aws' | 'rehearsal';
      /** Free-form facts for status/resume (state dir of the rehearsal, source identifier...). Never secrets. */
      meta: Record<string, string | number | boolean>;
    }
  | { t: 'runner_started'; at: string; pid: number; command: string }
  | { t: 'step_started'; at: string; stepId: string; attempt: number }
  | { t: 'step_succeeded'; at: string; stepId: string; output: unknown; durationMs: number }
  | { t: 'step_failed'; at: string; stepId: string; error: StepErrorInfo }
  | { t: 'step_interrupted'; at: string; stepId: string }
  | { t: 'step_undone'; at: string; stepId: string; reason: string }
  | { t: 'step_checkpoint'; at: string; stepId: string; key: string; value: unknown }
  | { t: 'rewind'; at: string; toStepId: string; reason: string }
  | { t: 'gate_requested'; at: string; request: ApprovalRequest }
  | { t: 'gate_decided'; at: string; decision: ApprovalDecision; shown: ApprovalRequest }
  | { t: 'run_stopped'; at: string; status: RunStatus; message?: string }
  | { t: 'rollback'; at: string; status: 'started' | 'succeeded' | 'failed'; message?: string };

/** Where journal records live. Appends must be durable when the promise resolves. */
export interface JournalStore {
  append(record: JournalRecord): Promise<void>;
  readAll(): Promise<JournalRecord[]>;
}

/** In-memory store, for tests and dry runs. */
export class MemoryJournalStore implements JournalStore {
  readonly records: JournalRecord[] = [];
  append(record: JournalRecord): Promise<void> {
    this.records.push(structuredClone(record));
    return Promise.resolve();
  }
  readAll(): Promise<JournalRecord[]> {
    return Promise.resolve(structuredClone(this.records));
  }
}

/** What the journal says about each step and gate, after replaying it in order. */
export interface ReplayState {
  created: Extract<JournalRecord, { t: 'run_created' }> | undefined;
  /** Output of each step that succeeded and was not undone or rewound since. */
  succeeded: Map<string, { output: unknown; durationMs: number; at: string }>;
  /** How many times each step was started. */
  attempts: Map<string, number>;
  /** Steps started and never finished: the runner died inside them. */
  inFlight: Set<string>;
  /** Last decision per gate id, cleared by a rewind past the gate. */
  decisions: Map<string, ApprovalDecision>;
  /** The gate that was waiting when the runner stopped. */
  pendingGate: ApprovalRequest | undefined;
  /** The last stop the runner recorded. */
  lastStop: Extract<JournalRecord, { t: 'run_stopped' }> | undefined;
  /** Last failure per step. */
  failures: Map<string, StepErrorInfo>;
  rollback: Extract<JournalRecord, { t: 'rollback' }> | undefined;
  /** Checkpoints of steps that have not succeeded (or been undone) since, by step id then key. */
  checkpoints: Map<string, Record<string, unknown>>;
  /** Every checkpoint value ever journaled, by step id then key, oldest first; never cleared. */
  checkpointHistory: Map<string, Map<string, unknown[]>>;
}

/** Appends a checkpoint value to the never-cleared history. */
export function rememberCheckpoint(state: ReplayState, stepId: string, key: string, value: unknown): void {
  const byKey = state.checkpointHistory.get(stepId) ?? new Map<string, unknown[]>();
  byKey.set(key, [...(byKey.get(key) ?? []), value]);
  state.checkpointHistory.set(stepId, byKey);
}

/**
 * Folds the records into a ReplayState. `order` is the flow's step order, needed to apply rewinds
 * (everything from the rewind target on is forgotten, gates included).
 */
export function replay(records: readonly JournalRecord[], order: readonly string[], gateOfStep: ReadonlyMap<string, string> = new Map()): ReplayState {
  const state: ReplayState = {
    created: undefined,
    succeeded: new Map(),
    attempts: new Map(),
    inFlight: new Set(),
    decisions: new Map(),
    pendingGate: undefined,
    lastStop: undefined,
    failures: new Map(),
    rollback: undefined,
    checkpoints: new Map(),
    checkpointHistory: new Map(),
  };
  for (const r of records) {
    switch (r.t) {
      case 'run_created':
        state.created = r;
        break;
      case 'runner_started':
        break;
      case 'step_started':
        state.attempts.set(r.stepId, r.attempt);
        state.inFlight.add(r.stepId);
        state.succeeded.delete(r.stepId);
        break;
      case 'step_checkpoint':
        state.checkpoints.set(r.stepId, { ...state.checkpoints.get(r.stepId), [r.key]: r.value });
        rememberCheckpoint(state, r.stepId, r.key, r.value);
        break;
      case 'step_succeeded':
        state.checkpoints.delete(r.stepId);
        state.inFlight.delete(r.stepId);
        state.failures.delete(r.stepId);
        state.succeeded.set(r.stepId, { output: r.output, durationMs: r.durationMs, at: r.at });
        break;
      case 'step_failed':
        state.inFlight.delete(r.stepId);
        state.failures.set(r.stepId, r.error);
        break;
      case 'step_interrupted':
        state.inFlight.delete(r.stepId);
        break;
      case 'step_undone':
        state.succeeded.delete(r.stepId);
        state.checkpoints.delete(r.stepId);
        break;
      case 'rewind': {
        const from = order.indexOf(r.toStepId);
        if (from >= 0) {
          for (const id of order.slice(from)) {
            state.succeeded.delete(id);
            state.checkpoints.delete(id);
            const gate = gateOfStep.get(id);
            if (gate !== undefined) state.decisions.delete(gate);
          }
        }
        break;
      }
      case 'gate_requested':
        state.pendingGate = r.request;
        break;
      case 'gate_decided':
        state.decisions.set(r.decision.id, r.decision);
        if (state.pendingGate?.id === r.decision.id) state.pendingGate = undefined;
        break;
      case 'run_stopped':
        state.lastStop = r;
        break;
      case 'rollback':
        state.rollback = r;
        break;
      default:
        // Records from a newer rekey are kept in the file but ignored here.
        break;
    }
  }
  return state;
}
