// The step contract, the closed status union and the plain-data shapes the engine journals and emits.
// Nothing here performs I/O: adapters (AWS, databases, files) arrive through the StepContext.
import type { FactKey, PublishedFacts } from './facts.js';

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
  /**
   * While the gate waits for an answer: keeps what it shows live (re-samples latency and reports it through
   * `ctx.report.metric`) until `signal` aborts, which it does once the gate is answered or the run stops. Failures
   * are logged, never fatal; the gate's own facts stay as they were asked.
   */
  watch?(ctx: StepContext, signal: AbortSignal): Promise<void>;
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
  | { [K in FactKey]: { type: 'data'; at: string; runId: string; key: K; value: PublishedFacts[K] } }[FactKey];

/** Emits events for the current step; handed to steps inside the context. */
export interface StepReporter {
  progress(message: string, percent?: number, etaSeconds?: number): void;
  metric(name: string, value: number, unit?: string, labels?: Record<string, string>): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** Structured results for renderers and the report, typed by key (src/engine/facts.ts). Never secrets. */
  publish<K extends FactKey>(key: K, value: PublishedFacts[K]): void;
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

/**
 * A step is a small plain object: what it would do (`describe`), how to do it (`run`) and how to take it back
 * (`undo`). Flows share step objects; the engine alone decides when `undo` is called.
 *
 * - `run` must be idempotent: it finds what an earlier attempt created (by deterministic names) before creating
 *   anything, so a resume re-enters it safely.
 * - Every step with a side effect outside rekey's own journal has an `undo`, idempotent as well (a second call finds
 *   nothing left to do), able to take back a partial run too. Read-only steps (checks, waits, comparisons) have none.
 * - `keepOnRollback` names what `rekey rollback` leaves in place by default (a restored database, DMS resources, a
 *   snapshot); the engine then calls `undo` only when asked to discard them. Steps without it are undone by rollback.
 * - `inEffect` says whether the step's effect is in place now, even partly (the fence still applied; the switch
 *   begun). The engine asks the flow's guard step before lifting it and its boundary step before making the source
 *   safe after a failure at or after that boundary (see SafetySpec).
 */
export interface Step<Services = unknown, Out = unknown> {
  /** Unique within the flow; journal records, gates, rewinds and the output accessors use it. */
  id: string;
  title: string;
  /** Ask before running. */
  gate?: GateSpec;
  /** The actions it would take (dry run); pure given the context. */
  describe(ctx: StepContext<Services>): PlannedAction[];
  run(ctx: StepContext<Services>): Promise<Out>;
  /** Compensation: takes back what `run` did, also a partial run. Idempotent. Called by the engine only. */
  undo?(ctx: StepContext<Services>): Promise<void>;
  /** What rollback keeps by default instead of calling `undo` (e.g. `the restored cluster`), for the log. */
  keepOnRollback?: string;
  /** Whether the step's effect is in place now, even partly. Without it: whether the step has an output. */
  inEffect?(ctx: StepContext<Services>): Promise<boolean> | boolean;
}

/**
 * How the engine makes the source safe again after a step fails or is interrupted; plain data, no code per flow.
 *
 * When the `guard` step's effect is in effect (the fence), the engine calls the guard's `undo` (unfence), unless
 * the `boundary` step already succeeded (the switch happened: the old source stays fenced) or the failure was at or
 * after the boundary and the boundary's `inEffect` says it has (partly) happened: a half-done switch must be
 * finished (resume) or taken back (rollback), never unfenced. After lifting the guard, the succeeded steps from
 * `rewindTo` up to (not including) the boundary are marked undone, so a resume runs them again.
 */
export interface SafetySpec {
  /**
   * The step whose undo makes the source safe (e.g. `fence`), or several (each lifted when its `inEffect` says so,
   * newest first), e.g. `['consistent-validate', 'fence']` when a step before the cutover fences briefly too.
   */
  guard: string | readonly string[];
  /** The first step past which making safe means finishing or rolling back, not unfencing (e.g. `switch`). */
  boundary: string;
  /**
   * Where a resume starts again once the guard was lifted: the value of the first `ifStarted` entry whose key step
   * has succeeded or is the step that failed (it may have done part of its work), else of the first `ifSucceeded`
   * entry (in declaration order) whose key step has succeeded, else `default`, e.g.
   * `{ default: 'catch-up', ifStarted: { 'stop-task': 'start-cdc' } }` (a task stopped, or being stopped, must be
   * started again).
   */
  rewindTo: { default: string; ifStarted?: Readonly<Record<string, string>>; ifSucceeded?: Readonly<Record<string, string>> };
}

/**
 * A flow is a declared list of steps: the order is the list, and nothing else repeats it (step ids are read from
 * `steps`). Rollback is the engine's: it runs the `undo` of every succeeded (or started) step in reverse order,
 * honouring `keepOnRollback`; `safety` says how to make the source safe after a failure. A new strategy declares
 * `{ id, steps: [stepA, stepB, ...], safety? }`, reusing step objects from src/steps, and adds nothing else:
 *
 * ```ts
 * const flow: Flow<RekeyServices> = {
 *   id: `blue-green/${runbook.source.engine}`,
 *   steps: [preflight, createBlueGreen, waitInSync, fenceStep(), switchover, verify, cleanup],
 *   safety: { guard: 'fence', boundary: 'switchover', rewindTo: { default: 'wait-in-sync' } },
 * };
 * ```
 *
 * A new step with a side effect brings its `undo` (and `keepOnRollback` when rollback should leave its resource),
 * declares its output type in src/steps/outputs.ts (StepOutputs, by id) and publishes only facts declared in
 * src/engine/facts.ts; test/unit/steps-lifecycle.test.ts then runs it through the lifecycle harness by id.
 */
export interface Flow<Services = unknown> {
  /** `<strategy>/<engine>`, journaled with the run. */
  id: string;
  steps: readonly Step<Services>[];
  /** Absent: a failure leaves everything as it is (nothing needs lifting). */
  safety?: SafetySpec;
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
