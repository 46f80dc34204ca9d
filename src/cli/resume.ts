// `rekey resume`: continue a run where its journal says it stopped, against the provider it started with.
import { headlessApprover } from '../engine/approvers.js';
import type { JournalRecord } from '../engine/journal.js';
import { RunStore } from '../state/run-store.js';
import { CliError, loadRunbookOrExit, pickRenderer } from './common.js';
import { composeServices, redactorFor } from './compose.js';
import { rehearsalRun } from './rehearse.js';
import { checkApprovals, flowFor, runInfo } from './run.js';
import { runSession } from './session.js';

export interface ResumeOptions {
  approve: string[];
  yes?: boolean;
  headless?: boolean;
  json?: boolean;
  profile?: string;
  stateDir: string;
}

/** The run_created record of a run, or exit 2 when there is no such run. */
export async function createdOf(store: RunStore, runId: string): Promise<Extract<JournalRecord, { t: 'run_created' }>> {
  if (!store.exists(runId)) throw new CliError(`no run ${runId} under ${store.root} (see rekey status)`, 2);
  const records = await store.journal(runId).readAll();
  const created = records.find((r): r is Extract<JournalRecord, { t: 'run_created' }> => r.t === 'run_created');
  if (!created) throw new CliError(`run ${runId} has no run_created record; its journal is incomplete`, 1);
  return created;
}

export async function resumeCommand(runId: string, opts: ResumeOptions): Promise<number> {
  const store = new RunStore(opts.stateDir);
  const created = await createdOf(store, runId);
  const { runbook } = loadRunbookOrExit(created.runbookPath);
  checkApprovals(flowFor(runbook), opts.approve);
  if (created.provider === 'rehearsal') {
    return rehearsalRun({
      runbook,
      runbookPath: created.runbookPath,
      stateDir: opts.stateDir,
      json: opts.json,
      headless: opts.headless,
      approve: opts.approve,
      yes: opts.yes,
      autoApprove: created.meta.autoApprove === true,
      resumeRunId: runId,
      ...(typeof created.meta.load === 'number' ? { load: created.meta.load } : {}),
    });
  }
  const flow = flowFor(runbook);
  const profile = opts.profile ?? (typeof created.meta.profile === 'string' ? created.meta.profile : undefined);
  // One redactor for the session and the services: it learns each Secrets Manager value when it is fetched.
  const redact = redactorFor(runbook);
  const services = composeServices({ runbook, runId, provider: 'aws', redactor: redact, ...(profile ? { profile } : {}) });
  const result = await runSession({
    store,
    runId,
    flow,
    services,
    runbook,
    info: runInfo(runbook, 'aws', services.names.targetCluster),
    renderer: await pickRenderer(opts),
    approver: headlessApprover({ approve: opts.approve, yes: opts.yes === true, by: opts.yes ? '--yes' : '--approve' }),
    redact,
    command: `rekey resume ${runId}`,
  });
  return result.exitCode;
}
