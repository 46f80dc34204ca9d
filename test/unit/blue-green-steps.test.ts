// strategy blue-green against aws-sdk-client-mock: the exact requests (CreateBlueGreenDeployment with
// TargetResourceConfigurations for Aurora and for RDS with a read replica, the name filter that finds the
// deployment on a resume, SwitchoverBlueGreenDeployment with the timeout, DeleteBlueGreenDeployment with DeleteTarget
// only before a switchover), a refusal with nothing left behind, AWS's revert, and the attestation of green's key.
import {
  CreateBlueGreenDeploymentCommand,
  DeleteBlueGreenDeploymentCommand,
  DescribeBlueGreenDeploymentsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  RDSClient,
  SwitchoverBlueGreenDeploymentCommand,
} from '@aws-sdk/client-rds';
import type { BlueGreenDeployment } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import { composeServices } from '../../src/cli/compose.js';
import { StepError } from '../../src/engine/types.js';
import type { StepContext } from '../../src/engine/types.js';
import { buildFlow } from '../../src/flows/index.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import type { RunbookInput } from '../../src/runbook/schema.js';
import { bgAttest } from '../../src/steps/bg-attest.js';
import { deploymentName } from '../../src/steps/bg-common.js';
import { bgCreate } from '../../src/steps/bg-create.js';
import { bgDelete } from '../../src/steps/bg-finish.js';
import { bgSwitchover } from '../../src/steps/bg-switchover.js';
import type { RekeyServices } from '../../src/steps/services.js';

const rds = mockClient(RDSClient);
const RUN_ID = 'ab12cd34';
const NEW_KEY = 'arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222';
const OLD_KEY = 'arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111';
const CLUSTER_ARN = 'arn:aws:rds:us-east-1:111122223333:cluster:app-db';
const GREEN_ARN = 'arn:aws:rds:us-east-1:111122223333:cluster:app-db-green-abc123';
const NAME = 'app-db-rekey-ab12cd34';

type Ctx = StepContext<RekeyServices> & { outputs: Record<string, unknown> };

function context(overrides: Partial<RunbookInput> = {}): Ctx {
  const runbook = runbookSchema.parse({
    version: 1,
    name: 'bg',
    region: 'us-east-1',
    strategy: 'blue-green',
    source: { engine: 'aurora-postgresql', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    target: { kmsKeyId: 'alias/app-new' },
    dms: { replicationInstance: { identifier: 'unused' }, sslMode: 'require' },
    ...overrides,
  });
  const services = composeServices({ runbook, runId: RUN_ID, provider: 'aws' });
  services.timing = { pollMs: 1, fencedPollMs: 1, metricPeriodSeconds: 1, waitMaxSeconds: 5 };
  const logs: string[] = [];
  return {
    runId: RUN_ID,
    outputs: { preflight: { key: { arn: NEW_KEY } } },
    services,
    signal: new AbortController().signal,
    attempt: 1,
    report: { progress: () => undefined, metric: () => undefined, log: (_l, m) => logs.push(m), publish: () => undefined },
  };
}

function deployment(status: string, extra: Partial<BlueGreenDeployment> = {}): BlueGreenDeployment {
  return {
    BlueGreenDeploymentIdentifier: 'bgd-123',
    BlueGreenDeploymentName: NAME,
    Source: CLUSTER_ARN,
    Target: GREEN_ARN,
    Status: status,
    SwitchoverDetails: [{ SourceMember: CLUSTER_ARN, TargetMember: GREEN_ARN, Status: status }],
    ...extra,
  };
}

/** Describe answers from a list that the test moves on: each call takes the next state, the last one stays. */
function describeSequence(...states: (BlueGreenDeployment | undefined)[]): void {
  let i = 0;
  rds.on(DescribeBlueGreenDeploymentsCommand).callsFake(() => {
    const d = states[Math.min(i, states.length - 1)];
    i += 1;
    return { BlueGreenDeployments: d ? [d] : [] };
  });
}

async function failure(p: Promise<unknown>): Promise<StepError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(StepError);
  return e as StepError;
}

beforeEach(() => {
  rds.reset();
  rds.onAnyCommand().rejects(new Error('unexpected RDS command'));
  rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'app-db' }).resolves({ DBClusters: [{ DBClusterIdentifier: 'app-db', DBClusterArn: CLUSTER_ARN, KmsKeyId: OLD_KEY }] });
});

test('the deployment name is deterministic from the source and the run id, at most 60 characters', () => {
  expect(deploymentName('app-db', RUN_ID)).toBe(NAME);
  const long = deploymentName('a'.repeat(63), RUN_ID);
  expect(long.length).toBeLessThanOrEqual(60);
  expect(long.endsWith(`-rekey-${RUN_ID}`)).toBe(true);
});

test('buildFlow dispatches strategy blue-green to the declared list of steps', () => {
  const flow = buildFlow(context().services.runbook);
  expect(flow.id).toBe('blue-green/aurora-postgresql');
  expect(flow.steps.map((s) => s.id)).toEqual(['preflight', 'bg-create', 'bg-attest', 'validate', 'bg-switchover', 'fix-sequences', 'verify', 'after-switch', 'bg-delete']);
  expect(flow.steps.find((s) => s.id === 'bg-switchover')?.gate?.id).toBe('cutover');
});

test('Aurora: one TargetResourceConfigurations entry, the cluster ARN with the new key; waits for AVAILABLE', async () => {
  const ctx = context();
  describeSequence(undefined, deployment('PROVISIONING'), deployment('AVAILABLE'));
  rds.on(CreateBlueGreenDeploymentCommand).resolves({ BlueGreenDeployment: deployment('PROVISIONING') });
  const out = await bgCreate.run(ctx);
  const creates = rds.commandCalls(CreateBlueGreenDeploymentCommand).map((c) => c.args[0].input);
  expect(creates).toEqual([
    {
      BlueGreenDeploymentName: NAME,
      Source: CLUSTER_ARN,
      TargetResourceConfigurations: [{ SourceArn: CLUSTER_ARN, TargetKmsKeyId: NEW_KEY }],
      Tags: [{ Key: 'rekey:run-id', Value: RUN_ID }],
    },
  ]);
  // Found by its name, never by listing everything.
  const describes = rds.commandCalls(DescribeBlueGreenDeploymentsCommand).map((c) => c.args[0].input);
  expect(describes[0]).toEqual({ Filters: [{ Name: 'blue-green-deployment-name', Values: [NAME] }] });
  expect(out).toMatchObject({ identifier: 'bgd-123', name: NAME, members: [{ source: CLUSTER_ARN, target: GREEN_ARN }] });
});

test('RDS instance: one entry per instance and read replica; engine version and parameter groups only when set', async () => {
  const ctx = context({
    source: { engine: 'mysql', identifier: 'shop-db', database: 'shop', username: 'rekey_admin', password: { env: 'X' } },
    blueGreen: { targetEngineVersion: '8.0.40', targetDBParameterGroupName: 'shop-80' },
  });
  const primary = 'arn:aws:rds:us-east-1:111122223333:db:shop-db';
  const replica = 'arn:aws:rds:us-east-1:111122223333:db:shop-db-r1';
  rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'shop-db' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'shop-db', DBInstanceArn: primary, ReadReplicaDBInstanceIdentifiers: ['shop-db-r1'] }] });
  rds.on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'shop-db-r1' }).resolves({ DBInstances: [{ DBInstanceIdentifier: 'shop-db-r1', DBInstanceArn: replica }] });
  describeSequence(undefined, deployment('AVAILABLE', { BlueGreenDeploymentName: 'shop-db-rekey-ab12cd34' }));
  rds.on(CreateBlueGreenDeploymentCommand).resolves({ BlueGreenDeployment: deployment('PROVISIONING') });
  await bgCreate.run(ctx);
  const [input] = rds.commandCalls(CreateBlueGreenDeploymentCommand).map((c) => c.args[0].input);
  expect(input).toMatchObject({
    BlueGreenDeploymentName: 'shop-db-rekey-ab12cd34',
    Source: primary,
    TargetResourceConfigurations: [
      { SourceArn: primary, TargetKmsKeyId: NEW_KEY },
      { SourceArn: replica, TargetKmsKeyId: NEW_KEY },
    ],
    TargetEngineVersion: '8.0.40',
    TargetDBParameterGroupName: 'shop-80',
  });
  expect(input).not.toHaveProperty('TargetDBClusterParameterGroupName');
});

test('a resumed run finds its deployment by name and never creates a second one', async () => {
  const ctx = context();
  describeSequence(deployment('PROVISIONING'), deployment('AVAILABLE'));
  await bgCreate.run(ctx);
  expect(rds.commandCalls(CreateBlueGreenDeploymentCommand)).toHaveLength(0);
});

test('AWS refusing the target key stops with nothing to clean up and advises strategy dms-cdc', async () => {
  const ctx = context();
  describeSequence(undefined);
  const refusal = Object.assign(new Error('A target KMS key is not supported for aurora-postgresql 15.4 in us-east-1.'), { name: 'SourceDatabaseNotSupportedFault', $fault: 'client', $metadata: { httpStatusCode: 400 } });
  rds.on(CreateBlueGreenDeploymentCommand).rejects(refusal);
  const e = await failure(bgCreate.run(ctx));
  expect(e.kind).toBe('rejected');
  expect(e.message).toContain('SourceDatabaseNotSupportedFault');
  expect(e.details.join('\n')).toContain('strategy: dms-cdc');
  expect(rds.commandCalls(DeleteBlueGreenDeploymentCommand)).toHaveLength(0);
});

test('provisioning that fails deletes the deployment with its green resources, then advises dms-cdc', async () => {
  const ctx = context();
  describeSequence(undefined, deployment('INVALID_CONFIGURATION', { StatusDetails: 'target key not usable' }));
  rds.on(CreateBlueGreenDeploymentCommand).resolves({ BlueGreenDeployment: deployment('PROVISIONING') });
  rds.on(DeleteBlueGreenDeploymentCommand).resolves({});
  const e = await failure(bgCreate.run(ctx));
  expect(e.kind).toBe('rejected');
  expect(rds.commandCalls(DeleteBlueGreenDeploymentCommand).map((c) => c.args[0].input)).toEqual([{ BlueGreenDeploymentIdentifier: 'bgd-123', DeleteTarget: true }]);
});

test('attestation refuses a green on another key, before the gate', async () => {
  const ctx = context();
  ctx.outputs['bg-create'] = { identifier: 'bgd-123', name: NAME, source: CLUSTER_ARN, members: [{ source: CLUSTER_ARN, target: GREEN_ARN }] };
  describeSequence(deployment('AVAILABLE'));
  rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'app-db-green-abc123' }).resolves({ DBClusters: [{ DBClusterIdentifier: 'app-db-green-abc123', KmsKeyId: OLD_KEY }] });
  const e = await failure(bgAttest.run(ctx));
  expect(e.message).toContain('not on the new key');
  expect(e.details[0]).toBe(`cluster app-db-green-abc123: ${OLD_KEY}`);
  rds.on(DescribeDBClustersCommand, { DBClusterIdentifier: 'app-db-green-abc123' }).resolves({ DBClusters: [{ DBClusterIdentifier: 'app-db-green-abc123', KmsKeyId: NEW_KEY }] });
  await expect(bgAttest.run(ctx)).resolves.toMatchObject({ keyArn: NEW_KEY, resources: [{ identifier: 'app-db-green-abc123', kmsKeyId: NEW_KEY }] });
});

test('switchover sends the runbook timeout and waits for SWITCHOVER_COMPLETED', async () => {
  const ctx = context({ blueGreen: { switchoverTimeoutSeconds: 120 } });
  ctx.outputs['bg-create'] = { identifier: 'bgd-123', name: NAME, source: CLUSTER_ARN, members: [{ source: CLUSTER_ARN, target: GREEN_ARN }] };
  describeSequence(deployment('AVAILABLE'), deployment('SWITCHOVER_IN_PROGRESS'), deployment('SWITCHOVER_COMPLETED'));
  rds.on(SwitchoverBlueGreenDeploymentCommand).resolves({});
  const out = await bgSwitchover.run(ctx);
  expect(rds.commandCalls(SwitchoverBlueGreenDeploymentCommand).map((c) => c.args[0].input)).toEqual([{ BlueGreenDeploymentIdentifier: 'bgd-123', SwitchoverTimeout: 120 }]);
  expect(out.members).toEqual([{ source: CLUSTER_ARN, target: GREEN_ARN }]);
});

test('SWITCHOVER_FAILED is reported as AWS\'s revert: fatal (exit 5), nothing switched', async () => {
  const ctx = context();
  ctx.outputs['bg-create'] = { identifier: 'bgd-123', name: NAME, source: CLUSTER_ARN, members: [] };
  describeSequence(deployment('AVAILABLE'), deployment('SWITCHOVER_IN_PROGRESS'), deployment('SWITCHOVER_FAILED', { StatusDetails: 'Switchover timed out' }));
  rds.on(SwitchoverBlueGreenDeploymentCommand).resolves({});
  const e = await failure(bgSwitchover.run(ctx));
  expect(e.kind).toBe('fatal');
  expect(e.message).toContain('reverted by AWS');
  expect(e.details.join('\n')).toMatch(/blue kept its names .* writable; nothing was switched/);
});

test('undo deletes green with DeleteTarget before a switchover; after one it deletes nothing', async () => {
  const ctx = context();
  rds.on(DeleteBlueGreenDeploymentCommand).resolves({});
  describeSequence(deployment('AVAILABLE'));
  await bgCreate.undo?.(ctx);
  expect(rds.commandCalls(DeleteBlueGreenDeploymentCommand).map((c) => c.args[0].input)).toEqual([{ BlueGreenDeploymentIdentifier: 'bgd-123', DeleteTarget: true }]);
  rds.resetHistory();
  describeSequence(deployment('SWITCHOVER_COMPLETED'));
  await bgCreate.undo?.(ctx);
  expect(rds.commandCalls(DeleteBlueGreenDeploymentCommand)).toHaveLength(0);
});

test('bg-delete removes only the deployment object after the switchover (never DeleteTarget), when asked', async () => {
  const kept = context();
  await expect(bgDelete.run(kept)).resolves.toEqual({ deleted: false });
  expect(rds.commandCalls(DeleteBlueGreenDeploymentCommand)).toHaveLength(0);
  const ctx = context({ blueGreen: { deleteDeploymentAfter: true } });
  describeSequence(deployment('SWITCHOVER_COMPLETED'));
  rds.on(DeleteBlueGreenDeploymentCommand).resolves({});
  await expect(bgDelete.run(ctx)).resolves.toEqual({ deleted: true });
  expect(rds.commandCalls(DeleteBlueGreenDeploymentCommand).map((c) => c.args[0].input)).toEqual([{ BlueGreenDeploymentIdentifier: 'bgd-123' }]);
});
