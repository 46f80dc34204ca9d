// One rehearsal, around the run the CLI drives: open (or reopen) the rehearsal cloud, seed the demo database or
// adopt rehearsal.source.url, run the live write load through the source's endpoint, then prove every acknowledged
// write arrived exactly once and say which key serves the endpoint. The CLI parses, calls and renders; this owns
// what happens in the rehearsal cloud.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';
import type { Runbook } from '../runbook/schema.js';
import { isInstanceEngine } from './core.js';
import { openRehearsal } from './world.js';
import type { RehearsalWorld } from './world.js';
import { adoptedSource, appLogin, prepareAdoptedSource, rehearsalSecret, restoreAdoptedSource } from './workload/adopt.js';
import { seedMysqlDemo } from './workload/seed-mysql.js';
import { seedPostgresDemo } from './workload/seed.js';
import { probeWritable, startWriteLoad, verifyWrites, windowOfJournals } from './workload/write-load.js';
import type { WriteLoad } from './workload/write-load.js';
import { readVerdict, startReadLoad } from './workload/read-load.js';
import type { ReadLoad, ReadTargetStats } from './workload/read-load.js';

/** What opening a rehearsal session needs. */
export interface RehearsalSessionOptions {
  runbook: Runbook;
  /** The run's directory: the rehearsal cloud lives in its `rehearsal` sub-folder. */
  runDir: string;
  /** Tags the write load's rows. */
  runId: string;
  /** Reopen the cloud of an interrupted run (no seeding, no adoption) instead of starting a fresh one. */
  resuming: boolean;
  /** Writes per second of the live load; 0 runs none. */
  writesPerSecond: number;
  /** Progress lines (never secrets). */
  notice: (msg: string) => void;
}

/** Where the load's figures go while the run lasts (the run machine's `metric`). */
export interface MetricSink {
  metric(name: string, value: number): void;
}

/** The rehearsal's verdict on its write load, as the run summary shows it. */
export interface RehearsalSummary extends Record<string, unknown> {
  engine: 'postgres' | 'mysql';
  /** The runbook's strategy (dms-cdc, native, blue-green, ...). */
  strategy: string;
  runbook: string;
  /** The longest write-unavailable window over every runner of the run (the shared write log). */
  downtimeMs: number;
  /** Set when that window lies between two runners' loads: a runner died (or stopped) inside it. */
  windowSpansCrash?: true;
  /** How many runners' loads wrote to the log, when more than one. */
  runners?: number;
  writes: { acknowledged: number; lost: number | null; duplicated: number | null; errors: number; verified?: false; verifyError?: string };
  endpointWritable: boolean;
  endpointWriteError?: string;
  switched: boolean;
  lostSample?: string[];
  duplicatedSample?: string[];
  /** Aurora readers or custom endpoints rehearsed: the reads through them, failed, and served by the old cluster after the switch began. */
  reads?: { ok: number; failed: number; servedByOldAfterSwitch: number; byEndpoint: Record<string, { ok: number; failed: number; servedByOldAfterSwitch: number }> };
}

/** What `finish` found. */
export interface RehearsalVerdict {
  summary: RehearsalSummary;
  /** No acknowledged write lost or duplicated (false too when the check could not run). */
  writesOk: boolean;
  /** Why the acknowledged writes could not be checked, if they could not. */
  verifyError?: string;
}

/** An open rehearsal: the cloud, the load, the verdict, the teardown. */
export interface RehearsalSession {
  /** The fake AWS clients the run is composed with. */
  cloud: Cloud;
  /** The rehearsal cloud directory. */
  worldDir: string;
  /** The password file of an adopted source's passwords (RehearsalWorld.passfile), for the run's services. */
  passfile?: string;
  /** Start the write load (when writesPerSecond > 0). */
  startLoad(): void;
  /** Report the load's figures to `sink` every second until the load stops. */
  reportLoadTo(sink: MetricSink): void;
  /** Stop the load, then verify the writes, probe the endpoint and read which key serves it. */
  finish(): Promise<RehearsalVerdict>;
  /**
   * After a finished rehearsal on an adopted database: give it back the logins the fence locked (`undoSql`) and the
   * slots the rehearsal left (`slot` and its own `rh_` ones). Returns what it did; nothing without an adopted source.
   */
  restoreAdopted(undoSql: readonly string[], slot: string): Promise<string[]>;
  /** Stop the load, close the cloud and its servers; `removeServers` deletes the servers' data afterwards. */
  close(opts: { removeServers: boolean }): Promise<void>;
}

/** The adopted source (rehearsal.source.url) refused the preparation: nothing of the rehearsal was started. */
export class AdoptedSourceRefusedError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot use the adopted source ${url}: ${reason}`);
    this.name = 'AdoptedSourceRefusedError';
  }
}

/** The engine family of a runbook's source. */
export function engineFamily(runbook: Runbook): 'postgres' | 'mysql' {
  return runbook.source.engine.includes('postgres') ? 'postgres' : 'mysql';
}

/** Open (or reopen) the rehearsal cloud under `runDir`, and seed or adopt the source on a fresh start. */
export async function openRehearsalSession(o: RehearsalSessionOptions): Promise<RehearsalSession> {
  const { runbook, notice } = o;
  const worldDir = join(o.runDir, 'rehearsal');
  const family = engineFamily(runbook);
  const writesLog = join(worldDir, 'writes.log');
  // On an adopted database the write load's `app` and the runbook's user may need passwords (see workload/adopt.ts).
  const app = appLogin(runbook, family);
  const sourcePassword = rehearsalSecret(runbook, runbook.source.password);

  const adoptUrl = runbook.rehearsal?.source.url;
  const adopted = adoptUrl !== undefined ? adoptedSource(adoptUrl, family, runbook.source.database, runbook.rehearsal?.source.urlPasswordEnv) : undefined;
  if (!o.resuming && adoptUrl !== undefined && adopted) {
    // Before any server starts: a refused login leaves nothing running (the CLI makes it a preflight failure).
    notice(`adopting ${adoptUrl} as the source; adding the app login and rehearsal_writes for the write load`);
    try {
      await prepareAdoptedSource(adopted, app.password);
    } catch (err) {
      throw new AdoptedSourceRefusedError(adoptUrl, err instanceof Error ? err.message : String(err));
    }
  }
  notice(`${o.resuming ? 'reopening' : 'starting'} the rehearsal cloud in ${worldDir}`);
  const world = await openRehearsal({ stateDir: worldDir, runbook, fresh: !o.resuming, log: notice });
  if (!o.resuming && adoptUrl === undefined) {
    const rows = runbook.rehearsal?.source.seedRows ?? 300_000;
    notice(`seeding the demo database "${runbook.source.database}" with ${rows} rows`);
    const seed = family === 'postgres' ? seedPostgresDemo : seedMysqlDemo;
    await seed(world.servers.source.adminUrl, { database: runbook.source.database, rows }).catch(async (err: unknown) => {
      await world.close({ stopServers: true });
      throw err;
    });
  }

  let load: WriteLoad | undefined;
  let reads: ReadLoad | undefined;
  let readStats: ReadTargetStats[] | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const stopLoad = async (): Promise<void> => {
    if (ticker) clearInterval(ticker);
    await load?.stop();
    if (reads) readStats = await reads.stop();
    reads = undefined;
  };

  return {
    cloud: world.cloud,
    worldDir,
    ...(world.passfile !== undefined ? { passfile: world.passfile } : {}),
    startLoad() {
      if (o.writesPerSecond > 0) {
        load = startWriteLoad({ endpoint: () => world.sourceEndpoint(), database: runbook.source.database, ...app, writesPerSecond: o.writesPerSecond, journalPath: writesLog, engine: family, runId: o.runId });
      }
      // Aurora readers or custom endpoints: an application reading through the reader endpoint and each custom endpoint.
      const topo = runbook.rehearsal?.source;
      if (topo && (topo.readers > 0 || topo.customEndpoints.length > 0)) {
        const id = runbook.source.identifier;
        reads = startReadLoad({
          targets: [
            { name: 'reader endpoint', endpoint: () => world.readerEndpoint(id) },
            ...topo.customEndpoints.map((e) => ({ name: `custom endpoint ${e.name}`, endpoint: () => world.customEndpoint(e.name) })),
          ],
          engine: family, database: runbook.source.database, ...app, readsPerSecond: 10,
        });
      }
    },
    reportLoadTo(sink) {
      ticker = setInterval(() => {
        if (!load) return;
        const s = load.stats();
        sink.metric('load.acknowledged', s.acknowledged);
        sink.metric('load.errors', s.errors);
        sink.metric('load.perSecond', s.perSecond);
      }, 1000);
      ticker.unref();
    },
    async finish() {
      await stopLoad();
      return verdict(world, runbook, { load, family, writesLog, app, sourcePassword, ...(readStats ? { readStats } : {}) });
    },
    async restoreAdopted(undoSql, slot) {
      return adopted ? restoreAdoptedSource(adopted, undoSql, slot) : [];
    },
    async close({ removeServers }) {
      await stopLoad();
      await world.close({ stopServers: true });
      if (removeServers) {
        rmSync(join(worldDir, 'servers'), { recursive: true, force: true });
        // The rehearsal's snapshots are full dumps of the demo data: deleted with the servers (README: the data is deleted).
        rmSync(join(worldDir, 'cloud', 'snapshots'), { recursive: true, force: true });
      }
    },
  };
}

/** Verify the writes, probe the endpoint and read which key serves it (the load has stopped). */
async function verdict(
  world: RehearsalWorld,
  runbook: Runbook,
  o: { load: WriteLoad | undefined; family: 'postgres' | 'mysql'; writesLog: string; app: { user: string; password?: string }; sourcePassword: string | undefined; readStats?: ReadTargetStats[] },
): Promise<RehearsalVerdict> {
  const { load, family, app, sourcePassword } = o;
  const stats = load?.stats();
  const ep = world.sourceEndpoint();
  // A verification that cannot run proves nothing: the summary says so and the rehearsal fails (exit 1).
  let verifyError: string | undefined;
  const verified = load
    ? await verifyWrites({
      target: { ...ep, engine: family, database: runbook.source.database, user: runbook.source.username, ...(sourcePassword !== undefined ? { password: sourcePassword } : {}) },
      journalPaths: [o.writesLog],
    }).catch((error: unknown) => {
      verifyError = `could not check the acknowledged writes on ${runbook.source.identifier}: ${error instanceof Error ? error.message : String(error)}`;
      return undefined;
    })
    : { acknowledged: 0, lost: 0, duplicated: 0, lostSample: [], duplicatedSample: [] };
  const writes = verified ?? { acknowledged: stats?.acknowledged ?? 0, lost: null, duplicated: null, lostSample: [], duplicatedSample: [] };
  const probe = await probeWritable({ ...ep, engine: family, database: runbook.source.database, ...app });
  const keyAtEndpoint = await keyServingEndpoint(world.cloud, runbook).catch(() => undefined);
  const reads = o.readStats ? readsOf(world, runbook, o.readStats) : undefined;
  const summary: RehearsalSummary = {
    engine: family,
    strategy: runbook.strategy,
    runbook: runbook.name,
    // Over the whole run: the shared write log holds every runner's acknowledgements (a resumed run's too).
    ...wholeRunWindow(stats?.longestUnavailableMs ?? 0, o.writesLog),
    writes: { acknowledged: writes.acknowledged, lost: writes.lost, duplicated: writes.duplicated, errors: stats?.errors ?? 0, ...(verifyError !== undefined ? { verified: false as const, verifyError } : {}) },
    endpointWritable: probe.writable,
    ...(probe.error ? { endpointWriteError: probe.error } : {}),
    switched: keyAtEndpoint?.isNew ?? false,
    ...((writes.lost ?? 0) > 0 ? { lostSample: writes.lostSample } : {}),
    ...((writes.duplicated ?? 0) > 0 ? { duplicatedSample: writes.duplicatedSample } : {}),
    ...(reads ? { reads } : {}),
  };
  // A read the old, fenced cluster answered after the switch began is stale data served as current: the rehearsal fails.
  return { summary, writesOk: writes.lost === 0 && writes.duplicated === 0 && (reads?.servedByOldAfterSwitch ?? 0) === 0, ...(verifyError !== undefined ? { verifyError } : {}) };
}

/** The reads' verdict: the old cluster is the source record (never restored); the switch began when it was renamed away. */
function readsOf(world: RehearsalWorld, runbook: Runbook, stats: ReadTargetStats[]): NonNullable<RehearsalSummary['reads']> {
  const st = world.inspect();
  const old = Object.values(st.clusters).find((c) => c.restoredFrom === undefined && c.instance === undefined);
  const switchAt = st.events.find((e) => e.message.startsWith(`Renaming cluster from ${runbook.source.identifier} to `))?.at;
  return readVerdict(stats, old?.backend.port ?? -1, switchAt);
}

/** downtimeMs over every runner of the run, and whether the window spans a crash (or a stop) of the runner. */
function wholeRunWindow(thisRunnerMs: number, writesLog: string): { downtimeMs: number; windowSpansCrash?: true; runners?: number } {
  const logged = windowOfJournals([writesLog]);
  if (logged.runners <= 1 || logged.longestMs <= thisRunnerMs) return { downtimeMs: thisRunnerMs };
  return { downtimeMs: logged.longestMs, ...(logged.spansRunners ? { windowSpansCrash: true as const } : {}), runners: logged.runners };
}

/** Which key encrypts the cluster (or instance) that now answers to the source identifier. */
async function keyServingEndpoint(cloud: Cloud, runbook: Runbook): Promise<{ keyArn: string | undefined; isNew: boolean }> {
  const keyArn = isInstanceEngine(runbook.source.engine)
    ? (await cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: runbook.source.identifier }))).DBInstances?.[0]?.KmsKeyId
    : (await cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: runbook.source.identifier }))).DBClusters?.[0]?.KmsKeyId;
  const newKey = await cloud.kms.send(new DescribeKeyCommand({ KeyId: runbook.target.kmsKeyId }));
  return { keyArn, isNew: keyArn !== undefined && keyArn === newKey.KeyMetadata?.Arn };
}
