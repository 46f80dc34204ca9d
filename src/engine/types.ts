// The step contract, the closed status union and the plain-data shapes the engine journals and emits.
// Nothing here performs I/O: adapters (AWS, databases, files) arrive through the StepContext.

/** Where a step is in its life. Changed only by RunMachine.setStepStatus. */
export type StepStatus =
  | { kind: 'pending' }
  | { kind: 'running'; startedAt: string; attempt: number }
  | { kind: 'awaiting_approval'; request: ApprovalRequest }
  | { kind: 'succeeded'; startedAt: string; endedAt: string; durationMs: number; resumed: boolean }
  | { kind: 'failed'; startedAt: string; endedAt: string; error: StepErrorInfo }
  | { kind: 'skipped'; reason: string }
  | { kind: 'rolled_back'; at: string };

export type StepStatusKind = StepStatus['kind'];

/** Where the run as a whole is. */
export type RunStatus =
  | 'planned'
  | 'running'
  | 'awaiting_approval'
  | 'succeeded'
  | 'failed'
  | 'interrupted'
  | 'rolled_back';

/** How an error should be treated by whoever reads it. */
export type ErrorKind = 'retryable' | 'fatal' | 'rejected' | 'preflight' | 'interrupted';

/** A serialisable description of why a step failed. */
export interface StepErrorInfo {
  /** The step that failed. */
  stepId: string;
  /** `run`, `undo` or `gate`. */
  phase: 'run' | 'undo' | 'gate';
  /** How to treat it. */
  kind: ErrorKind;
  /** One line for people. */
  message: string;
  /** Extra lines (every failed preflight check, for example). */
  details?: string[];
}

/** One thing a step would do, shown by `plan` and at gates. */
export interface PlannedAction {
  /** What kind of side effect: an AWS API call, SQL, a wait, a local command, a note. */
  kind: 'aws' | 'sql' | 'wait' | 'exec' | 'note';
  /** Service and operation (`rds:CreateDBClusterSnapshot`), or the database (`source`, `target`). */
  target: string;
  /** Human summary of the action. */
  summary: string;
  /** Request parameters or SQL text (never secrets). */
  detail?: string;
}

/** A gate asks before a step runs. */
export interface GateSpec {
  /** Gate id used on the command line (`--approve cutover`). */
  id: string;
  /** What the person is asked. */
  question: string;
  /** Facts known at the moment of asking (latency, validation age, predicted window...). */
  facts(ctx: StepContext): Promise<Record<string, string | number | boolean>> | Record<string, string | number | boolean>;
  /** For a typed confirmation: the text the person must type (e.g. the source identifier). */
  confirmText?(ctx: StepContext): string;
}

/** An approval request is plain data so it can be journaled and shown again on resume. */
export interface ApprovalRequest {
  runId: string;
  stepId: string;
  /** The gate id. */
  id: string;
  /** What is being asked. */
  summary: string;
  /** What was known when asking. */
  facts: Record<string, string | number | boolean>;
  /** The exact actions that follow approval, in order. */
  actions: PlannedAction[];
  /** Text to type to approve, when the gate needs a typed confirmation. */
  confirmText?: string;
}

/** The answer to an ApprovalRequest. */
export interface ApprovalDecision {
  /** The gate id answered. */
  id: string;
  decision: 'approved' | 'declined';
  /** Who decided (user name, `--approve`, `rehearsal`). */
  by: string;
  /** ISO time of the decision. */
  at: string;
}

/** Answers gates: the TUI asks a person; headless mode answers from --approve/--yes or not at all. */
export interface Approver {
  /** Resolves a decision, or undefined when nobody can answer now (the run stops at the gate, exit 3). */
  decide(request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalDecision | undefined>;
}

/** Events feed the TUI, the line renderer, --json and the report alike. Never carry secrets. */
export type RunEvent =
  | { type: 'run'; at: string; runId: string; status: RunStatus; message?: string }
  | { type: 'step'; at: string; runId: string; stepId: string; title: string; status: StepStatus }
  | { type: 'progress'; at: string; runId: string; stepId: string; percent?: number; etaSeconds?: number; message: string }
  | { type: 'metric'; at: string; runId: string; name: string; value: number; unit?: string; labels?: Record<string, string> }
  | { type: 'gate'; at: string; runId: string; request: ApprovalRequest; decision?: ApprovalDecision }
  | { type: 'log'; at: string; runId: string; level: 'debug' | 'info' | 'warn' | 'error'; stepId?: string; message: string }
  | { type: 'data'; at: string; runId: string; key: string; value: unknown };

/** Emits events for the current step; handed to steps inside the context. */
export interface StepReporter {
  progress(message: string, percent?: number, etaSeconds?: number): void;
  metric(name: string, value: number, unit?: string, labels?: Record<string, string>): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Structured results for renderers and the report (e.g. `validation`: per-table counts). Never secrets. */
  publish(key: string, value: unknown): void;
}

/**
 * Everything a step may touch. `services` is the composition root's bag of adapters (Cloud, database
 * connections, rehearsal hooks); the engine never looks inside it.
 */
export interface StepContext<Services = unknown> {
  runId: string;
  /** Outputs of steps that already succeeded (this run or before a resume), by step id. */
  outputs: Readonly<Record<string, unknown>>;
  /** Adapters supplied by the composition root. */
  services: Services;
  /** Aborted on SIGINT/SIGTERM or a TUI abort: finish or undo the in-flight part, then throw. */
  signal: AbortSignal;
  /** Which attempt of this step this is (1 on the first run, 2 after a resume re-entered it...). */
  attempt: number;
  report: StepReporter;
  /**
   * Data a step saved durably while it ran, by step id and key: what an interrupted attempt recorded before
   * changing anything (e.g. the roles' state before a fence), so the next attempt or a rollback can restore it.
   */
  checkpoints?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Journals `value` under `key` for this step before the promise resolves (fsync'd); never secrets. */
  checkpoint?(key: string, value: unknown): Promise<void>;
  /**
   * Every value ever checkpointed under `stepId`/`key` in this run, oldest first, whatever happened since (a step
   * undone, succeeded or rewound keeps its records here): what a step must never forget, like a fence's prior state.
   */
  journaled?(stepId: string, key: string): readonly unknown[];
}

/** A step is a small plain object. `run` must be idempotent: it finds what it created before. */
export interface Step<Services = unknown, Out = unknown> {
  id: string;
  title: string;
  /** Ask before running. */
  gate?: GateSpec;
  /** The actions it would take (dry run); pure given the context. */
  describe(ctx: StepContext<Services>): PlannedAction[];
  run(ctx: StepContext<Services>): Promise<Out>;
  /** Compensation for rollback, and for the in-flight part of a failed or interrupted run. */
  undo?(ctx: StepContext<Services>): Promise<void>;
}

/** A flow is an ordered list of steps plus what makes the source safe again after a failure. */
export interface Flow<Services = unknown> {
  id: string;
  steps: Step<Services>[];
  /**
   * Called after a step fails or is interrupted: must leave the source writable (unfence) whatever the failed
   * step left behind, unless the switch already happened. Idempotent. Returns the ids of succeeded steps whose
   * effect it reverted (e.g. `fence`), so the journal marks them undone and a resume runs them again.
   */
  makeSafe?(ctx: StepContext<Services>, failedStepId: string): Promise<string[]>;
  /** `rekey rollback`: undo what the succeeded steps did (before the switch: unfence, stop the task; after: rename back). */
  rollback?(ctx: StepContext<Services>, succeeded: ReadonlySet<string>): Promise<void>;
}

/** Raised by steps; carries the kind so the runner maps it to an exit code. */
export class StepError extends Error {
  override readonly name = 'StepError';
  constructor(
    message: string,
    readonly kind: ErrorKind = 'fatal',
    readonly details: string[] = [],
    options?: { cause?: unknown; retryFrom?: string },
  ) {
    super(message, options);
    this.retryFrom = options?.retryFrom;
  }
  /** For a retryable failure: the step id the run goes back to (e.g. a drain timeout returns to `catch-up`). */
  readonly retryFrom: string | undefined;
}

/** Thrown when work stopped because the signal was aborted. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
  constructor(message = 'interrupted') {
    super(message);
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
