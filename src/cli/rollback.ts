// `rekey rollback`: before the switch unfence and stop the task; after it rename back and unfence the old source.
import { join } from 'node:path';
import { replay } from '../engine/journal.js';
import { redactDeep } from '../engine/redact.js';
import { runFindings } from '../report/findings.js';
import { writeRunReports } from '../report/write.js';
import { RunMachine } from '../engine/run-machine.js';
import { openRehearsal, type RehearsalWorld } from '../rehearsal/world.js';
import { RunStore } from '../state/run-store.js';
import { CliError, loadRunbookOrExit } from './common.js';
import { redactorFor } from './compose.js';
import { JsonRenderer, LineRenderer } from '../present/headless.js';
import { flowFor, runContext } from './run-context.js';
import { createdOf } from './run-journal.js';
import { probeSource, unwritableFields } from './ending.js';
import { rollbackRun } from '../engine/executor.js';
import { appLogin, rehearsalSecret } from '../rehearsal/workload/adopt.js';
import { probeWritable, verifyWrites } from '../rehearsal/workload/write-load.js';
import type { Runbook } from '../runbook/schema.js';
import { existsSync } from 'node:fs';
import { family } from '../steps/engine.js';
import { fenceOfJournal, StillFencedError, unwritableAdvice } from '../steps/fence.js';

/** The rehearsal's acknowledged writes checked on the source (lost/duplicated), or undefined without a write log. */
async function sourceWrites(world: RehearsalWorld, runbook: Runbook, runDir: string): Promise<{ acknowledged: number; lost: number; duplicated: number } | undefined> {
  const log = join(runDir, 'rehearsal', 'writes.log');
  if (!existsSync(log)) return undefined;
  const password = rehearsalSecret(runbook, runbook.source.password);
  const v = await verifyWrites({
    target: { ...world.sourceEndpoint(), engine: family(runbook), database: runbook.source.database, user: runbook.source.username, ...(password !== undefined ? { password } : {}) },
    journalPaths: [log],
  });
  return { acknowledged: v.acknowledged, lost: v.lost, duplicated: v.duplicated };
}

export async function rollbackCommand(runId: string, opts: { json?: boolean; discard?: boolean; profile?: string; stateDir: string }): Promise<number> {
  const store = new RunStore(opts.stateDir);
  const created = await createdOf(store, runId);
  const { runbook } = loadRunbookOrExit(created.runbookPath);
  // Refuse before touching anything when there is nothing left to roll back: a finished rehearsal deletes its servers.
  if (created.provider === 'rehearsal' && !existsSync(join(store.runDir(runId), 'rehearsal', 'servers'))) {
    throw new CliError(`nothing to roll back: the rehearsal servers of run ${runId} are gone (a successful rehearsal deletes them; rehearse with --keep to roll back afterwards)`, 2);
  }
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
    const run = runContext({ runbook, runId, provider: created.provider, flow, redact, ...(world ? { cloud: world.cloud } : {}), ...(world?.passfile !== undefined ? { passfile: world.passfile } : {}), ...(opts.profile ? { profile: opts.profile } : {}) });
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
    const summary = (ok: boolean, extra: Record<string, unknown>): void => {
      if (opts.json) process.stdout.write(`${JSON.stringify(redactDeep({ type: 'summary', ok, runId, status: ok ? 'rolled_back' : 'rollback_failed', exitCode: ok ? 0 : 5, ...extra }, redact))}\n`);
    };
    // Every fence record of the run (write-ahead), read before the rollback journals anything.
    const before = replay(await journal.readAll(), flow.steps.map((s) => s.id));
    const fenced = fenceOfJournal(before);
    const switched = before.attempts.has('switch');
    const failed = async (message: string, extra: Record<string, unknown>): Promise<number> => {
      await journal.append({ t: 'rollback', at: new Date().toISOString(), status: 'failed', message: redact(message) });
      machine.log('error', `rollback failed: ${message}`);
      await rewriteReports();
      summary(false, { error: message, ...extra, next: `fix what is named above, then run again: rekey rollback ${runId}` });
      return 5;
    };
    // The engine undoes the succeeded (and started) steps newest first: rename back, unfence, stop the task.
    const outcome = await rollbackRun({ runId, flow, services: run.services, journal, machine, redact, discard: opts.discard ?? false });
    await rewriteReports();
    if (outcome.status === 'failed') {
      const advice = unwritableAdvice(fenced, family(runbook));
      summary(false, {
        error: outcome.error.message,
        ...(outcome.cause instanceof StillFencedError ? { stillFenced: outcome.cause.fenced, undo: outcome.cause.undoSql } : advice.stillFenced.length > 0 ? { undo: advice.undo } : {}),
        next: `fix what is named above, then run again: rekey rollback ${runId}`,
      });
      return 5;
    }
    // In a rehearsal, prove it: the application login can write through the source's endpoint again.
    const probe = world
      ? await probeWritable({ ...world.sourceEndpoint(), engine: family(runbook), database: runbook.source.database, ...appLogin(runbook, family(runbook)) })
      : undefined;
    if (probe && !probe.writable) {
      const advice = unwritableAdvice(fenced, family(runbook));
      const undo = advice.undo.length > 0 ? ` To undo by hand: ${advice.undo.join(' ')}` : '';
      return failed(`the source endpoint refuses writes after the rollback: ${probe.error ?? 'no detail'}.${undo}`, { endpointWritable: false, ...advice });
    }
    // On AWS: through the source's name, the writer principals the journal recorded must be able to write again.
    let awsWritable: boolean | undefined;
    if (!world && fenced) {
      let found;
      try {
        found = await probeSource(run, before);
      } catch (error) {
        return failed(`could not check that the source takes writes again: ${error instanceof Error ? error.message : String(error)}`, {});
      }
      if (!found.writable) {
        const { line, fields } = unwritableFields(found, runId);
        return failed(`after the rollback, ${line}`, fields);
      }
      awsWritable = true;
      machine.log('info', `the source takes writes: ${found.checked.join(', ') || 'its writers'} can log in`);
    }
    // Before any switch, every write the rehearsal's load acknowledged (all runners) must be on the source once.
    const writes = world && !switched ? await sourceWrites(world, runbook, store.runDir(runId)) : undefined;
    machine.log('info', 'rollback done: the source is unfenced and serves its original name');
    if (probe) machine.log('info', 'the source endpoint accepts writes');
    summary(true, { ...(probe || awsWritable ? { endpointWritable: true } : {}), ...(writes ? { writes } : {}), undone: outcome.undone, kept: outcome.kept.map((k) => `${k.stepId}: ${k.what}`) });
    return 0;
  } finally {
    await world?.close({ stopServers: true });
    await held.release();
  }
}
