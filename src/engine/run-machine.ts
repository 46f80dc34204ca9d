// The run's observable state: one immutable snapshot, changed only here, with subscribe/getSnapshot
// for the TUI (useSyncExternalStore) and an event stream for the line renderer, --json and the report.
import type { FactKey, PublishedFacts, PublishedSoFar } from './facts.js';
import type { ApprovalDecision, ApprovalRequest, RunEvent, RunStatus, StepStatus } from './types.js';

/** One step as the UI sees it. */
export interface StepView {
  id: string;
  title: string;
  status: StepStatus;
  /** Whether a gate asks before this step runs. */
  hasGate: boolean;
  /** The latest progress report of the step while it runs. */
  progress?: { message: string; percent?: number; etaSeconds?: number; at: string };
}

/** A metric's latest value and recent history (bounded). */
export interface MetricView {
  value: number;
  unit?: string;
  at: string;
  history: { at: number; value: number }[];
}

/** A log line (bounded list). */
export interface LogLine {
  at: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  stepId?: string;
  message: string;
}

/** Everything a renderer needs, as one immutable value. */
export interface RunSnapshot {
  runId: string;
  status: RunStatus;
  /** Header facts (runbook name, source -> target, keys, provider). Never secrets. */
  info: Readonly<Record<string, string>>;
  startedAt: string;
  steps: readonly StepView[];
  /** The gate waiting for an answer, if any. */
  gate?: { request: ApprovalRequest; decision?: ApprovalDecision };
  metrics: Readonly<Record<string, MetricView>>;
  logs: readonly LogLine[];
  /** Structured results published by steps, by key (`validation`, `sequences`, `preflight`...). */
  published: PublishedSoFar;
  /** Last status message for the run (why it stopped, for example). */
  message?: string;
}

const MAX_LOGS = 500;
const MAX_HISTORY = 600;

type Listener = (event: RunEvent | undefined) => void;

export class RunMachine {
  private snapshot: RunSnapshot;
  private readonly listeners = new Set<Listener>();
  private readonly redact: (text: string) => string;

  constructor(
    runId: string,
    steps: { id: string; title: string; hasGate: boolean }[],
    info: Record<string, string> = {},
    opts: { now?: () => Date; redact?: (text: string) => string } = {},
  ) {
    this.now = opts.now ?? (() => new Date());
    this.redact = opts.redact ?? ((t) => t);
    this.snapshot = {
      runId,
      status: 'planned',
      info: { ...info },
      startedAt: this.now().toISOString(),
      steps: steps.map((s) => ({ ...s, status: { kind: 'pending' } })),
      metrics: {},
      logs: [],
      published: {},
    };
  }

  private readonly now: () => Date;

  /** For useSyncExternalStore: the current immutable snapshot. */
  getSnapshot = (): RunSnapshot => this.snapshot;

  /** Listeners get every event (and are also fine as a plain change callback). Returns unsubscribe. */
  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  setInfo(info: Record<string, string>): void {
    this.snapshot = { ...this.snapshot, info: { ...this.snapshot.info, ...info } };
    this.emit(undefined);
  }

  setRunStatus(status: RunStatus, message?: string): void {
    const at = this.now().toISOString();
    const msg = message === undefined ? undefined : this.redact(message);
    this.snapshot = { ...this.snapshot, status, ...(msg !== undefined ? { message: msg } : {}) };
    this.emit({ type: 'run', at, runId: this.snapshot.runId, status, ...(msg !== undefined ? { message: msg } : {}) });
  }

  /** The one place a step's status changes. */
  setStepStatus(stepId: string, status: StepStatus): void {
    const at = this.now().toISOString();
    const clean = this.redactStatus(status);
    let title = stepId;
    const steps = this.snapshot.steps.map((s) => {
      if (s.id !== stepId) return s;
      title = s.title;
      const next: StepView = { ...s, status: clean };
      if (clean.kind !== 'running') delete next.progress;
      return next;
    });
    let gate = this.snapshot.gate;
    if (clean.kind === 'awaiting_approval') gate = { request: clean.request };
    else if (gate?.request.stepId === stepId) gate = undefined;
    this.snapshot = { ...this.snapshot, steps, ...(gate ? { gate } : {}) };
    if (!gate) delete (this.snapshot as { gate?: unknown }).gate;
    this.emit({ type: 'step', at, runId: this.snapshot.runId, stepId, title, status: clean });
  }

  gate(request: ApprovalRequest, decision?: ApprovalDecision): void {
    const at = this.now().toISOString();
    this.snapshot = { ...this.snapshot, gate: decision ? { request, decision } : { request } };
    this.emit({ type: 'gate', at, runId: this.snapshot.runId, request, ...(decision ? { decision } : {}) });
  }

  progress(stepId: string, message: string, percent?: number, etaSeconds?: number): void {
    const at = this.now().toISOString();
    const msg = this.redact(message);
    const progress = { message: msg, at, ...(percent !== undefined ? { percent } : {}), ...(etaSeconds !== undefined ? { etaSeconds } : {}) };
    this.snapshot = { ...this.snapshot, steps: this.snapshot.steps.map((s) => (s.id === stepId ? { ...s, progress } : s)) };
    this.emit({ type: 'progress', at, runId: this.snapshot.runId, stepId, message: msg, ...(percent !== undefined ? { percent } : {}), ...(etaSeconds !== undefined ? { etaSeconds } : {}) });
  }

  metric(name: string, value: number, unit?: string, labels?: Record<string, string>): void {
    const now = this.now();
    const at = now.toISOString();
    const prev = this.snapshot.metrics[name];
    const history = [...(prev?.history ?? []), { at: now.getTime(), value }].slice(-MAX_HISTORY);
    const view: MetricView = { value, at, history, ...(unit !== undefined ? { unit } : {}) };
    this.snapshot = { ...this.snapshot, metrics: { ...this.snapshot.metrics, [name]: view } };
    this.emit({ type: 'metric', at, runId: this.snapshot.runId, name, value, ...(unit !== undefined ? { unit } : {}), ...(labels ? { labels } : {}) });
  }

  log(level: LogLine['level'], message: string, stepId?: string): void {
    const at = this.now().toISOString();
    const line: LogLine = { at, level, message: this.redact(message), ...(stepId !== undefined ? { stepId } : {}) };
    this.snapshot = { ...this.snapshot, logs: [...this.snapshot.logs, line].slice(-MAX_LOGS) };
    this.emit({ type: 'log', at, runId: this.snapshot.runId, level, message: line.message, ...(stepId !== undefined ? { stepId } : {}) });
  }

  publish<K extends FactKey>(key: K, value: PublishedFacts[K]): void {
    const at = this.now().toISOString();
    this.snapshot = { ...this.snapshot, published: { ...this.snapshot.published, [key]: value } };
    this.emit({ type: 'data', at, runId: this.snapshot.runId, key, value } as RunEvent);
  }

  private redactStatus(status: StepStatus): StepStatus {
    if (status.kind !== 'failed') return status;
    const error = { ...status.error, message: this.redact(status.error.message) };
    if (status.error.details) error.details = status.error.details.map(this.redact);
    return { ...status, error };
  }

  private emit(event: RunEvent | undefined): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A broken renderer must not break the run.
      }
    }
  }
}
