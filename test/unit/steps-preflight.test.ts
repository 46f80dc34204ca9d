// Preflight: every failed check is reported at once, each naming its problem; uncertain key access is a warning.
import { DescribeKeyCommand, GetKeyPolicyCommand } from '@aws-sdk/client-kms';
import { StepError } from '../../src/engine/types.js';
import { preflight, runPreflight } from '../../src/steps/preflight.js';
import { evaluateKeyPolicy } from '../../src/aws/key-policy.js';
import { DMS_ADDRESS, NEW_KEY, OLD_KEY, World, dmsMock, kmsMock, testRunbook } from './steps-world.js';

let world: World;
beforeEach(() => {
  world = new World();
  world.install();
});

async function problems(): Promise<string[]> {
  const err = await preflight.run(world.context()).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StepError);
  expect((err as StepError).kind).toBe('preflight');
  return (err as StepError).details;
}

describe('preflight', () => {
  test('passes on a healthy setup with warnings and an estimate', async () => {
    const report = await preflight.run(world.context());
    expect(report.problems).toEqual([]);
    expect(report.key).toEqual({ arn: NEW_KEY, keyId: '22222222-2222-2222-2222-222222222222', aliases: ['alias/app-new'] });
    expect(report.tablesWithoutPk).toEqual(['public.audit_log']);
    expect(report.warnings).toEqual([expect.stringMatching(/^pg.primary_keys: .*public.audit_log/)]);
    // The topology is listed with what happens to each part, not warned about.
    expect(report.topology?.plan).toEqual([
      'writer app-db-w: restored as app-db-rekey-ab12cd34-w1; the instance name changes (its instance endpoint stays with the old cluster)',
      'reader app-db-r (db.r6g.large, us-east-1c, tier 2): recreated as app-db-rekey-ab12cd34-r1 before the cutover gate; the instance name changes',
      'custom endpoint app-db-analytics (READER, static app-db-r): made as app-db-analytics-rekey-ab12cd34 on the new cluster before the gate; at the switch the old one is deleted and app-db-analytics is created on the new cluster',
      'Aurora Auto Scaling cluster:app-db (1-4 readers, 1 policy): registered again for app-db after the switch',
    ]);
    expect(report.checks.find((c) => c.id === 'source.topology')).toMatchObject({ ok: true, message: expect.stringMatching(/^1 reader and 1 custom endpoint move with the cluster/) });
    // 8M rows counted at 2M rows/s per connection at the consistent point, outside the fence: validation.concurrency
    // 4, but the writer (db.r6g.xlarge, 4 vCPUs) takes the application's writes meanwhile, so half its vCPUs
    // (validation.cpuShare 0.5) = 2 connections, 2 s; inside the fence only the drain/stop/rename fixed costs
    // (validation.final: none)
    expect(report.estimate).toMatchObject({ tables: 2, rows: 8_000_040, countSeconds: 0, checksumSeconds: 0, consistentPointSeconds: 2 });
    expect(report.estimate.assumptions).toContain('per connection x 2)');
    expect(report.estimate.totalSeconds).toBe(report.estimate.fixedSeconds);
    expect(report.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['source.logical_replication', 'source.backups', 'key.enabled', 'key.spec', 'key.region', 'key.rds_access', 'dms.instance', 'pg.wal_level']));
  });

  test('the predicted window counts asking for the old cluster\'s custom endpoints\' deletion, fenced just before the switch (not the deletion itself); not without any', async () => {
    const withEndpoint = (await preflight.run(world.context())).estimate;
    expect(withEndpoint.customEndpointSeconds).toBe(1);
    expect(withEndpoint.assumptions).toContain("asking for the deletion of the old cluster's 1 custom endpoint (1 s; AWS finishes it after the switch)");
    world = new World();
    world.clusterEndpoints.clear();
    world.install();
    const without = (await preflight.run(world.context())).estimate;
    expect(without.customEndpointSeconds).toBeUndefined();
    expect(Math.round((withEndpoint.fencedSeconds - without.fencedSeconds) * 10) / 10).toBe(1);
    expect(Math.round((withEndpoint.totalSeconds - without.totalSeconds) * 10) / 10).toBe(1);
  });

  test('sessions of rekey\'s own login from other clients are a warning naming them and what the cutover will do; DMS\'s are not', async () => {
    world.foreignSessions = [
      { user: 'rekey_admin', client: DMS_ADDRESS, application: 'dms' },
      { user: 'rekey_admin', client: '10.1.2.3', application: 'billing-api' },
    ];
    const report = await preflight.run(world.context());
    expect(report.problems).toEqual([]);
    expect(report.dmsAddresses).toEqual([DMS_ADDRESS]);
    expect(report.warnings).toContainEqual(
      'source.open_sessions: 1 session of rekey_admin from other clients now: rekey_admin@10.1.2.3 (billing-api). The fence cannot lock out this login; the cutover stops if any is open when the fence is up or after the final validation (cutover.openSessions: refuse). Give applications their own login.',
    );
  });

  test('a strategy without DMS ignores a leftover dms section: no DMS call, a warning that says so', async () => {
    world = new World(testRunbook({ strategy: 'native' }));
    world.install();
    expect(world.runbook.dms).toBeDefined();
    const report = await preflight.run(world.context());
    expect(report.problems).toEqual([]);
    expect(report.warnings).toContainEqual(expect.stringMatching(/^runbook.dms_unused: the runbook's dms section is ignored: strategy native runs no DMS task/));
    expect(dmsMock.calls()).toHaveLength(0);
    expect(JSON.stringify(preflight.describe?.(world.context()))).not.toContain('dms:DescribeReplicationInstances');
  });

  test('a disabled key is named', async () => {
    world.key = { ...world.key, Enabled: false, KeyState: 'Disabled' };
    expect(await problems()).toEqual([expect.stringMatching(/^key.enabled: new key alias\/app-new is Disabled/)]);
  });

  test('an asymmetric key is named', async () => {
    world.key = { ...world.key, KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' };
    const found = await problems();
    expect(found).toContainEqual(expect.stringMatching(/^key.spec: new key alias\/app-new is asymmetric \(RSA_2048\)/));
    expect(found).toContainEqual(expect.stringMatching(/^key.usage: .*SIGN_VERIFY/));
  });

  test('a key pending deletion is named', async () => {
    world.key = { ...world.key, Enabled: false, KeyState: 'PendingDeletion', DeletionDate: new Date('2026-02-01T00:00:00Z') };
    expect(await problems()).toEqual([expect.stringMatching(/^key.pending_deletion: .*pending deletion \(deletion date 2026-02-01/)]);
  });

  test('a key in another region is named', async () => {
    world.key = { ...world.key, Arn: NEW_KEY.replace('us-east-1', 'eu-west-1') };
    expect(await problems()).toEqual([expect.stringMatching(/^key.region: .*region eu-west-1, but the runbook region is us-east-1/)]);
  });

  test('several problems are all reported together', async () => {
    world.key = { ...world.key, Enabled: false, KeyState: 'Disabled', KeySpec: 'ECC_NIST_P256', Arn: NEW_KEY.replace('us-east-1', 'eu-west-1') };
    world.logicalReplication = '0';
    world.clusters.get('app-db')!.BackupRetentionPeriod = 0;
    world.replicationInstanceExists = false;
    const ids = (await problems()).map((p) => p.split(':')[0]);
    expect(ids).toEqual(['source.backups', 'source.logical_replication', 'key.enabled', 'key.spec', 'key.region', 'dms.instance']);
  });

  test('the key the source already uses is refused', async () => {
    world.key = { ...world.key, Arn: OLD_KEY };
    expect(await problems()).toEqual([expect.stringMatching(/^key.differs: the source is already encrypted/)]);
  });

  test('a missing key and a missing source are reported, not thrown raw', async () => {
    kmsMock.on(DescribeKeyCommand).rejects(Object.assign(new Error('Key not found'), { name: 'NotFoundException' }));
    world.clusters.delete('app-db');
    const found = await problems();
    expect(found).toContainEqual('source.exists: source cluster app-db not found in us-east-1');
    expect(found).toContainEqual('key.exists: new key alias/app-new not found in us-east-1');
    expect(found).toContainEqual('source.connect: database checks skipped: the source cluster was not found');
  });

  test('a key policy without any CreateGrant for RDS fails; one that cannot be read is only a warning', async () => {
    world.keyPolicy = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:role/app' }, Action: ['kms:Encrypt', 'kms:Decrypt'], Resource: '*' }] });
    expect(await problems()).toEqual([expect.stringMatching(/^key.rds_access: .*no key policy statement or grant allows kms:CreateGrant/)]);

    kmsMock.on(GetKeyPolicyCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const report = await runPreflight(world.context());
    expect(report.problems).toEqual([]);
    expect(report.warnings).toContainEqual(expect.stringMatching(/^key.rds_access: UNCERTAIN .*not allowed to read the key policy/));
  });

  test('create:true with a missing replication instance passes, with a subnet-group warning', async () => {
    world = new World(testRunbook({ dms: { replicationInstance: { identifier: 'rekey-ri', create: true } } }));
    world.install();
    world.replicationInstanceExists = false;
    const report = await runPreflight(world.context());
    expect(report.problems).toEqual([]);
    expect(report.dmsInstanceExisted).toBe(false);
    expect(report.warnings).toContainEqual(expect.stringMatching(/^dms.subnet_group: /));
  });

  test('a missing password is named without touching the database', async () => {
    const services = { ...world.services(), secrets: { resolve: () => Promise.resolve(undefined) } };
    const report = await runPreflight(world.context({}, services));
    expect(report.problems).toContainEqual('source.password: the source password is not available (environment variable PGPASSWORD_TEST)');
    expect(world.opened).toEqual([]);
  });
});

describe('evaluateKeyPolicy', () => {
  const allow = (extra: object) => JSON.stringify({ Statement: [{ Effect: 'Allow', Resource: '*', ...extra }] });
  test.each([
    ['via RDS in the region', allow({ Principal: { AWS: '*' }, Action: 'kms:CreateGrant', Condition: { StringEquals: { 'kms:ViaService': 'rds.us-east-1.amazonaws.com' } } }), 'allowed'],
    ['via RDS with a wildcard region', allow({ Principal: { AWS: 'arn:aws:iam::1:role/x' }, Action: 'kms:Create*', Condition: { StringLike: { 'kms:ViaService': 'rds.*.amazonaws.com' } } }), 'allowed'],
    ['to anyone', allow({ Principal: '*', Action: 'kms:*' }), 'allowed'],
    ['delegated to IAM (account root)', allow({ Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*' }), 'uncertain'],
    ['to named roles only', allow({ Principal: { AWS: ['arn:aws:iam::1:role/dba'] }, Action: ['kms:CreateGrant'] }), 'uncertain'],
    ['via RDS in another region only', allow({ Principal: '*', Action: 'kms:CreateGrant', Condition: { StringEquals: { 'kms:ViaService': 'rds.eu-west-1.amazonaws.com' } } }), 'denied'],
    ['never', allow({ Principal: '*', Action: ['kms:Decrypt'] }), 'denied'],
    [
      'IAM delegation but an explicit deny to everyone',
      JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::1:root' }, Action: 'kms:*' }, { Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:CreateGrant' }] }),
      'denied',
    ],
    [
      'a deny narrowed by another condition',
      JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'kms:*' }, { Effect: 'Deny', Principal: '*', Action: 'kms:CreateGrant', Condition: { Bool: { 'kms:GrantIsForAWSResource': 'false' } } }] }),
      'allowed',
    ],
    ['not JSON', '{', 'uncertain'],
  ])('%s', (_name, policy, verdict) => {
    expect(evaluateKeyPolicy(policy, 'us-east-1').verdict).toBe(verdict);
  });

  test('a grant with CreateGrant turns a denial into uncertainty', () => {
    const none = JSON.stringify({ Statement: [] });
    expect(evaluateKeyPolicy(none, 'us-east-1', [{ Operations: ['CreateGrant', 'Decrypt'] }]).verdict).toBe('uncertain');
  });
});
