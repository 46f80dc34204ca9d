// `rekey rehearse` (and `run --rehearsal`, and resuming either): the runbook against the local rehearsal
// cloud with a live write load, then proof that every acknowledged write arrived exactly once.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { headlessApprover } from '../engine/approvers.js';
import type { RunMachine } from '../engine/run-machine.js';
import { openRehearsal } from '../rehearsal/world.js';
import { seedPostgresDemo } from '../rehearsal/seed.js';
import { seedMysqlDemo } from '../rehearsal/seed-mysql.js';
import { adoptedSource, appLogin, prepareAdoptedSource, rehearsalSecret, restoreAdoptedSource } from '../rehearsal/adopt.js';
import { probeWritable, startWriteLoad, verifyWrites, windowOfJournals, type WriteLoad } from '../rehearsal/write-load.js';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { isInstance } from '../steps/engine.js';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import type { Runbook } from '../runbook/schema.js';
import type { Cloud } from '../aws/cloud.js';
import { RunStore, newRunId } from '../state/run-store.js';
import { CliError, isHeadless, loadRunbookOrExit, packageRoot, pickRenderer } from './common.js';
import { composeServices, redactorFor } from './compose.js';
import { checkApprovals, createdRecord, flowFor, runInfo } from './run.js';
import { runSession } from './session.js';
import type { Renderer } from './renderers.js';
import { RunLockedError, type HeldLock } from '../engine/lock.js';
import { replay } from '../engine/journal.js';
import type { Flow } from '../engine/types.js';
import { fenceOfJournal, unwritableAdvice } from '../steps/fence.js';
import type { Family } from '../steps/engine.js';
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

function engineFamily(runbook: Runbook): 'postgres' | 'mysql' {
  return runbook.source.engine.includes('postgres') ? 'postgres' : 'mysql';
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
  const worldDir = join(runDir, 'rehearsal');
  const flow = flowFor(runbook);
  const family = engineFamily(runbook);
  const writesPerSecond = o.load ?? runbook.rehearsal?.load.writesPerSecond ?? 100;
  const writesLog = join(worldDir, 'writes.log');
  // On an adopted database the write load's `app` and the runbook's user may need passwords (see adopt.ts).
  const app = appLogin(runbook, family);
  const sourcePassword = rehearsalSecret(runbook, runbook.source.password);

  const adoptUrl = runbook.rehearsal?.source.url;
  if (!resuming && adoptUrl !== undefined) {
    // Before any server starts: a refused login is a preflight failure (exit 4) that leaves nothing running.
    renderer.notice(`adopting ${adoptUrl} as the source; adding the app login and rehearsal_writes for the write load`);
    try {
      await prepareAdoptedSource(adoptedSource(adoptUrl, family, runbook.source.database, runbook.rehearsal?.source.urlPasswordEnv), app.password);
    } catch (err) {
      throw new CliError(`cannot use the adopted source ${adoptUrl}: ${redactorFor(runbook)(err instanceof Error ? err.message : String(err))}`, 4);
    }
  }
  renderer.notice(`${resuming ? 'reopening' : 'starting'} the rehearsal cloud in ${worldDir}`);
  const world = await openRehearsal({ stateDir: worldDir, runbook, fresh: !resuming, log: (m: string) => renderer.notice(m) });
  if (!resuming && adoptUrl === undefined) {
    const rows = runbook.rehearsal?.source.seedRows ?? 300_000;
    renderer.notice(`seeding the demo database "${runbook.source.database}" with ${rows} rows`);
    const seed = family === 'postgres' ? seedPostgresDemo : seedMysqlDemo;
    await seed(world.servers.source.adminUrl, { database: runbook.source.database, rows }).catch(async (err: unknown) => {
      await world.close({ stopServers: true });
      throw err;
    });
  }
  let load: WriteLoad | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let ok = false;
  try {
    if (writesPerSecond > 0) {
      load = startWriteLoad({ endpoint: () => world.sourceEndpoint(), database: runbook.source.database, ...app, writesPerSecond, journalPath: writesLog, engine: family, runId });
    }
    const services = composeServices({ runbook, runId, provider: 'rehearsal', cloud: world.cloud });
    const approver = o.autoApprove
      ? headlessApprover({ approve: [], yes: true, by: 'rehearsal' })
      : headlessApprover({ approve: o.approve ?? [], yes: o.yes === true, by: o.yes ? '--yes' : '--approve' });
    const result = await runSession({
      held,
      store,
      runId,
      flow,
      services,
      runbook,
      ...(resuming ? {} : { created: createdRecord(runId, o.runbookPath, runbook, flow, 'rehearsal', { autoApprove: o.autoApprove, load: writesPerSecond }) }),
      info: { ...runInfo(runbook, 'rehearsal', services.names.targetCluster), oldKey: 'rehearsal source key' },
      renderer,
      approver,
      redact: redactorFor(runbook),
      command: resuming ? `rekey resume ${runId}` : `rekey rehearse ${o.runbookPath}`,
      onMachine: (machine: RunMachine) => {
        ticker = setInterval(() => {
          if (!load) return;
          const s = load.stats();
          machine.metric('load.acknowledged', s.acknowledged);
          machine.metric('load.errors', s.errors);
          machine.metric('load.perSecond', s.perSecond);
        }, 1000);
        ticker.unref();
      },
      finish: async (outcome) => {
        if (ticker) clearInterval(ticker);
        await load?.stop();
        const stats = load?.stats();
        const ep = world.sourceEndpoint();
        // A verification that cannot run proves nothing: the summary says so and the rehearsal fails (exit 1).
        let verifyError: string | undefined;
        const verified = load
          ? await verifyWrites({
            target: { ...ep, engine: family, database: runbook.source.database, user: runbook.source.username, ...(sourcePassword !== undefined ? { password: sourcePassword } : {}) },
            journalPaths: [writesLog],
          }).catch((error: unknown) => {
            verifyError = `could not check the acknowledged writes on ${runbook.source.identifier}: ${error instanceof Error ? error.message : String(error)}`;
            return undefined;
          })
          : { acknowledged: 0, lost: 0, duplicated: 0, lostSample: [], duplicatedSample: [] };
        const writes = verified ?? { acknowledged: stats?.acknowledged ?? 0, lost: null, duplicated: null, lostSample: [], duplicatedSample: [] };
        const probe = await probeWritable({ ...ep, engine: family, database: runbook.source.database, ...app });
        const keyAtEndpoint = await keyServingEndpoint(world.cloud, runbook).catch(() => undefined);
        // Truthful ending: the application's own login must be able to write through the source's endpoint.
        const unwritable = probe.writable ? undefined : await unwritableEnding(store, runId, flow, family);
        if (unwritable) {
          renderer.error(
            `the source endpoint refuses the application's writes (${probe.error ?? 'no detail'})` +
              (unwritable.stillFenced.length > 0 ? `; fenced by this run: ${unwritable.stillFenced.join(', ')}. To undo by hand: ${unwritable.undo.join(' ')}` : ''),
          );
        }
        const summary = {
          engine: family,
          runbook: runbook.name,
          // Over the whole run: the shared write log holds every runner's acknowledgements (a resumed run's too).
          ...wholeRunWindow(stats?.longestUnavailableMs ?? 0, writesLog),
          writes: { acknowledged: writes.acknowledged, lost: writes.lost, duplicated: writes.duplicated, errors: stats?.errors ?? 0, ...(verifyError !== undefined ? { verified: false, verifyError } : {}) },
          endpointWritable: probe.writable,
          ...(probe.error ? { endpointWriteError: probe.error } : {}),
          switched: keyAtEndpoint?.isNew ?? false,
          ...((writes.lost ?? 0) > 0 ? { lostSample: writes.lostSample } : {}),
          ...((writes.duplicated ?? 0) > 0 ? { duplicatedSample: writes.duplicatedSample } : {}),
          ...(unwritable ? { ...unwritable, next: `the source refuses writes: rekey rollback ${runId} lifts the fence (or run the undo statements)` } : {}),
        };
        if (verifyError !== undefined) renderer.error(verifyError);
        // A finished rehearsal gives an adopted database back its logins and slots (the old source stays fenced on AWS).
        if (outcome.status === 'succeeded' && adoptUrl !== undefined) {
          try {
            const advice = await unwritableEnding(store, runId, flow, family);
            const did = await restoreAdoptedSource(adoptedSource(adoptUrl, family, runbook.source.database, runbook.rehearsal?.source.urlPasswordEnv), advice.undo, services.names.slot);
            if (did.length > 0) renderer.notice(`the adopted database is as before: ${did.join('; ')}`);
          } catch (error) {
            renderer.error(`could not give the adopted database back its logins and slots: ${redactorFor(runbook)(error instanceof Error ? error.message : String(error))}`);
          }
        }
        const writesOk = writes.lost === 0 && writes.duplicated === 0;
        ok = outcome.status === 'succeeded' && writesOk && probe.writable;
        // Never ok:true while the probe failed: a run that ended with the endpoint refusing writes exits non-zero.
        return { summary, ...(outcome.status === 'succeeded' && !(writesOk && probe.writable) ? { exitCode: 1 } : {}) };
      },
    });
    return result.exitCode;
  } finally {
    if (ticker) clearInterval(ticker);
    await load?.stop();
    await world.close({ stopServers: true });
    if (ok && !o.keep) rmSync(join(worldDir, 'servers'), { recursive: true, force: true });
  }
}

/** downtimeMs over every runner of the run, and whether the window spans a crash (or a stop) of the runner. */
function wholeRunWindow(thisRunnerMs: number, writesLog: string): { downtimeMs: number; windowSpansCrash?: true; runners?: number } {
  const logged = windowOfJournals([writesLog]);
  if (logged.runners <= 1 || logged.longestMs <= thisRunnerMs) return { downtimeMs: thisRunnerMs };
  return { downtimeMs: logged.longestMs, ...(logged.spansRunners ? { windowSpansCrash: true as const } : {}), runners: logged.runners };
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

/** Which key encrypts the cluster (or instance) that now answers to the source identifier. */
async function keyServingEndpoint(cloud: Cloud, runbook: Runbook): Promise<{ keyArn: string | undefined; isNew: boolean }> {
  const keyArn = isInstance(runbook)
    ? (await cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: runbook.source.identifier }))).DBInstances?.[0]?.KmsKeyId
    : (await cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: runbook.source.identifier }))).DBClusters?.[0]?.KmsKeyId;
  const newKey = await cloud.kms.send(new DescribeKeyCommand({ KeyId: runbook.target.kmsKeyId }));
  return { keyArn, isNew: keyArn !== undefined && keyArn === newKey.KeyMetadata?.Arn };
}

/** `{tables, mismatched}` from a validate step's output, whatever its exact shape. */
