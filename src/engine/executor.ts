// Walks a flow: skips what the journal says is done, asks at gates, runs each step once per attempt,
// records every transition before moving on, and leaves the source safe when anything goes wrong.
import { crashPoint } from './crash.js';
import { makeSafe as makeSafeFlow, undoSteps, type UndoReport } from './compensation.js';
import { rememberCheckpoint, replay, type JournalRecord, type JournalStore, type ReplayState } from './journal.js';
import { redactDeep } from './redact.js';
import type { RunMachine } from './run-machine.js';
import {
  InterruptedError,
  StepError,
  type ApprovalRequest,
  type ApprovalDecision,
  type Approver,
  type Flow,
  type PlannedAction,
  type Step,
  type StepContext,
  type StepErrorInfo,
} from './types.js';

export interface ExecuteOptions<S> {
  runId: string;
  flow: Flow<S>;
  services: S;
  journal: JournalStore;
  machine: RunMachine;
  approver: Approver;
  signal: AbortSignal;
  /** Applied to everything journaled (events are redacted by the machine). */
  redact?: (text: string) => string;
  now?: () => Date;
  /** How often a retryable failure may send the run back (drain timeout -> catch-up). */
  maxRewinds?: number;
  /** Chaos testing: wait this long after each journaled step success, to widen the window for a kill. */
  pauseAfterStepMs?: number;
}

/** How an execution ended. */
export type ExecuteOutcome =
  | { status: 'succeeded' }
  | { status: 'awaiting_approval'; request: ApprovalRequest; declined: boolean }
  | { status: 'failed'; error: StepErrorInfo; madeSafe: boolean }
  | { status: 'interrupted'; stepId?: string; madeSafe?: boolean };

/** Exit codes of the CLI contract. */
export function exitCodeOf(outcome: ExecuteOutcome): number {
  switch (outcome.status) {
    case 'succeeded':
      return 0;
    case 'awaiting_approval':
      return 3;
    case 'failed':
      return outcome.error.kind === 'preflight' ? 4 : 5;
    case 'interrupted':
      return 130;
  }
}

/** Converts anything a step threw into the serialisable error info. */
export function toErrorInfo(stepId: string, phase: StepErrorInfo['phase'], err: unknown): StepErrorInfo {
  if (err instanceof StepError) {
    return { stepId, phase, kind: err.kind, message: err.message, ...(err.details.length ? { details: err.details } : {}) };
  }
  if (err instanceof InterruptedError) return { stepId, phase, kind: 'interrupted', message: err.message };
  const e = err as { name?: unknown; message?: unknown; code?: unknown };
  const name = typeof e?.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : '';
  const code = typeof e?.code === 'string' ? ` (${e.code})` : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return { stepId, phase, kind: 'fatal', message: `${name}${message}${code}` };
}

/** Everything the remaining steps would do, in order (shown at gates and by `plan`). */
export function describeSteps<S>(steps: readonly Step<S>[], ctx: StepContext<S>): { stepId: string; title: string; actions: PlannedAction[] }[] {
  return steps.map((step) => {
    let actions: PlannedAction[];
    try {
      actions = step.describe(ctx);
    } catch (err) {
      actions = [{ kind: 'note', target: step.id, summary: `cannot describe yet: ${toErrorInfo(step.id, 'run', err).message}` }];
    }
    return { stepId: step.id, title: step.title, actions };
  });
}

export async function executeFlow<S>(opts: ExecuteOptions<S>): Promise<ExecuteOutcome> {
  const { flow, machine, journal, signal } = opts;
  const now = opts.now ?? (() => new Date());
  const redact = opts.redact ?? ((t: string) => t);
  const order = flow.steps.map((s) => s.id);
  const gateOfStep = new Map(flow.steps.flatMap((s) => (s.gate ? [[s.id, s.gate.id] as const] : [])));
  const write = async (record: JournalRecord): Promise<void> => journal.append(redactDeep(record, redact));
  const iso = (): string => now().toISOString();

  const state: ReplayState = replay(await journal.readAll(), order, gateOfStep);
  const outputs: Record<string, unknown> = {};
  for (const [id, s] of state.succeeded) outputs[id] = s.output;

  const checkpoints = (): Record<string, Record<string, unknown>> => Object.fromEntries(state.checkpoints);
  const contextFor = (step: Step<S>, attempt: number): StepContext<S> => ({
    runId: opts.runId,
    outputs,
    services: opts.services,
    signal,
    attempt,
    get checkpoints() {
      return checkpoints();
    },
    checkpoint: async (key, value) => {
      const clean = redactDeep(value, redact);
      await write({ t: 'step_checkpoint', at: iso(), stepId: step.id, key, value: clean });
      state.checkpoints.set(step.id, { ...state.checkpoints.get(step.id), [key]: clean });
      rememberCheckpoint(state, step.id, key, clean);
    },
    journaled: (stepId, key) => state.checkpointHistory.get(stepId)?.get(key) ?? [],
    report: {
      progress: (message, percent, etaSeconds) => machine.progress(step.id, message, percent, etaSeconds),
      metric: (name, value, unit, labels) => machine.metric(name, value, unit, labels),
      log: (level, message) => machine.log(level, message, step.id),
      publish: (key, value) => machine.publish(key, redactDeep(value, redact)),
    },
  });

  // Show what is already done before anything runs.
  for (const step of flow.steps) {
    const done = state.succeeded.get(step.id);
    if (done) {
      machine.setStepStatus(step.id, { kind: 'succeeded', startedAt: done.at, endedAt: done.at, durationMs: done.durationMs, resumed: true });
    }
  }
  machine.setRunStatus('running');

  let rewinds = 0;
  /** The steps the last makeSafe marked undone: a rewind never starts after the first of them. */
  let madeUndone: string[] = [];
  const makeSafe = async (step: Step<S>, ctx: StepContext<S>): Promise<boolean> => {
    madeUndone = [];
    try {
      const undone = await makeSafeFlow(flow, ctx, step.id);
      madeUndone = undone;
      for (const id of undone) {
        delete outputs[id];
        state.checkpoints.delete(id);
        await write({ t: 'step_undone', at: iso(), stepId: id, reason: `made safe after ${step.id}` });
        machine.setStepStatus(id, { kind: 'rolled_back', at: iso() });
      }
      return true;
    } catch (err) {
      machine.log('error', `could not make the source safe after ${step.id}: ${toErrorInfo(step.id, 'undo', err).message}`, step.id);
      return false;
    }
  };

  for (let i = 0; i < flow.steps.length; i++) {
    const step = flow.steps[i]!;
    if (Object.prototype.hasOwnProperty.call(outputs, step.id)) continue;
    if (signal.aborted) return stop({ status: 'interrupted' });

    const attempt = (state.attempts.get(step.id) ?? 0) + 1;
    const ctx = contextFor(step, attempt);

    if (step.gate) {
      const decided = state.decisions.get(step.gate.id);
      if (decided?.decision !== 'approved') {
        const gateOutcome = await askGate(step, ctx, [...flow.steps.slice(i)]);
        if (gateOutcome) return gateOutcome;
      }
    }

    const startedAt = iso();
    const t0 = now().getTime();
    state.attempts.set(step.id, attempt);
    await write({ t: 'step_started', at: startedAt, stepId: step.id, attempt });
    machine.setStepStatus(step.id, { kind: 'running', startedAt, attempt });
    crashPoint(`step:before:${step.id}`);
    if (attempt > 1) machine.log('info', `re-entering ${step.id} (attempt ${attempt}); it looks for what it created before`, step.id);

    let output: unknown;
    try {
      output = await step.run(ctx);
    } catch (err) {
      const endedAt = iso();
      if (signal.aborted || err instanceof InterruptedError) {
        await write({ t: 'step_interrupted', at: endedAt, stepId: step.id });
        machine.setStepStatus(step.id, { kind: 'pending' });
        machine.log('warn', `${step.title} was interrupted; the run can be resumed`, step.id);
        const madeSafe = await makeSafe(step, ctx);
        return stop({ status: 'interrupted', stepId: step.id, madeSafe });
      }
      const error = toErrorInfo(step.id, 'run', err);
      await write({ t: 'step_failed', at: endedAt, stepId: step.id, error });
      machine.setStepStatus(step.id, { kind: 'failed', startedAt, endedAt, error });
      const madeSafe = await makeSafe(step, ctx);
      const retryFrom = err instanceof StepError ? err.retryFrom : undefined;
      const maxRewinds = opts.maxRewinds ?? 3;
      if (madeSafe && retryFrom !== undefined && order.includes(retryFrom) && rewinds < maxRewinds) {
        rewinds++;
        // Never past a step making safe marked undone (e.g. start-cdc once the task was stopped).
        const from = Math.min(order.indexOf(retryFrom), ...madeUndone.map((id) => order.indexOf(id)).filter((n) => n >= 0));
        const to = flow.steps[from]!.id;
        await write({ t: 'rewind', at: iso(), toStepId: to, reason: error.message });
        machine.log('warn', `${error.message}; going back to ${to} (${rewinds}/${maxRewinds})`, step.id);
        for (const s of flow.steps.slice(from)) {
          delete outputs[s.id];
          state.checkpoints.delete(s.id);
          if (s.gate) state.decisions.delete(s.gate.id);
          machine.setStepStatus(s.id, { kind: 'pending' });
        }
        i = from - 1;
        continue;
      }
      return stop({ status: 'failed', error, madeSafe });
    }

    const endedAt = iso();
    const durationMs = now().getTime() - t0;
    const cleanOutput = output === undefined ? null : output;
    await write({ t: 'step_succeeded', at: endedAt, stepId: step.id, output: cleanOutput, durationMs });
    outputs[step.id] = cleanOutput;
    state.checkpoints.delete(step.id);
    machine.setStepStatus(step.id, { kind: 'succeeded', startedAt, endedAt, durationMs, resumed: false });
    crashPoint(`step:after:${step.id}`);
    if (opts.pauseAfterStepMs) await new Promise((resolve) => setTimeout(resolve, opts.pauseAfterStepMs));
  }
  return stop({ status: 'succeeded' });

  async function askGate(step: Step<S>, ctx: StepContext<S>, remaining: Step<S>[]): Promise<ExecuteOutcome | undefined> {
    const gate = step.gate!;
    let facts: ApprovalRequest['facts'];
    try {
      facts = await gate.facts(ctx);
    } catch (err) {
      facts = { 'facts unavailable': toErrorInfo(step.id, 'gate', err).message };
    }
    const confirmText = gate.confirmText?.(ctx);
    const request: ApprovalRequest = redactDeep(
      {
        runId: opts.runId,
        stepId: step.id,
        id: gate.id,
        summary: gate.question,
        facts,
        actions: describeSteps(remaining, ctx).flatMap((d) => d.actions),
        ...(confirmText !== undefined ? { confirmText } : {}),
      },
      redact,
    );
    await write({ t: 'gate_requested', at: iso(), request });
    machine.setStepStatus(step.id, { kind: 'awaiting_approval', request });
    machine.gate(request);
    // The gate's watcher keeps its facts live while a person reads them; it stops with the answer.
    const watching = new AbortController();
    const stopWatching = (): void => watching.abort();
    signal.addEventListener('abort', stopWatching, { once: true });
    const watcher = gate.watch?.(ctx, watching.signal).catch((err: unknown) => {
      if (!watching.signal.aborted) machine.log('debug', `gate ${gate.id}: live facts stopped: ${toErrorInfo(step.id, 'gate', err).message}`, step.id);
    });
    let decision: ApprovalDecision | undefined;
    try {
      decision = await opts.approver.decide(request, signal);
    } finally {
      stopWatching();
      signal.removeEventListener('abort', stopWatching);
    }
    await watcher;
    if (signal.aborted) {
      machine.setStepStatus(step.id, { kind: 'pending' });
      return stop({ status: 'interrupted', stepId: step.id });
    }
    if (!decision) return stop({ status: 'awaiting_approval', request, declined: false });
    await write({ t: 'gate_decided', at: iso(), decision, shown: request });
    machine.gate(request, decision);
    if (decision.decision !== 'approved') return stop({ status: 'awaiting_approval', request, declined: true });
    state.decisions.set(gate.id, decision);
    machine.setStepStatus(step.id, { kind: 'pending' });
    return undefined;
  }

  async function stop(outcome: ExecuteOutcome): Promise<ExecuteOutcome> {
    const status = outcome.status === 'succeeded' ? 'succeeded' : outcome.status === 'failed' ? 'failed' : outcome.status;
    const message =
      outcome.status === 'failed'
        ? `${outcome.error.stepId} failed: ${outcome.error.message}`
        : outcome.status === 'awaiting_approval'
          ? `${outcome.declined ? 'declined' : 'waiting for approval'} at gate ${outcome.request.id}`
          : outcome.status === 'interrupted'
            ? `interrupted${outcome.stepId ? ` during ${outcome.stepId}` : ''}`
            : 'done';
    await write({ t: 'run_stopped', at: iso(), status, message });
    machine.setRunStatus(status, message);
    return outcome;
  }
}

/** What rollback needs of a run: the same journal, flow and services as its runner (the machine gets the log). */
export interface RollbackOptions<S> extends Pick<ExecuteOptions<S>, 'runId' | 'flow' | 'services' | 'journal' | 'machine' | 'redact' | 'now'> {
  /** Also undo what rollback keeps by default (steps with keepOnRollback). */
  discard?: boolean;
}

/** `cause` is what the undo threw, for a caller that knows its type (the CLI names who is still fenced). */
export type RollbackOutcome = ({ status: 'succeeded' } | { status: 'failed'; error: StepErrorInfo; cause: unknown }) & UndoReport;

/**
 * `rekey rollback`: replays the journal, then undoes every succeeded or started step newest first (undoSteps),
 * journaling `rollback` started / succeeded / failed. Before the switch that unfences and stops the task; after it
 * the switch's undo renames back first. What the steps keep (restored database, DMS resources, snapshots) stays.
 */
export async function rollbackRun<S>(opts: RollbackOptions<S>): Promise<RollbackOutcome> {
  const { flow, journal, machine } = opts;
  const now = opts.now ?? (() => new Date());
  const redact = opts.redact ?? ((t: string) => t);
  const state = replay(await journal.readAll(), flow.steps.map((s) => s.id));
  const outputs: Record<string, unknown> = Object.fromEntries([...state.succeeded].map(([id, s]) => [id, s.output]));
  const ctx: StepContext<S> = {
    runId: opts.runId,
    outputs,
    checkpoints: Object.fromEntries(state.checkpoints),
    journaled: (stepId, key) => state.checkpointHistory.get(stepId)?.get(key) ?? [],
    services: opts.services,
    signal: new AbortController().signal,
    attempt: 1,
    report: {
      progress: (m, p) => machine.progress('rollback', m, p),
      metric: (n, v) => machine.metric(n, v),
      log: (level, m) => machine.log(level, m, 'rollback'),
      publish: (k, v) => machine.publish(k, redactDeep(v, redact)),
    },
  };
  await journal.append({ t: 'rollback', at: now().toISOString(), status: 'started' });
  machine.log('info', `rolling back run ${opts.runId} (succeeded steps: ${[...state.succeeded.keys()].join(', ') || 'none'})`);
  const report: UndoReport = { undone: [], kept: [] };
  try {
    const done = await undoSteps(flow, ctx, { succeeded: new Set(state.succeeded.keys()), started: new Set(state.attempts.keys()) }, { discard: opts.discard ?? false });
    report.undone.push(...done.undone);
    report.kept.push(...done.kept);
  } catch (err) {
    const error = toErrorInfo('rollback', 'undo', err);
    await journal.append({ t: 'rollback', at: now().toISOString(), status: 'failed', message: redact(error.message) });
    machine.log('error', `rollback failed: ${error.message}`);
    return { status: 'failed', error, cause: err, ...report };
  }
  for (const k of report.kept) machine.log('info', `kept ${k.what} (${k.stepId})`);
  await journal.append({ t: 'rollback', at: now().toISOString(), status: 'succeeded' });
  return { status: 'succeeded', ...report };
}
