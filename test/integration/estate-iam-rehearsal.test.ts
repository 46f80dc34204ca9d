// The IAM policy cannot drift from the code, checked on the rehearsal cloud: whole flows against real local
// PostgreSQL/MariaDB servers, every AWS call recorded at the Cloud's send, each one allowed by the policy
// `rekey iam-policy` makes for the runbook. dms-cdc on Aurora PostgreSQL with after.copySnapshotTo (so the
// cross-Region copy step runs too); native and blue-green on every engine the bundled rehearsal runbooks cover
// (Aurora PostgreSQL and MySQL clusters, RDS PostgreSQL and MySQL instances).
import { afterEach, describe, expect, test } from '@jest/globals';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { Cloud } from '../../src/aws/cloud.js';
import { composeServices } from '../../src/cli/compose.js';
import { headlessApprover } from '../../src/engine/approvers.js';
import { executeFlow } from '../../src/engine/executor.js';
import { MemoryJournalStore } from '../../src/engine/journal.js';
import { RunMachine } from '../../src/engine/run-machine.js';
import { commandResources, iamPolicy, isAllowed, policyProblems } from '../../src/estate/iam-policy.js';
import { buildFlow } from '../../src/flows/index.js';
import { seedMysqlDemo } from '../../src/rehearsal/workload/seed-mysql.js';
import { seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { openRehearsal, type RehearsalWorld } from '../../src/rehearsal/world.js';
import { runbookSchema, type Runbook } from '../../src/runbook/schema.js';
import { testDir } from '../helpers/servers.js';

interface Sent {
  service: string;
  name: string;
  region: string;
  input: Record<string, unknown>;
}

/** The cloud with every send recorded (in every Region it reaches). */
function recording(cloud: Cloud, log: Sent[]): Cloud {
  const wrap = (service: 'rds' | 'kms' | 'dms' | 'cloudwatch' | 'autoscaling') => ({
    send: (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      log.push({ service: service === 'autoscaling' ? 'application-autoscaling' : service, name: command.constructor.name.replace(/Command$/, ''), region: cloud.region, input: command.input });
      return (cloud[service].send as (c: unknown) => Promise<unknown>)(command);
    },
  });
  return {
    provider: cloud.provider, region: cloud.region,
    rds: wrap('rds'), kms: wrap('kms'), dms: wrap('dms'), cloudwatch: wrap('cloudwatch'), autoscaling: wrap('autoscaling'),
    inRegion: (r: string) => recording(cloud.inRegion!(r), log),
  };
}

let world: RehearsalWorld | undefined;
afterEach(async () => {
  await world?.close({ stopServers: true });
  world = undefined;
}, 60_000);

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Runs the whole flow of a bundled rehearsal runbook (edited) in-process, recording every AWS call. */
async function recordedRun(file: string, name: string, edit: (doc: Doc) => void): Promise<{ runbook: Runbook; log: Sent[]; oldKey: string }> {
  const doc = parseDocument(readFileSync(resolve('runbooks', file), 'utf8')).toJS() as Doc;
  doc.rehearsal.source.seedRows = 2000;
  doc.rehearsal.delays = { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 };
  doc.cutover.sustainSeconds = 1;
  edit(doc);
  const runbook = runbookSchema.parse(doc);
  world = await openRehearsal({ stateDir: testDir(name), runbook, fresh: true });
  const seed = runbook.source.engine.includes('postgres') ? seedPostgresDemo : seedMysqlDemo;
  await seed(world.servers.source.adminUrl, { database: runbook.source.database, rows: 2000 });
  // The source's key before the run (an RDS instance is modelled inside a cluster record) (the switch moves the source's name onto the new key).
  const before = world.inspect();
  const src = runbook.source.identifier;
  const oldKey = (before.clusters[src] ?? before.clusters[before.instances[src]?.clusterIdentifier ?? ''])?.kmsKeyArn;
  if (oldKey === undefined) throw new Error(`no source ${src} in the rehearsal registry`);
  const log: Sent[] = [];
  const runId = 'iam00001';
  const flow = buildFlow(runbook);
  const services = composeServices({ runbook, runId, provider: 'rehearsal', cloud: recording(world.cloud, log) });
  const outcome = await executeFlow({
    runId, flow, services, journal: new MemoryJournalStore(),
    machine: new RunMachine(runId, flow.steps.map((s) => ({ id: s.id, title: s.title, hasGate: s.gate !== undefined }))),
    approver: headlessApprover({ approve: [], yes: true, by: 'test' }), signal: new AbortController().signal,
  });
  expect(outcome).toEqual({ status: 'succeeded' });
  return { runbook, log, oldKey };
}

/** Every recorded call the policy (with the old key named, and without) does not allow. */
function uncovered(runbook: Runbook, log: Sent[], oldKey: string): { action: string; resources: string[] }[] {
  const account = runbook.account ?? '123456789012';
  return [{ oldKeyArn: oldKey }, {}].flatMap((opts) => {
    const { policy } = iamPolicy(runbook, opts);
    expect(policyProblems(policy)).toEqual([]);
    return log
      .map((c) => ({ action: `${c.service}:${c.name}`, resources: commandResources(c.service, c.name, c.input, c.region, account) }))
      .filter((c) => !isAllowed(policy, c.action, c.resources));
  });
}

test('every AWS call of the dms-cdc aurora-postgresql flow on the rehearsal cloud is allowed by the generated policy', async () => {
  const { runbook, log, oldKey } = await recordedRun('rehearsal-postgres.yaml', 'estate-iam', (doc) => {
    doc.rehearsal.keys.push({ id: 'alias/orders-dr', region: 'us-west-2' });
    doc.after = { copySnapshotTo: [{ region: 'us-west-2', kmsKeyId: 'alias/orders-dr' }] };
    // The Aurora topology too: a reader, a custom endpoint on it, Aurora Auto Scaling.
    doc.rehearsal.source.readers = 1;
    doc.rehearsal.source.customEndpoints = [{ name: 'orders-analytics', staticMembers: ['orders-db-reader-1'] }];
    doc.rehearsal.source.autoScaling = { minCapacity: 1, maxCapacity: 3 };
  });
  for (const n of ['CreateDBInstance', 'CreateDBClusterEndpoint', 'DeleteDBClusterEndpoint', 'RegisterScalableTarget', 'PutScalingPolicy']) expect(log.map((c) => c.name)).toContain(n);
  expect(log.some((c) => c.name === 'CopyDBClusterSnapshot' && c.region === 'us-west-2' && String(c.input.SourceDBClusterSnapshotIdentifier).startsWith('arn:aws:rds:us-east-1:'))).toBe(true);
  expect(uncovered(runbook, log, oldKey)).toEqual([]);
  expect(new Set(log.map((c) => `${c.service}:${c.name}`)).size).toBeGreaterThan(25);
}, 300_000);

const ENGINES = ['rehearsal-postgres.yaml', 'rehearsal-mysql.yaml', 'rehearsal-rds-postgres.yaml', 'rehearsal-rds-mysql.yaml'];

describe.each(ENGINES)('strategy native, %s', (file) => {
  test('every AWS call of the flow is allowed by the generated policy, which names nothing of DMS or CloudWatch', async () => {
    const { runbook, log, oldKey } = await recordedRun(file, `estate-iam-native-${file.replace('.yaml', '')}`, (doc) => {
      doc.strategy = 'native';
      delete doc.dms;
    });
    expect(log.filter((c) => c.service === 'dms' || c.service === 'cloudwatch')).toEqual([]);
    expect(log.filter((c) => c.service === 'rds' && !/^Describe|^ListTags/.test(c.name)).length).toBeGreaterThan(2);
    expect(uncovered(runbook, log, oldKey)).toEqual([]);
    const { policy } = iamPolicy(runbook, { oldKeyArn: oldKey });
    expect(policy.Statement.flatMap((s) => s.Action).filter((a) => /^(dms|cloudwatch):/.test(a))).toEqual([]);
  }, 300_000);
});

describe.each(ENGINES)('strategy blue-green, %s', (file) => {
  test('every AWS call of the flow, the deployment\'s included, is allowed by the generated policy', async () => {
    const { runbook, log, oldKey } = await recordedRun(file, `estate-iam-bg-${file.replace('.yaml', '')}`, (doc) => {
      doc.strategy = 'blue-green';
      delete doc.dms;
      doc.blueGreen = { deleteDeploymentAfter: true };
    });
    const names = new Set(log.map((c) => c.name));
    for (const n of ['CreateBlueGreenDeployment', 'DescribeBlueGreenDeployments', 'SwitchoverBlueGreenDeployment', 'DeleteBlueGreenDeployment']) expect(names).toContain(n);
    expect(uncovered(runbook, log, oldKey)).toEqual([]);
  }, 300_000);
});

describe.each(ENGINES)('strategy snapshot, %s', (file) => {
  test('every AWS call of the offline flow is allowed by the generated policy, which names nothing of DMS or CloudWatch', async () => {
    const { runbook, log, oldKey } = await recordedRun(file, `estate-iam-snap-${file.replace('.yaml', '')}`, (doc) => {
      doc.strategy = 'snapshot';
      delete doc.dms;
    });
    expect(log.filter((c) => c.service === 'dms' || c.service === 'cloudwatch')).toEqual([]);
    expect(uncovered(runbook, log, oldKey)).toEqual([]);
  }, 300_000);
});

describe.each(['rehearsal-postgres.yaml', 'rehearsal-mysql.yaml'])('strategy clone, %s', (file) => {
  test('every AWS call of the clone flow (native CDC) is allowed by the generated policy', async () => {
    const { runbook, log, oldKey } = await recordedRun(file, `estate-iam-clone-${file.replace('.yaml', '')}`, (doc) => {
      doc.strategy = 'clone';
      delete doc.dms;
    });
    expect(log.map((c) => c.name)).toContain('RestoreDBClusterToPointInTime');
    expect(uncovered(runbook, log, oldKey)).toEqual([]);
  }, 300_000);
});
