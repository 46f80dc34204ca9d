// `rekey rehearse` (and `run --rehearsal`, and resuming either): the runbook against the local rehearsal
// cloud with a live write load, then proof that every acknowledged write arrived exactly once.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { headlessApprover } from '../engine/approvers.js';
import type { RunMachine } from '../engine/run-machine.js';
import { AdoptedSourceRefusedError, openRehearsalSession } from '../rehearsal/session.js';
import type { Runbook } from '../runbook/schema.js';
import { RunStore, newRunId } from '../state/run-store.js';
import { CliError, isHeadless, loadRunbookOrExit, packageRoot, pickRenderer } from './common.js';
import { checkApprovals, flowFor, runContext, runInfo } from './run-context.js';
import { createdRecord } from './run-journal.js';
import { redactorFor } from './compose.js';
import { runSession } from './session.js';
import type { Renderer } from '../present/renderer.js';
import { RunLockedError, type HeldLock } from '../engine/lock.js';
import { replay } from '../engine/journal.js';
import type { Flow } from '../engine/types.js';
import { fenceOfJournal, unwritableAdvice } from '../steps/fence.js';
import { family as familyOf, type Family } from '../steps/engine.js';
import type { RekeyServices } from '../steps/services.js';

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
  checkApprovals(flowFor(o.runbook), o.approve);
  const store = new RunStore(o.stateDir);
  const resuming = o.resumeRunId !== undefined;
  const runId = o.resumeRunId ?? newRunId();
  const runDir = store.create(runId);
  const renderer = await pickRenderer(o);
  // One runner per run, checked before anything of the run is opened: a second runner touches nothing.
  const held = await takeRunLock(store, runId, resuming ? `rekey resume ${runId}` : `rekey rehearse ${o.runbookPath}`, renderer);
  if (!held) return 1;
  try {
    return await rehearsalLocked(o, store, runId, renderer, held);
  } catch (err) {
    // A fresh rehearsal that failed before its journal began leaves no run folder behind (status could not show it).
    if (!resuming && !existsSync(join(runDir, 'journal.jsonl'))) {
      await held.release();
      rmSync(runDir, { recursive: true, force: true });
    }
    throw err;
  } finally {
    await held.release();
  }
}

async function rehearsalLocked(o: RehearsalRunOptions, store: RunStore, runId: string, renderer: Renderer, held: HeldLock): Promise<number> {
  const { runbook } = o;
  const resuming = o.resumeRunId !== undefined;
  const runDir = store.runDir(runId);
  const flow = flowFor(runbook);
  const family = familyOf(runbook);
  const writesPerSecond = o.load ?? runbook.rehearsal?.load.writesPerSecond ?? 100;

  const rehearsal = await openRehearsalSession({ runbook, runDir, runId, resuming, writesPerSecond, notice: (m: string) => renderer.notice(m) }).catch((err: unknown) => {
    // A refused adopted source is a preflight failure (exit 4); nothing was started.
    if (err instanceof AdoptedSourceRefusedError) throw new CliError(redactorFor(runbook)(err.message), 4);
    throw err;
  });
  let ok = false;
  try {
    rehearsal.startLoad();
    const run = runContext({ runbook, runId, provider: 'rehearsal', flow, cloud: rehearsal.cloud, ...(rehearsal.passfile !== undefined ? { passfile: rehearsal.passfile } : {}) });
    const approver = o.autoApprove
      ? headlessApprover({ approve: [], yes: true, by: 'rehearsal' })
      : headlessApprover({ approve: o.approve ?? [], yes: o.yes === true, by: o.yes ? '--yes' : '--approve' });
    const result = await runSession({
      held,
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
        const { summary: verdict, writesOk, verifyError } = await rehearsal.finish();
        const writable = verdict.endpointWritable;
        // Truthful ending: the application's own login must be able to write through the source's endpoint.
        const unwritable = writable ? undefined : await unwritableEnding(store, runId, flow, family);
        if (unwritable) {
          renderer.error(
            `the source endpoint refuses the application's writes (${verdict.endpointWriteError ?? 'no detail'})` +
              (unwritable.stillFenced.length > 0 ? `; fenced by this run: ${unwritable.stillFenced.join(', ')}. To undo by hand: ${unwritable.undo.join(' ')}` : ''),
          );
        }
        const summary = { ...verdict, ...(unwritable ? { ...unwritable, next: `the source refuses writes: rekey rollback ${runId} lifts the fence (or run the undo statements)` } : {}) };
        if (verifyError !== undefined) renderer.error(verifyError);
        // A finished rehearsal gives an adopted database back its logins and slots (the old source stays fenced on AWS).
        if (outcome.status === 'succeeded' && runbook.rehearsal?.source.url !== undefined) {
          try {
            const advice = await unwritableEnding(store, runId, flow, family);
            const did = await rehearsal.restoreAdopted(advice.undo, run.services.names.slot);
            if (did.length > 0) renderer.notice(`the adopted database is as before: ${did.join('; ')}`);
          } catch (error) {
            renderer.error(`could not give the adopted database back its logins and slots: ${redactorFor(runbook)(error instanceof Error ? error.message : String(error))}`);
          }
        }
        ok = outcome.status === 'succeeded' && writesOk && writable;
        // Never ok:true while the probe failed: a run that ended with the endpoint refusing writes exits non-zero.
        return { summary, ...(outcome.status === 'succeeded' && !(writesOk && writable) ? { exitCode: 1 } : {}) };
      },
    });
    return result.exitCode;
  } finally {
    await rehearsal.close({ removeServers: ok && !o.keep });
  }
}

/** The run lock, or undefined (after saying who holds it) when another live runner has it. */
async function takeRunLock(store: RunStore, runId: string, command: string, renderer: Renderer): Promise<HeldLock | undefined> {
  try {
    return await store.lock(runId, command).acquire();
  } catch (err) {
    if (!(err instanceof RunLockedError)) throw err;
    renderer.error(err.message);
    return undefined;
  }
}

/** Who this run fenced and how to undo it, from the journal: for an ending whose probe found the source unwritable. */
export async function unwritableEnding(store: RunStore, runId: string, flow: Flow<RekeyServices>, fam: Family): Promise<{ stillFenced: string[]; undo: string[] }> {
  const state = replay(await store.journal(runId).readAll(), flow.steps.map((s) => s.id));
  return unwritableAdvice(fenceOfJournal(state), fam);
}
