// `rekey run`: a new run of a runbook against AWS (or, with --rehearsal, the local rehearsal cloud).
import { headlessApprover } from '../engine/approvers.js';
import type { JournalRecord } from '../engine/journal.js';
import type { Flow } from '../engine/types.js';
import { buildFlow } from '../flows/index.js';
import { loadRunbook, formatProblem } from '../runbook/load.js';
import type { Runbook } from '../runbook/schema.js';
import type { RekeyServices } from '../steps/services.js';
import { RunStore, newRunId } from '../state/run-store.js';
import { CliError, loadRunbookOrExit, pickRenderer } from './common.js';
import { composeServices, redactorFor } from './compose.js';
import { runSession } from './session.js';
import { rehearsalRun } from './rehearse.js';

export interface RunOptions {
  headless?: boolean;
  approve: string[];
  yes?: boolean;
  json?: boolean;
  rehearsal?: boolean;
  profile?: string;
  stateDir: string;
}

/** Header facts for renderers. */
export function runInfo(runbook: Runbook, provider: 'aws' | 'rehearsal', targetName: string): Record<string, string> {
  return {
    runbook: runbook.name,
    engine: runbook.source.engine,
    source: runbook.source.identifier,
    target: targetName,
    newKey: runbook.target.kmsKeyId,
    provider,
  };
}

/** The journal's first record: enough for status and resume to find everything again. */
export function createdRecord(runId: string, runbookPath: string, runbook: Runbook, flow: Flow<RekeyServices>, provider: 'aws' | 'rehearsal', meta: Record<string, string | number | boolean> = {}): Extract<JournalRecord, { t: 'run_created' }> {
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

/** --approve names must be gates of the flow: a typo would otherwise be accepted silently (exit 2). */
export function checkApprovals(flow: Flow<RekeyServices>, approve: readonly string[] | undefined): void {
  const gates = flow.steps.flatMap((s) => (s.gate ? [s.gate.id] : []));
  const unknown = (approve ?? []).filter((g) => !gates.includes(g));
  if (unknown.length > 0) {
    throw new CliError(`--approve ${unknown.join(', ')}: no such gate (the gates of ${flow.id}: ${gates.join(', ') || 'none'})`, 2);
  }
}

/** Builds the flow or turns "engine not supported yet" into a preflight failure the user can read. */
export function flowFor(runbook: Runbook): Flow<RekeyServices> {
  try {
    return buildFlow(runbook);
  } catch (err) {
    throw new CliError(`cannot run ${runbook.source.engine}: ${(err as Error).message}`, 4);
  }
}

export async function runCommand(path: string, opts: RunOptions): Promise<number> {
  if (opts.rehearsal) {
    const { runbook, path: abs } = loadRunbookOrExit(path);
    return rehearsalRun({ runbook, runbookPath: abs, stateDir: opts.stateDir, json: opts.json, headless: opts.headless, approve: opts.approve, yes: opts.yes, autoApprove: false });
  }
  // Against AWS every {env: NAME} secret must be set now, not discovered missing mid-run.
  const loaded = loadRunbook(path, undefined, { env: process.env });
  if (!loaded.ok) throw new CliError(`${path}: ${loaded.problems.length} problem(s) in the runbook`, 2, loaded.problems.map(formatProblem));
  const runbook = loaded.runbook;
  const runId = newRunId();
  const flow = flowFor(runbook);
  checkApprovals(flow, opts.approve);
  // One redactor for the session and the services: it learns each Secrets Manager value when it is fetched.
  const redact = redactorFor(runbook);
  const services = composeServices({ runbook, runId, provider: 'aws', redactor: redact, ...(opts.profile ? { profile: opts.profile } : {}) });
  const renderer = await pickRenderer(opts);
  const result = await runSession({
    store: new RunStore(opts.stateDir),
    runId,
    flow,
    services,
    runbook,
    created: createdRecord(runId, loaded.path, runbook, flow, 'aws', opts.profile ? { profile: opts.profile } : {}),
    info: runInfo(runbook, 'aws', services.names.targetCluster),
    renderer,
    approver: headlessApprover({ approve: opts.approve, yes: opts.yes === true, by: opts.yes ? '--yes' : '--approve' }),
    redact,
    command: `rekey run ${path}`,
  });
  return result.exitCode;
}
