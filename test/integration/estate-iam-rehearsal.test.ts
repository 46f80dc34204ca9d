// The IAM policy cannot drift from the code, checked on the rehearsal cloud: the whole Aurora PostgreSQL flow (with
// after.copySnapshotTo, so the cross-Region copy step runs too) against real local PostgreSQL servers, every AWS call
// recorded at the Cloud's send, each one allowed by the policy `rekey iam-policy` makes for the runbook.
import { afterAll, expect, test } from '@jest/globals';
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { Cloud } from '../../src/aws/cloud.js';
import { composeServices } from '../../src/cli/compose.js';
import { headlessApprover } from '../../src/engine/approvers.js';
import { executeFlow } from '../../src/engine/executor.js';
import { MemoryJournalStore } from '../../src/engine/journal.js';
import { RunMachine } from '../../src/engine/run-machine.js';
import { commandResources, iamPolicy, isAllowed } from '../../src/estate/iam-policy.js';
import { buildFlow } from '../../src/flows/index.js';
import { seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { openRehearsal, type RehearsalWorld } from '../../src/rehearsal/world.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import { testDir } from '../helpers/servers.js';

interface Sent {
  service: string;
  name: string;
  region: string;
  input: Record<string, unknown>;
}

/** The cloud with every send recorded (in every Region it reaches). */
function recording(cloud: Cloud, log: Sent[]): Cloud {
  const wrap = (service: 'rds' | 'kms' | 'dms' | 'cloudwatch') => ({
    send: (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      log.push({ service, name: command.constructor.name.replace(/Command$/, ''), region: cloud.region, input: command.input });
      return (cloud[service].send as (c: unknown) => Promise<unknown>)(command);
    },
  });
  return {
    provider: cloud.provider, region: cloud.region,
    rds: wrap('rds'), kms: wrap('kms'), dms: wrap('dms'), cloudwatch: wrap('cloudwatch'),
    inRegion: (r: string) => recording(cloud.inRegion!(r), log),
  };
}

let world: RehearsalWorld | undefined;
afterAll(async () => {
  await world?.close({ stopServers: true });
}, 60_000);

test('every AWS call of the aurora-postgresql flow on the rehearsal cloud is allowed by the generated policy', async () => {
  const doc = parseDocument(readFileSync(resolve('runbooks/rehearsal-postgres.yaml'), 'utf8')).toJS() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  doc.rehearsal.source.seedRows = 2000;
  doc.rehearsal.keys.push({ id: 'alias/orders-dr', region: 'us-west-2' });
  doc.cutover.sustainSeconds = 1;
  doc.after = { copySnapshotTo: [{ region: 'us-west-2', kmsKeyId: 'alias/orders-dr' }] };
  const runbook = runbookSchema.parse(doc);
  world = await openRehearsal({ stateDir: testDir('estate-iam'), runbook, fresh: true });
  await seedPostgresDemo(world.servers.source.adminUrl, { database: runbook.source.database, rows: 2000 });
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
  expect(log.some((c) => c.name === 'CopyDBClusterSnapshot' && c.region === 'us-west-2' && String(c.input.SourceDBClusterSnapshotIdentifier).startsWith('arn:aws:rds:us-east-1:'))).toBe(true);

  const oldKey = Object.values(world.inspect().keys).find((k) => k.aliases.includes('alias/aws/rds'))!.arn;
  const account = runbook.account ?? '123456789012';
  for (const opts of [{ oldKeyArn: oldKey }, {}]) {
    const { policy } = iamPolicy(runbook, opts);
    const uncovered = log
      .map((c) => ({ action: `${c.service}:${c.name}`, resources: commandResources(c.service, c.name, c.input, c.region, account) }))
      .filter((c) => !isAllowed(policy, c.action, c.resources));
    expect(uncovered).toEqual([]);
  }
  expect(new Set(log.map((c) => `${c.service}:${c.name}`)).size).toBeGreaterThan(25);
}, 300_000);
