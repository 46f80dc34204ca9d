// `rekey rehearse` (and `run --rehearsal`, and resuming either): the runbook against the local rehearsal
// cloud with a live write load, then proof that every acknowledged write arrived exactly once.
import { join } from 'node:path';
import { headlessApprover } from '../engine/approvers.js';
import type { RunMachine } from '../engine/run-machine.js';
import { openRehearsalSession } from '../rehearsal/session.js';
import type { Runbook } from '../runbook/schema.js';
import { RunStore, newRunId } from '../state/run-store.js';
import { isHeadless, loadRunbookOrExit, packageRoot, pickRenderer } from './common.js';
import { flowFor, runContext, runInfo } from './run-context.js';
import { createdRecord } from './run-journal.js';
import { runSession } from './session.js';

export interface RehearsalRunOptions {
  runbook: Runbook;
  runbookPath: string;
  stateDir: string;
  json?: boolean | undefined;
  headless?: boolean | undefined;
  approve?: string[] | undefined;
  yes?: boolean | undefined;
  /** Headless rehearsals approve their own gates (journaled as approved by the rehearsal). */
  autoApprove: boolean;
  resumeRunId?: string;
  /** Writes per second (overrides the runbook). */
  load?: number;
  keep?: boolean | undefined;
}

export interface RehearseOptions {
  engine: 'postgres' | 'mysql';
  load?: number;
  stateDir: string;
  json?: boolean;
  headless?: boolean;
  keep?: boolean;
}

export function bundledRunbook(engine: 'postgres' | 'mysql'): string {
  return join(packageRoot(), 'runbooks', engine === 'mysql' ? 'rehearsal-mysql.yaml' : 'rehearsal-postgres.yaml');
}

export async function rehearseCommand(path: string | undefined, opts: RehearseOptions): Promise<number> {
  const { runbook, path: abs } = loadRunbookOrExit(path ?? bundledRunbook(opts.engine));
  return rehearsalRun({
    runbook,
    runbookPath: abs,
    stateDir: opts.stateDir,
    json: opts.json,
    headless: opts.headless,
    autoApprove: isHeadless(opts),
    keep: opts.keep,
    ...(opts.load !== undefined ? { load: opts.load } : {}),
  });
}

export async function rehearsalRun(o: RehearsalRunOptions): Promise<number> {
  const { runbook } = o;
  const store = new RunStore(o.stateDir);
  const resuming = o.resumeRunId !== undefined;
  const runId = o.resumeRunId ?? newRunId();
  const runDir = store.create(runId);
  const flow = flowFor(runbook);
  const renderer = await pickRenderer(o);
  const writesPerSecond = o.load ?? runbook.rehearsal?.load.writesPerSecond ?? 100;

  const rehearsal = await openRehearsalSession({ runbook, runDir, runId, resuming, writesPerSecond, notice: (m: string) => renderer.notice(m) });
  let ok = false;
  try {
    rehearsal.startLoad();
    const run = runContext({ runbook, runId, provider: 'rehearsal', flow, cloud: rehearsal.cloud });
    const approver = o.autoApprove
      ? headlessApprover({ approve: [], yes: true, by: 'rehearsal' })
      : headlessApprover({ approve: o.approve ?? [], yes: o.yes === true, by: o.yes ? '--yes' : '--approve' });
    const result = await runSession({
      store,
      runId,
      flow,
      services: run.services,
      runbook,
      ...(resuming ? {} : { created: createdRecord(runId, o.runbookPath, runbook, flow, 'rehearsal', { autoApprove: o.autoApprove, load: writesPerSecond }) }),
      info: { ...runInfo(runbook, 'rehearsal', run.services.names.targetCluster), oldKey: 'rehearsal source key' },
      renderer,
      approver,
      redact: run.redact,
      command: resuming ? `rekey resume ${runId}` : `rekey rehearse ${o.runbookPath}`,
      onMachine: (machine: RunMachine) => rehearsal.reportLoadTo(machine),
      finish: async (outcome) => {
        const { summary, writesOk, verifyError } = await rehearsal.finish();
        if (verifyError !== undefined) renderer.error(verifyError);
        ok = outcome.status === 'succeeded' && writesOk;
        return { summary, ...(outcome.status === 'succeeded' && !writesOk ? { exitCode: 1 } : {}) };
      },
    });
    return result.exitCode;
  } finally {
    await rehearsal.close({ removeServers: ok && !o.keep });
  }
}
