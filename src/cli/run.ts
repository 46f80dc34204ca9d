// `rekey run`: a new run of a runbook against AWS (or, with --rehearsal, the local rehearsal cloud).
import { headlessApprover } from '../engine/approvers.js';
import { RunStore, newRunId } from '../state/run-store.js';
import { pickRenderer, type LoadedRunbook } from './common.js';
import { rehearsalRun } from './rehearse.js';
import { checkApprovals, runContext, runInfo } from './run-context.js';
import { createdRecord } from './run-journal.js';
import { awsEnding } from './ending.js';
import { runSession } from './session.js';

export interface RunOptions {
  headless?: boolean;
  approve: string[];
  yes?: boolean;
  json?: boolean;
  rehearsal?: boolean;
  profile?: string;
  stateDir: string;
}

/**
 * Runs the runbook main loaded (against AWS, every {env: NAME} secret was checked to be set then, not discovered
 * missing mid-run); `path` is the runbook as the user named it. Returns the exit code of the CLI contract.
 */
export async function runCommand(path: string, loaded: LoadedRunbook, opts: RunOptions): Promise<number> {
  const { runbook } = loaded;
  if (opts.rehearsal) {
    return rehearsalRun({ runbook, runbookPath: loaded.path, stateDir: opts.stateDir, json: opts.json, headless: opts.headless, approve: opts.approve, yes: opts.yes, autoApprove: false });
  }
  const runId = newRunId();
  const run = runContext({ runbook, runId, provider: 'aws', ...(opts.profile ? { profile: opts.profile } : {}) });
  checkApprovals(run.flow, opts.approve);
  const renderer = await pickRenderer(opts);
  const store = new RunStore(opts.stateDir);
  const result = await runSession({
    store,
    runId,
    flow: run.flow,
    services: run.services,
    runbook,
    created: createdRecord(runId, path, runbook, run.flow, 'aws', opts.profile ? { profile: opts.profile } : {}),
    info: runInfo(runbook, 'aws', run.services.names.targetCluster),
    renderer,
    approver: headlessApprover({ approve: opts.approve, yes: opts.yes === true, by: opts.yes ? '--yes' : '--approve' }),
    redact: run.redact,
    command: `rekey run ${path}`,
    // After exit 5 or 130: does the source take the application's writes again? (See ending.ts.)
    finish: awsEnding(run, store, renderer),
  });
  return result.exitCode;
}
