// `rekey resume`: continue a run where its journal says it stopped, against the provider it started with.
import { headlessApprover } from '../engine/approvers.js';
import { RunStore } from '../state/run-store.js';
import { loadRunbookOrExit, pickRenderer } from './common.js';
import { rehearsalRun } from './rehearse.js';
import { checkApprovals, flowFor, runContext, runInfo } from './run-context.js';
import { createdOf } from './run-journal.js';
import { awsEnding } from './ending.js';
import { runSession } from './session.js';

export interface ResumeOptions {
  approve: string[];
  yes?: boolean;
  headless?: boolean;
  json?: boolean;
  profile?: string;
  stateDir: string;
}

/** Returns the exit code of the CLI contract. */
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
  const profile = opts.profile ?? (typeof created.meta.profile === 'string' ? created.meta.profile : undefined);
  const run = runContext({ runbook, runId, provider: 'aws', ...(profile ? { profile } : {}) });
  const renderer = await pickRenderer(opts);
  const result = await runSession({
    store,
    runId,
    flow: run.flow,
    services: run.services,
    runbook,
    info: runInfo(runbook, 'aws', run.services.names.targetCluster),
    renderer,
    approver: headlessApprover({ approve: opts.approve, yes: opts.yes === true, by: opts.yes ? '--yes' : '--approve' }),
    redact: run.redact,
    command: `rekey resume ${runId}`,
    finish: awsEnding(run, store, renderer),
  });
  return result.exitCode;
}
