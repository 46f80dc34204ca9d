// The generated IAM policy cannot drift from the code: every flow runs against the fake world (aws-sdk-client-mock
// on the real SDK clients) and every AWS call it sent must be allowed by the policy made for its runbook.
import { join } from 'node:path';
import { buildFlow, planFlow, stepIds } from '../../src/flows/index.js';
import { commandResources, iamPolicy, isAllowed, isReadOnlyAction, policyProblems } from '../../src/estate/iam-policy.js';
import { loadRunbook } from '../../src/runbook/load.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { cwMock, dmsMock, kmsMock, mysqlRunbook, OLD_KEY, rdsMock, runUntil, testRunbook, World } from './steps-world.js';

const ACCOUNT = '111122223333';

function sent(): { service: string; name: string; input: Record<string, unknown> }[] {
  const services: [string, typeof rdsMock | typeof kmsMock | typeof dmsMock | typeof cwMock][] = [['rds', rdsMock], ['kms', kmsMock], ['dms', dmsMock], ['cloudwatch', cwMock]];
  return services.flatMap(([service, mock]) =>
    (mock as unknown as { calls(): { args: [{ constructor: { name: string }; input: Record<string, unknown> }] }[] }).calls().map((c) => ({
      service, name: c.args[0].constructor.name.replace(/Command$/, ''), input: c.args[0].input,
    })),
  );
}

const engines: [string, () => Runbook][] = [
  ['aurora-postgresql', () => testRunbook()],
  ['aurora-mysql', () => mysqlRunbook()],
  // cutover.renameInstances: the instance renames after the switch (and the custom endpoint members they touch).
  ['aurora-postgresql keeping instance names', () => testRunbook({ cutover: { maxLatencySeconds: 5, sustainSeconds: 3, drainTimeoutSeconds: 5, fenceTimeoutSeconds: 120, renameInstances: true } })],
  ['postgres', () => testRunbook({ source: { engine: 'postgres', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } } })],
  ['mysql', () => testRunbook({
    source: { engine: 'mysql', identifier: 'shop-db', database: 'shop', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'verify-full', certificateArn: 'arn:aws:dms:us-east-1:111122223333:cert:RDSCA' },
  })],
];

describe('rekey iam-policy', () => {
  test.each(engines)('%s: every AWS call of the whole dms-cdc flow is allowed by the generated policy', async (_engine, make) => {
    const world = new World(make());
    world.install();
    await runUntil(buildFlow(world.runbook), world.context());
    const calls = sent();
    expect(calls.length).toBeGreaterThan(20);
    const { policy } = iamPolicy(world.runbook, { oldKeyArn: OLD_KEY });
    const uncovered = calls
      .map((c) => ({ action: `${c.service}:${c.name}`, resources: commandResources(c.service, c.name, c.input, world.runbook.region, ACCOUNT) }))
      .filter((c) => !isAllowed(policy, c.action, c.resources));
    expect(uncovered).toEqual([]);
    expect(policyProblems(policy)).toEqual([]);
  });

  test('a call the policy does not name is caught (the check can fail)', () => {
    const { policy } = iamPolicy(testRunbook());
    expect(isAllowed(policy, 'rds:DeleteDBCluster', ['arn:aws:rds:us-east-1:111122223333:cluster:app-db'])).toBe(false);
    expect(isAllowed(policy, 'rds:DeleteDBCluster', ['arn:aws:rds:us-east-1:111122223333:cluster:app-db-rekey-ab12cd34'])).toBe(true);
    expect(isAllowed(policy, 'rds:ModifyDBCluster', ['arn:aws:rds:us-east-1:111122223333:cluster:other-db'])).toBe(false);
    expect(isAllowed(policy, 'rds:RebootDBCluster', [])).toBe(false);
    // Instance renames are granted only with cutover.renameInstances.
    expect(isAllowed(policy, 'rds:ModifyDBInstance', ['arn:aws:rds:us-east-1:111122223333:db:app-db-w', 'arn:aws:rds:us-east-1:111122223333:db:app-db-w-old-ab12cd34'])).toBe(false);
    expect(isAllowed(policy, 'kms:ScheduleKeyDeletion', [OLD_KEY])).toBe(false);
    expect(isAllowed(policy, 'kms:DisableKey', [OLD_KEY])).toBe(false);
  });

  test('runbooks/aurora-postgresql.yaml: a valid policy, no Action "*", no Resource "*" on a mutating action, KMS scoped with the conditions RDS needs', () => {
    const loaded = loadRunbook(join(process.cwd(), 'runbooks', 'aurora-postgresql.yaml'));
    if (!loaded.ok) throw new Error('runbook does not load');
    const { policy } = iamPolicy(loaded.runbook);
    const doc = JSON.parse(JSON.stringify(policy)) as typeof policy;
    expect(doc.Version).toBe('2012-10-17');
    for (const s of doc.Statement) {
      expect(s.Effect).toBe('Allow');
      expect(s.Action).not.toContain('*');
      if (s.Resource === '*') expect(s.Action.every(isReadOnlyAction)).toBe(true);
      else expect(s.Resource.length).toBeGreaterThan(0);
    }
    const grant = doc.Statement.find((s) => s.Action.includes('kms:CreateGrant') && s.Sid.startsWith('KmsGrantForRds'));
    expect(grant?.Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': true });
    const use = doc.Statement.find((s) => s.Sid.startsWith('KmsUseThroughRds'));
    expect(use?.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*']);
    expect(use?.Condition?.StringEquals).toEqual({ 'kms:ViaService': ['rds.us-east-1.amazonaws.com'] });
    expect(doc.Statement.some((s) => s.Action.some((a) => a.startsWith('dms:')))).toBe(true);
    expect(policyProblems(policy)).toEqual([]);
  });

  test('Secrets Manager only for the secrets named; DMS and CloudWatch only for dms-cdc; cross-Region copies scoped to their Regions and keys', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app-db-pass-AbCdEf';
    const rb = testRunbook({ source: { engine: 'aurora-postgresql', identifier: 'app-db', database: 'app', username: 'u', password: { secretArn: secret } }, after: { copySnapshotTo: [{ region: 'us-west-2', kmsKeyId: 'arn:aws:kms:us-west-2:111122223333:key/33333333-3333-3333-3333-333333333333' }] } });
    const { policy } = iamPolicy(rb, { oldKeyArn: OLD_KEY });
    const sm = policy.Statement.filter((s) => s.Action.some((a) => a.startsWith('secretsmanager:')));
    expect(sm).toHaveLength(1);
    expect(sm[0]?.Resource).toEqual([secret]);
    expect(isAllowed(policy, 'rds:CopyDBClusterSnapshot', ['arn:aws:rds:us-west-2:111122223333:cluster-snapshot:app-db-rekey-ab12cd34-snap'])).toBe(true);
    expect(isAllowed(policy, 'kms:CreateGrant', ['arn:aws:kms:us-west-2:111122223333:key/33333333-3333-3333-3333-333333333333'])).toBe(true);
    expect(policy.Statement.filter((s) => s.Action.some((a) => a.startsWith('secretsmanager:'))).flatMap((s) => s.Resource)).not.toContain('*');
    const none = iamPolicy(testRunbook({ strategy: 'blue-green' }));
    expect(none.policy.Statement.some((s) => s.Action.some((a) => a.startsWith('dms:') || a.startsWith('cloudwatch:')))).toBe(false);
    expect(iamPolicy(testRunbook()).policy.Statement.some((s) => s.Action.some((a) => a.startsWith('secretsmanager:')))).toBe(false);
  });
});

describe('rekey iam-policy per strategy', () => {
  const ARN = (kind: string, id: string): string => `arn:aws:rds:us-east-1:111122223333:${kind}:${id}`;
  const allowedSent = (rb: Runbook, name: string, input: Record<string, unknown>): boolean =>
    isAllowed(iamPolicy(rb, { oldKeyArn: OLD_KEY }).policy, `rds:${name}`, commandResources('rds', name, input, rb.region, ACCOUNT));

  test.each([['aurora-postgresql', 'cluster'], ['postgres', 'db']] as const)('blue-green (%s): the deployment actions on the deployment resource type, the green side by type, never Resource "*"', (engine, kind) => {
    const rb = testRunbook({ strategy: 'blue-green', account: ACCOUNT, source: { ...testRunbook().source, engine } });
    const { policy, notes } = iamPolicy(rb, { oldKeyArn: OLD_KEY });
    expect(policyProblems(policy)).toEqual([]);
    const actions = policy.Statement.flatMap((s) => s.Action);
    for (const a of ['rds:CreateBlueGreenDeployment', 'rds:SwitchoverBlueGreenDeployment', 'rds:DeleteBlueGreenDeployment', 'rds:DescribeBlueGreenDeployments', 'rds:DescribeDBProxies']) expect(actions).toContain(a);
    expect(actions.filter((a) => /^(dms|cloudwatch):/.test(a))).toEqual([]);
    // No snapshot or restore: AWS builds green.
    expect(actions).not.toContain('rds:RestoreDBClusterFromSnapshot');
    expect(actions).not.toContain('rds:CreateDBClusterSnapshot');
    for (const s of policy.Statement.filter((x) => x.Action.some((a) => /BlueGreenDeployment$/.test(a) && !a.includes('Describe')))) {
      expect(s.Resource).toContain('arn:aws:rds:us-east-1:111122223333:deployment:*');
    }
    // The exact requests the steps send (bg-create, bg-switchover, bg-delete): allowed.
    const source = ARN(kind, 'app-db');
    expect(allowedSent(rb, 'CreateBlueGreenDeployment', { BlueGreenDeploymentName: 'app-db-rekey-ab12cd34', Source: source, TargetResourceConfigurations: [{ SourceArn: source, TargetKmsKeyId: OLD_KEY }] })).toBe(true);
    expect(allowedSent(rb, 'SwitchoverBlueGreenDeployment', { BlueGreenDeploymentIdentifier: 'bgd-abc123', SwitchoverTimeout: 300 })).toBe(true);
    expect(allowedSent(rb, 'DeleteBlueGreenDeployment', { BlueGreenDeploymentIdentifier: 'bgd-abc123', DeleteTarget: true })).toBe(true);
    // A deployment of another database, or an action outside the flow, is not.
    expect(allowedSent(rb, 'CreateBlueGreenDeployment', { BlueGreenDeploymentName: 'x', Source: ARN(kind, 'other-db') })).toBe(false);
    expect(isAllowed(policy, 'rds:ModifyDBClusterSnapshotAttribute', [ARN('cluster-snapshot', 'x')])).toBe(false);
    expect(isAllowed(policy, 'rds:SwitchoverBlueGreenDeployment', ['arn:aws:rds:us-west-2:111122223333:deployment:bgd-abc123'])).toBe(false);
    // KMS: grants for RDS on the target key, which CreateBlueGreenDeployment's TargetKmsKeyId names.
    const grant = policy.Statement.find((s) => s.Sid === 'KmsGrantForRds0');
    expect(grant?.Condition?.Bool).toEqual({ 'kms:GrantIsForAWSResource': true });
    expect(notes.join('\n')).toMatch(/partial name patterns/);
  });

  test.each(['blue-green-aurora-postgresql.yaml', 'blue-green-rds-mysql.yaml', 'native-aurora-postgresql.yaml', 'native-rds-mysql.yaml'])('runbooks/%s: a policy for its strategy with no Action "*" and no Resource "*" on a mutating action', (file) => {
    const loaded = loadRunbook(join(process.cwd(), 'runbooks', file));
    if (!loaded.ok) throw new Error(`${file} does not load`);
    const { policy, strategy } = iamPolicy(loaded.runbook);
    expect(strategy).toBe(loaded.runbook.strategy);
    expect(policyProblems(policy)).toEqual([]);
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect(actions.some((a) => a.includes('BlueGreenDeployment'))).toBe(strategy === 'blue-green');
    expect(actions.some((a) => /^dms:/.test(a))).toBe(false);
    // RDS instances read their recreated read replicas' lag (AWS/RDS ReplicaLag), nothing else of CloudWatch (Blue/Green: AWS moves the replicas).
    expect(actions.filter((a) => /^cloudwatch:/.test(a))).toEqual(file.includes('-rds-') && strategy !== 'blue-green' ? ['cloudwatch:GetMetricData'] : []);
  });

  test('RDS instances: read replicas recreated in the runbook Region and each Region of target.regionKeys, whose keys RDS uses there', () => {
    const rb = testRunbook({
      source: { engine: 'postgres', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
      target: { kmsKeyId: 'alias/app-new', regionKeys: { 'eu-west-1': 'alias/app-eu' } },
      account: '111122223333',
    });
    const { policy, notes } = iamPolicy(rb, { oldKeyArn: OLD_KEY });
    expect(policyProblems(policy)).toEqual([]);
    const eu = (kind: string, id: string) => `arn:aws:rds:eu-west-1:111122223333:${kind}:${id}`;
    expect(isAllowed(policy, 'rds:CreateDBInstanceReadReplica', [eu('db', 'app-db-r2'), 'arn:aws:rds:us-east-1:111122223333:db:app-db', eu('pg', 'app-replica')])).toBe(true);
    expect(isAllowed(policy, 'rds:CreateDBInstanceReadReplica', ['arn:aws:rds:ap-south-1:111122223333:db:app-db-r3'])).toBe(false);
    expect(isAllowed(policy, 'kms:DescribeKey', ['arn:aws:kms:eu-west-1:111122223333:key/alias/app-eu'])).toBe(true);
    const use = policy.Statement.find((s) => s.Sid === 'KmsUseThroughRds0');
    expect(use?.Condition?.StringEquals?.['kms:ViaService']).toEqual(['rds.us-east-1.amazonaws.com', 'rds.eu-west-1.amazonaws.com']);
    expect(notes.join('\n')).toContain('read replicas are found at run time');
  });

  test('Aurora global database: every request topology-global sends, in either Region, is allowed; nothing else in other Regions', () => {
    const rb = testRunbook({ target: { kmsKeyId: 'alias/app-new', regionKeys: { 'eu-west-1': 'alias/app-eu' } }, account: '111122223333', strategy: 'native', dms: undefined });
    const { policy, notes } = iamPolicy(rb, { oldKeyArn: OLD_KEY });
    expect(policyProblems(policy)).toEqual([]);
    const home = 'arn:aws:rds:us-east-1:111122223333:cluster:app-db';
    const euArn = 'arn:aws:rds:eu-west-1:111122223333:cluster:app-db-eu';
    const sent: [string, string, Record<string, unknown>][] = [
      ['us-east-1', 'ModifyGlobalCluster', { GlobalClusterIdentifier: 'app-global', NewGlobalClusterIdentifier: 'app-global-old-ab12cd34' }],
      ['us-east-1', 'CreateGlobalCluster', { GlobalClusterIdentifier: 'app-global', SourceDBClusterIdentifier: home }],
      ['eu-west-1', 'ModifyDBCluster', { DBClusterIdentifier: 'app-db-eu', NewDBClusterIdentifier: 'app-db-eu-old-ab12cd34' }],
      ['eu-west-1', 'CreateDBCluster', { DBClusterIdentifier: 'app-db-eu', GlobalClusterIdentifier: 'app-global', DBSubnetGroupName: 'eu-subnets', DBClusterParameterGroupName: 'app-apg15' }],
      ['eu-west-1', 'CreateDBInstance', { DBInstanceIdentifier: 'app-db-eu-rekey-ab12cd34-1', DBClusterIdentifier: 'app-db-eu', DBParameterGroupName: 'app-inst' }],
      ['eu-west-1', 'DeleteDBInstance', { DBInstanceIdentifier: 'app-db-eu-rekey-ab12cd34-1' }],
      ['eu-west-1', 'RemoveFromGlobalCluster', { GlobalClusterIdentifier: 'app-global', DbClusterIdentifier: euArn }],
      ['eu-west-1', 'DeleteDBCluster', { DBClusterIdentifier: 'app-db-eu' }],
      ['us-east-1', 'RemoveFromGlobalCluster', { GlobalClusterIdentifier: 'app-global', DbClusterIdentifier: home }],
      ['us-east-1', 'DeleteGlobalCluster', { GlobalClusterIdentifier: 'app-global' }],
    ];
    for (const [region, name, input] of sent) {
      expect({ name, region, allowed: isAllowed(policy, `rds:${name}`, commandResources('rds', name, input, region, '111122223333')) }).toEqual({ name, region, allowed: true });
    }
    expect(isAllowed(policy, 'cloudwatch:GetMetricData', [])).toBe(true);
    expect(isAllowed(policy, 'rds:CreateDBCluster', commandResources('rds', 'CreateDBCluster', { DBClusterIdentifier: 'x' }, 'ap-south-1', '111122223333'))).toBe(false);
    expect(notes.join('\n')).toContain('Aurora global database');
  });

  test('native: the snapshot, restore and rename statements of dms-cdc, nothing of DMS or CloudWatch', () => {
    const rb = testRunbook({ strategy: 'native', dms: undefined });
    const { policy } = iamPolicy(rb, { oldKeyArn: OLD_KEY });
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect(actions.filter((a) => /^(dms|cloudwatch):/.test(a))).toEqual([]);
    for (const a of ['rds:CreateDBClusterSnapshot', 'rds:RestoreDBClusterFromSnapshot', 'rds:ModifyDBCluster', 'rds:DeleteDBCluster']) expect(actions).toContain(a);
    expect(actions.some((a) => /BlueGreen/.test(a))).toBe(false);
    expect(policyProblems(policy)).toEqual([]);
  });
});

describe('after.copySnapshotTo', () => {
  test('adds copy-snapshot-to at the end of the dms-cdc flow, planned as a copy in each destination Region', () => {
    const rb = testRunbook({ after: { copySnapshotTo: [{ region: 'us-west-2', kmsKeyId: 'alias/dr' }, { region: 'eu-west-1', kmsKeyId: 'alias/dr-eu' }] } });
    const flow = buildFlow(rb);
    expect(flow.steps.map((s) => s.id)).toEqual(stepIds(rb));
    expect(stepIds(rb).slice(-2)).toEqual(['cleanup', 'copy-snapshot-to']);
    expect(stepIds(testRunbook())).not.toContain('copy-snapshot-to');
    const world = new World(rb);
    const plan = planFlow(flow, world.context()).find((e) => e.id === 'copy-snapshot-to');
    expect(plan?.actions.map((a) => `${a.target} ${a.summary}`)).toEqual([
      'rds:CopyDBClusterSnapshot copy app-db-rekey-ab12cd34-snap to us-west-2 under alias/dr',
      'rds:CopyDBClusterSnapshot copy app-db-rekey-ab12cd34-snap to eu-west-1 under alias/dr-eu',
    ]);
  });
});
