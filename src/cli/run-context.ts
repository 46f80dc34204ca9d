// One place that turns a loaded runbook into what a command executes: the flow, the redactor, the services (AWS or
// the rehearsal cloud), and the step context of a command that calls steps outside the engine (plan's describe,
// rollback's undo). run, resume, plan and rollback build theirs here (what a run's journal says, which status and
// rollback read, is in run-journal.ts, which loads no adapter), so they cannot drift apart.
import type { Cloud } from '../aws/cloud.js';
import type { ReplayState } from '../engine/journal.js';
import type { Redactor } from '../engine/redact.js';
import type { RunMachine } from '../engine/run-machine.js';
import type { Flow, StepContext, StepReporter } from '../engine/types.js';
import { buildFlow } from '../flows/index.js';
import type { Runbook } from '../runbook/schema.js';
import type { RekeyServices } from '../steps/services.js';
import { CliError } from './common.js';
import { composeServices, redactorFor } from './compose.js';
import type { Provider } from './run-journal.js';

/** Builds the flow or turns "engine not supported yet" into a preflight failure the user can read. */
export function flowFor(runbook: Runbook): Flow<RekeyServices> {
  try {
    return buildFlow(runbook);
  } catch (err) {
    throw new CliError(`cannot run ${runbook.source.engine}: ${(err as Error).message}`, 4);
  }
}

/** --approve names must be gates of the flow: a typo would otherwise be accepted silently (exit 2). */
export function checkApprovals(flow: Flow<RekeyServices>, approve: readonly string[] | undefined): void {
  const gates = flow.steps.flatMap((s) => (s.gate ? [s.gate.id] : []));
  const unknown = (approve ?? []).filter((g) => !gates.includes(g));
  if (unknown.length > 0) {
    throw new CliError(`--approve ${unknown.join(', ')}: no such gate (the gates of ${flow.id}: ${gates.join(', ') || 'none'})`, 2);
  }
}

/** Header facts for renderers. */
export function runInfo(runbook: Runbook, provider: Provider, targetName: string): Record<string, string> {
  return {
    runbook: runbook.name,
    engine: runbook.source.engine,
    source: runbook.source.identifier,
    target: targetName,
    newKey: runbook.target.kmsKeyId,
    provider,
  };
}

/** Everything a command needs to execute a runbook's steps (or describe or undo them) for one run id. */
export interface RunContext {
  runId: string;
  runbook: Runbook;
  provider: Provider;
  flow: Flow<RekeyServices>;
  /** The session's redactor; the services teach it every Secrets Manager value they fetch. */
  redact: Redactor;
  services: RekeyServices;
}

export interface RunContextOptions {
  runbook: Runbook;
  runId: string;
  provider: Provider;
  /** The rehearsal cloud's senders (for provider rehearsal). */
  cloud?: Cloud;
  /** The rehearsal world's password file (RehearsalWorld.passfile). */
  passfile?: string;
  profile?: string;
  /** The flow, when the command built it already (to refuse an unsupported runbook before opening anything). */
  flow?: Flow<RekeyServices>;
  /** The session's redactor (from redactorFor), when the command made it already. */
  redact?: Redactor;
}

/** The flow, one redactor shared by the session and the services, and the services themselves. */
export function runContext(o: RunContextOptions): RunContext {
  const flow = o.flow ?? flowFor(o.runbook);
  const redact = o.redact ?? redactorFor(o.runbook);
  const services = composeServices({
    runbook: o.runbook,
    runId: o.runId,
    provider: o.provider,
    redactor: redact,
    ...(o.cloud ? { cloud: o.cloud } : {}),
    ...(o.passfile !== undefined ? { passfile: o.passfile } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
  });
  return { runId: o.runId, runbook: o.runbook, provider: o.provider, flow, redact, services };
}

/** A reporter that drops everything (plan's describe reports nothing). */
export const silentReporter: StepReporter = { progress: () => undefined, metric: () => undefined, log: () => undefined, publish: () => undefined };

/** A reporter that feeds the run machine under `stepId`, for steps called outside the engine. */
export function machineReporter(machine: RunMachine, stepId: string): StepReporter {
  return {
    progress: (message, percent, etaSeconds) => machine.progress(stepId, message, percent, etaSeconds),
    metric: (name, value, unit, labels) => machine.metric(name, value, unit, labels),
    log: (level, message) => machine.log(level, message, stepId),
    publish: (key, value) => machine.publish(key, value),
  };
}

/** The outputs and checkpoints of the steps a replayed run finished, and every checkpoint ever journaled (fence records). */
export function journaledOutputs(state: ReplayState): Pick<StepContext<RekeyServices>, 'outputs' | 'checkpoints' | 'journaled'> {
  return {
    outputs: Object.fromEntries([...state.succeeded].map(([id, s]) => [id, s.output])),
    checkpoints: Object.fromEntries(state.checkpoints),
    journaled: (stepId, key) => state.checkpointHistory.get(stepId)?.get(key) ?? [],
  };
}

/** The context of a step a command calls itself rather than through the engine (plan's describe, rollback's undo). */
export function stepContext(
  run: RunContext,
  o: {
    outputs?: Record<string, unknown>;
    checkpoints?: StepContext<RekeyServices>['checkpoints'];
    journaled?: StepContext<RekeyServices>['journaled'];
    signal?: AbortSignal;
    report?: StepReporter;
  } = {},
): StepContext<RekeyServices> {
  return {
    runId: run.runId,
    outputs: o.outputs ?? {},
    ...(o.checkpoints ? { checkpoints: o.checkpoints } : {}),
    ...(o.journaled ? { journaled: o.journaled } : {}),
    services: run.services,
    signal: o.signal ?? new AbortController().signal,
    attempt: 1,
    report: o.report ?? silentReporter,
  };
}
