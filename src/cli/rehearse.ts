// `rekey rehearse` (and `run --rehearsal`, and resuming either): the runbook against the local rehearsal
// cloud with a live write load, then proof that every acknowledged write arrived exactly once.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { headlessApprover } from '../engine/approvers.js';
import type { RunMachine } from '../engine/run-machine.js';
import { openRehearsal } from '../rehearsal/world.js';
import { seedPostgresDemo } from '../rehearsal/seed.js';
import { seedMysqlDemo } from '../rehearsal/seed-mysql.js';
import { adoptedSource, appLogin, prepareAdoptedSource, rehearsalSecret } from '../rehearsal/adopt.js';
import { probeWritable, startWriteLoad, verifyWrites, type WriteLoad } from '../rehearsal/write-load.js';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { isInstance } from '../steps/engine.js';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import type { Runbook } from '../runbook/schema.js';
import type { Cloud } from '../aws/cloud.js';
import { RunStore, newRunId } from '../state/run-store.js';
import { isHeadless, loadRunbookOrExit, packageRoot, pickRenderer } from './common.js';
import { composeServices, redactorFor } from './compose.js';
import { flowFor, runInfo } from './run-context.js';
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

function engineFamily(runbook: Runbook): 'postgres' | 'mysql' {
  return runbook.source.engine.includes('postgres') ? 'postgres' : 'mysql';
}

export async function rehearsalRun(o: RehearsalRunOptions): Promise<number> {
  const { runbook } = o;
  const store = new RunStore(o.stateDir);
  const resuming = o.resumeRunId !== undefined;
  const runId = o.resumeRunId ?? newRunId();
  const runDir = store.create(runId);
  const worldDir = join(runDir, 'rehearsal');
  const flow = flowFor(runbook);
  const renderer = await pickRenderer(o);
  const family = engineFamily(runbook);
  const writesPerSecond = o.load ?? runbook.rehearsal?.load.writesPerSecond ?? 100;
  const writesLog = join(worldDir, 'writes.log');
  // On an adopted database the write load's `app` and the runbook's user may need passwords (see adopt.ts).
  const app = appLogin(runbook, family);
  const sourcePassword = rehearsalSecret(runbook, runbook.source.password);

  renderer.notice(`${resuming ? 'reopening' : 'starting'} the rehearsal cloud in ${worldDir}`);
  const world = await openRehearsal({ stateDir: worldDir, runbook, fresh: !resuming, log: (m: string) => renderer.notice(m) });
  const adoptUrl = runbook.rehearsal?.source.url;
  if (!resuming && adoptUrl === undefined) {
    const rows = runbook.rehearsal?.source.seedRows ?? 300_000;
    renderer.notice(`seeding the demo database "${runbook.source.database}" with ${rows} rows`);
    const seed = family === 'postgres' ? seedPostgresDemo : seedMysqlDemo;
    await seed(world.servers.source.adminUrl, { database: runbook.source.database, rows });
  } else if (!resuming && adoptUrl !== undefined) {
    renderer.notice(`adopting ${adoptUrl} as the source; adding the app login and rehearsal_writes for the write load`);
    await prepareAdoptedSource(adoptedSource(adoptUrl, family, runbook.source.database, runbook.rehearsal?.source.urlPasswordEnv), app.password);
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
        const summary = {
          engine: family,
          runbook: runbook.name,
          downtimeMs: stats?.longestUnavailableMs ?? 0,
          writes: { acknowledged: writes.acknowledged, lost: writes.lost, duplicated: writes.duplicated, errors: stats?.errors ?? 0, ...(verifyError !== undefined ? { verified: false, verifyError } : {}) },
          endpointWritable: probe.writable,
          ...(probe.error ? { endpointWriteError: probe.error } : {}),
          switched: keyAtEndpoint?.isNew ?? false,
          ...((writes.lost ?? 0) > 0 ? { lostSample: writes.lostSample } : {}),
          ...((writes.duplicated ?? 0) > 0 ? { duplicatedSample: writes.duplicatedSample } : {}),
        };
        if (verifyError !== undefined) renderer.error(verifyError);
        const writesOk = writes.lost === 0 && writes.duplicated === 0;
        ok = outcome.status === 'succeeded' && writesOk;
        return { summary, ...(outcome.status === 'succeeded' && !writesOk ? { exitCode: 1 } : {}) };
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

/** Which key encrypts the cluster (or instance) that now answers to the source identifier. */
async function keyServingEndpoint(cloud: Cloud, runbook: Runbook): Promise<{ keyArn: string | undefined; isNew: boolean }> {
  const keyArn = isInstance(runbook)
    ? (await cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: runbook.source.identifier }))).DBInstances?.[0]?.KmsKeyId
    : (await cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: runbook.source.identifier }))).DBClusters?.[0]?.KmsKeyId;
  const newKey = await cloud.kms.send(new DescribeKeyCommand({ KeyId: runbook.target.kmsKeyId }));
  return { keyArn, isNew: keyArn !== undefined && keyArn === newKey.KeyMetadata?.Arn };
}

/** `{tables, mismatched}` from a validate step's output, whatever its exact shape. */
