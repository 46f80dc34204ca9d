// `rekey rollback`: before the switch unfence and stop the task; after it rename back and unfence the old source.
import { join } from 'node:path';
import { replay } from '../engine/journal.js';
import { redactDeep } from '../engine/redact.js';
import { runFindings } from '../report/findings.js';
import { writeRunReports } from '../report/write.js';
import { RunMachine } from '../engine/run-machine.js';
import { openRehearsal, type RehearsalWorld } from '../rehearsal/world.js';
import { RunStore } from '../state/run-store.js';
import { loadRunbookOrExit } from './common.js';
import { redactorFor } from './compose.js';
import { JsonRenderer, LineRenderer } from '../present/headless.js';
import { flowFor, runContext } from './run-context.js';
import { createdOf } from './run-journal.js';
import { rollbackRun } from '../engine/executor.js';
import { appLogin } from '../rehearsal/workload/adopt.js';
import { probeWritable } from '../rehearsal/workload/write-load.js';
import { family } from '../steps/engine.js';

export async function rollbackCommand(runId: string, opts: { json?: boolean; profile?: string; stateDir: string }): Promise<number> {
  const store = new RunStore(opts.stateDir);
  const created = await createdOf(store, runId);
  const { runbook } = loadRunbookOrExit(created.runbookPath);
  const flow = flowFor(runbook);
  const held = await store.lock(runId, `rekey rollback ${runId}`).acquire();
  let world: RehearsalWorld | undefined;
  const journal = store.journal(runId);
  const redact = redactorFor(runbook);
  const machine = new RunMachine(runId, [], {}, { redact });
  const renderer = opts.json ? new JsonRenderer() : new LineRenderer();
  renderer.attach(machine);
  try {
    if (created.provider === 'rehearsal') world = await openRehearsal({ stateDir: join(store.runDir(runId), 'rehearsal'), runbook, fresh: false, log: (m: string) => renderer.notice(m) });
    const { services } = runContext({ runbook, runId, provider: created.provider, flow, redact, ...(world ? { cloud: world.cloud } : {}), ...(opts.profile ? { profile: opts.profile } : {}) });
    // The reports of the last runner would still tell its ending: rewrite them with the rollback's.
    const rewriteReports = async (): Promise<void> => {
      try {
        const after = replay(await journal.readAll(), flow.steps.map((s) => s.id));
        const summary = redactDeep({ ...runFindings(after) }, redact);
        writeRunReports(store.runDir(runId), { runId, runbook, state: after, summary, steps: flow.steps.map((s) => ({ id: s.id, title: s.title })) });
      } catch (error) {
        machine.log('warn', `could not rewrite the run report: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    // The engine undoes the succeeded (and started) steps newest first: rename back, unfence, stop the task.
    const outcome = await rollbackRun({ runId, flow, services, journal, machine, redact });
    await rewriteReports();
    if (outcome.status === 'failed') return 5;
    machine.log('info', 'rollback done: the source is unfenced and serves its original name');
    // In a rehearsal, prove it: the application login can write through the source's endpoint again.
    const probe = world
      ? await probeWritable({ ...world.sourceEndpoint(), engine: family(runbook), database: runbook.source.database, ...appLogin(runbook, family(runbook)) })
      : undefined;
    if (probe) machine.log(probe.writable ? 'info' : 'error', probe.writable ? 'the source endpoint accepts writes' : `the source endpoint refuses writes: ${probe.error ?? ''}`);
    if (opts.json) process.stdout.write(`${JSON.stringify({ type: 'summary', ok: true, runId, status: 'rolled_back', ...(probe ? { endpointWritable: probe.writable } : {}) })}\n`);
    return 0;
  } finally {
    await world?.close({ stopServers: true });
    await held.release();
  }
}
