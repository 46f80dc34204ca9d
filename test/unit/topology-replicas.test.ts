// Read replicas and secondary Regions (src/topology/replicas.ts, src/steps/topology-replicas.ts) against real SDK v3
// clients mocked per Region with aws-sdk-client-mock: discovery in each replica's own Region, every problem with
// the Regions' keys at once, the exact requests that recreate a same-Region and a cross-Region replica
// (KmsKeyId and SourceRegion only for the latter), and an Aurora global cluster with its secondary Region.
import { describe, expect, test } from '@jest/globals';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { DatabaseMigrationServiceClient } from '@aws-sdk/client-database-migration-service';
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { KeyMetadata } from '@aws-sdk/client-kms';
import {
  CreateDBClusterCommand, CreateDBInstanceReadReplicaCommand, CreateGlobalClusterCommand, DescribeDBClustersCommand, DescribeDBInstancesCommand,
  DescribeGlobalClustersCommand, ModifyDBInstanceCommand, RDSClient,
} from '@aws-sdk/client-rds';
import type { DBInstance } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import type { Cloud } from '../../src/aws/cloud.js';
import type { StepContext } from '../../src/engine/types.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { resourceNames } from '../../src/steps/names.js';
import type { RekeyServices } from '../../src/steps/services.js';
import { recreateReplicas } from '../../src/steps/topology-replicas.js';
import { addGlobalSecondary, globalClusterPreflight, replicaPreflight } from '../../src/topology/replicas.js';

const ACCOUNT = '111122223333';
const NEW_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/11111111-2222-3333-4444-555555555555`;
const OLD_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-0000-0000-000000000000`;
const EU_KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef`;
const RUN_ID = 'abcd1234';
const POLICY = (region: string) => JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: '*' }, Action: ['kms:CreateGrant', 'kms:Decrypt', 'kms:GenerateDataKey*', 'kms:DescribeKey'], Resource: '*', Condition: { StringEquals: { 'kms:ViaService': `rds.${region}.amazonaws.com`, 'kms:CallerAccount': ACCOUNT } } }],
});

const notFound = (name: string): Error => Object.assign(new Error(name), { name, $fault: 'client', $metadata: { httpStatusCode: 404 } });

/** One Region: real SDK clients, each mocked on its own instance, and a tiny RDS instance store behind them. */
class Region {
  readonly rds: RDSClient;
  readonly kms: KMSClient;
  readonly cw: CloudWatchClient;
  readonly rdsMock: AwsClientStub<RDSClient>;
  readonly kmsMock: AwsClientStub<KMSClient>;
  readonly cwMock: AwsClientStub<CloudWatchClient>;
  readonly instances = new Map<string, DBInstance>();
  constructor(readonly name: string) {
    this.rds = new RDSClient({ region: name });
    this.kms = new KMSClient({ region: name });
    this.cw = new CloudWatchClient({ region: name });
    this.rdsMock = mockClient(this.rds);
    this.kmsMock = mockClient(this.kms);
    this.cwMock = mockClient(this.cw);
    this.rdsMock.on(DescribeDBInstancesCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      const i = this.instances.get(input.DBInstanceIdentifier);
      if (!i) throw notFound('DBInstanceNotFoundFault');
      const seen = { ...i };
      i.DBInstanceStatus = 'available';
      return { DBInstances: [seen] };
    });
    this.rdsMock.on(ModifyDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string; NewDBInstanceIdentifier: string }) => {
      const i = this.instances.get(input.DBInstanceIdentifier);
      if (!i) throw notFound('DBInstanceNotFoundFault');
      this.instances.delete(input.DBInstanceIdentifier);
      const to = input.NewDBInstanceIdentifier;
      this.instances.set(to, { ...i, DBInstanceIdentifier: to, DBInstanceStatus: 'renaming', Endpoint: { Address: `${to}.abc.${this.name}.rds.amazonaws.com`, Port: 5432 } });
      return {};
    });
    this.rdsMock.on(CreateDBInstanceReadReplicaCommand).callsFake((input: { DBInstanceIdentifier: string; KmsKeyId?: string; Tags: { Key: string; Value: string }[] }) => {
      const id = input.DBInstanceIdentifier;
      this.instances.set(id, {
        DBInstanceIdentifier: id, DBInstanceArn: `arn:aws:rds:${this.name}:${ACCOUNT}:db:${id}`, DBInstanceStatus: 'creating',
        KmsKeyId: input.KmsKeyId ?? NEW_KEY, TagList: input.Tags, Endpoint: { Address: `${id}.abc.${this.name}.rds.amazonaws.com`, Port: 5432 },
      });
      return {};
    });
    this.cwMock.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'replica_lag', Values: [2, 7], Timestamps: [new Date(1000), new Date(2000)] }] });
  }
  key(ref: string, meta: KeyMetadata, policyRegion = this.name): void {
    this.kmsMock.on(DescribeKeyCommand, { KeyId: ref }).resolves({ KeyMetadata: meta });
    this.kmsMock.on(GetKeyPolicyCommand).resolves({ Policy: POLICY(policyRegion) });
    this.kmsMock.on(ListGrantsCommand).resolves({ Grants: [] });
  }
}

function cloudOf(home: Region, others: Region[]): Cloud {
  const make = (r: Region): Cloud => ({
    provider: 'aws', region: r.name, rds: r.rds, kms: r.kms, cloudwatch: r.cw, dms: new DatabaseMigrationServiceClient({ region: r.name }), autoscaling: new ApplicationAutoScalingClient({ region: r.name }),
    inRegion: (name: string) => {
      const found = [home, ...others].find((x) => x.name === name);
      if (!found) throw new Error(`no Region ${name}`);
      return make(found);
    },
  });
  return make(home);
}

function runbook(regionKeys: Record<string, string>): Runbook {
  return runbookSchema.parse({
    version: 1, name: 't', region: 'us-east-1', account: ACCOUNT,
    source: { engine: 'postgres', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    target: { kmsKeyId: 'alias/app-new', regionKeys },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'verify-full', certificateArn: `arn:aws:dms:us-east-1:${ACCOUNT}:cert:RDSCA` },
  });
}

const replica = (id: string, region: string, key: string): DBInstance => ({
  DBInstanceIdentifier: id, DBInstanceArn: `arn:aws:rds:${region}:${ACCOUNT}:db:${id}`, DBInstanceStatus: 'available', KmsKeyId: key,
  DBInstanceClass: 'db.r6g.large', AvailabilityZone: `${region}b`, StorageType: 'gp3', AllocatedStorage: 200, Iops: 3000, MultiAZ: false,
  DBParameterGroups: [{ DBParameterGroupName: 'app-pg15-replica' }], DBSubnetGroup: { DBSubnetGroupName: 'app-subnets' }, VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0abc' }],
  PubliclyAccessible: false, AutoMinorVersionUpgrade: true, ReadReplicaSourceDBInstanceIdentifier: region === 'us-east-1' ? 'app-db' : `arn:aws:rds:us-east-1:${ACCOUNT}:db:app-db`,
  Endpoint: { Address: `${id}.abc.${region}.rds.amazonaws.com`, Port: 5432 },
});

const source: DBInstance = {
  DBInstanceIdentifier: 'app-db', DBInstanceArn: `arn:aws:rds:us-east-1:${ACCOUNT}:db:app-db`, KmsKeyId: OLD_KEY,
  ReadReplicaDBInstanceIdentifiers: ['app-db-r1', `arn:aws:rds:eu-west-1:${ACCOUNT}:db:app-db-eu`],
};

function world(): { home: Region; eu: Region; ap: Region } {
  const home = new Region('us-east-1');
  const eu = new Region('eu-west-1');
  const ap = new Region('ap-south-1');
  home.instances.set('app-db-r1', replica('app-db-r1', 'us-east-1', OLD_KEY));
  eu.instances.set('app-db-eu', replica('app-db-eu', 'eu-west-1', `arn:aws:kms:eu-west-1:${ACCOUNT}:key/old-eu`));
  ap.instances.set('app-db-ap', replica('app-db-ap', 'ap-south-1', `arn:aws:kms:ap-south-1:${ACCOUNT}:key/old-ap`));
  return { home, eu, ap };
}

const euMeta: KeyMetadata = { KeyId: 'mrk-0123456789abcdef0123456789abcdef', Arn: EU_KEY, Enabled: true, KeyState: 'Enabled', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', MultiRegion: true };

describe('preflight of read replicas and their Regions', () => {
  test('finds each replica in its own Region; a multi-Region key is accepted and reported; the plan says what happens to each', async () => {
    const { home, eu, ap } = world();
    eu.key('alias/app-eu', euMeta);
    const { checks, plan } = await replicaPreflight(cloudOf(home, [eu, ap]), runbook({ 'eu-west-1': 'alias/app-eu' }), source, { runId: RUN_ID, newPrimaryName: 'app-db-rekey-abcd1234' });
    expect(checks.filter((c) => !c.ok && c.severity === 'error')).toEqual([]);
    expect(checks.find((c) => c.id === 'replicas.key.eu-west-1')?.message).toContain('(a multi-Region key)');
    expect(plan?.found.map((r) => [r.identifier, r.region, r.crossRegion, r.instanceClass, r.availabilityZone, r.allocatedStorage, r.parameterGroup])).toEqual([
      ['app-db-r1', 'us-east-1', false, 'db.r6g.large', 'us-east-1b', 200, 'app-pg15-replica'],
      ['app-db-eu', 'eu-west-1', true, 'db.r6g.large', 'eu-west-1b', 200, 'app-pg15-replica'],
    ]);
    expect(plan?.regionKeys).toEqual([{ region: 'eu-west-1', ref: 'alias/app-eu', arn: EU_KEY, multiRegion: true }]);
    expect(plan?.actions[1]).toBe('app-db-eu: renamed to app-db-eu-old-abcd1234 (stays attached to the old primary), then recreated as app-db-eu from the new primary in eu-west-1 under alias/app-eu');
    // AWS: 15 min of fixed waits plus 200 GiB at 100 MB/s.
    expect(plan?.withoutReplicasSeconds).toBe(900 + Math.round((200 * 1024 ** 3) / 100e6));
    expect(eu.kmsMock.commandCalls(DescribeKeyCommand)).toHaveLength(1);
    expect(home.kmsMock.commandCalls(DescribeKeyCommand)).toHaveLength(0);
  });

  test('every problem at once: a Region without a key, a key of another Region that is also disabled, an unused entry', async () => {
    const { home, eu, ap } = world();
    const withAp: DBInstance = { ...source, ReadReplicaDBInstanceIdentifiers: [...(source.ReadReplicaDBInstanceIdentifiers ?? []), `arn:aws:rds:ap-south-1:${ACCOUNT}:db:app-db-ap`] };
    // The eu entry names the home Region's key (an ARN from us-east-1), which is disabled too.
    eu.key(NEW_KEY, { KeyId: 'k', Arn: NEW_KEY, Enabled: false, KeyState: 'Disabled', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' });
    const { checks, plan } = await replicaPreflight(cloudOf(home, [eu, ap]), runbook({ 'eu-west-1': NEW_KEY, 'us-west-2': 'alias/unused' }), withAp, { runId: RUN_ID, newPrimaryName: 'x' });
    const problems = checks.filter((c) => !c.ok && c.severity === 'error').map((c) => `${c.id}: ${c.message}`);
    expect(problems).toEqual([
      `replicas.key.ap-south-1: a read replica lives in ap-south-1, but target.regionKeys has no key for ap-south-1: add {ap-south-1: alias/...} (a key of that Region)`,
      `replicas.key.eu-west-1: key ${NEW_KEY} for eu-west-1: it is in us-east-1, not eu-west-1 (KMS keys are regional: RDS in eu-west-1 cannot use it)`,
      `replicas.key.eu-west-1: key ${NEW_KEY} for eu-west-1: it is Disabled; it must be Enabled`,
    ]);
    expect(checks.find((c) => c.id === 'replicas.key.us-west-2.unused')).toMatchObject({ ok: false, severity: 'warning' });
    expect(plan?.regions).toEqual(['ap-south-1', 'eu-west-1']);
  });
});

function stepContext(cloud: Cloud, rb: Runbook, plan: unknown): StepContext<RekeyServices> {
  const logs: string[] = [];
  return {
    runId: RUN_ID, attempt: 1, signal: new AbortController().signal, checkpoints: {}, checkpoint: () => Promise.resolve(),
    outputs: { preflight: { replicas: plan, key: { arn: NEW_KEY, keyId: 'k', aliases: [] } } },
    report: { progress: () => undefined, metric: () => undefined, log: (_l: string, m: string) => void logs.push(m), publish: () => undefined },
    services: {
      cloud, runbook: rb, names: resourceNames(rb, RUN_ID), db: { open: () => Promise.reject(new Error('no database here')) },
      secrets: { resolve: () => Promise.resolve(undefined) }, exec: () => Promise.reject(new Error('no exec')),
      clock: { now: () => Date.now(), sleep: (ms: number) => new Promise((r) => setTimeout(r, Math.min(ms, 2))) },
      timing: { pollMs: 1, metricPeriodSeconds: 60, waitMaxSeconds: 10 },
    },
  } as unknown as StepContext<RekeyServices>;
}

describe('recreate-replicas: the requests', () => {
  test('same Region: from the primary by name, no KmsKeyId; cross-Region: by ARN, the Region key and SourceRegion; a re-run creates nothing', async () => {
    const { home, eu, ap } = world();
    eu.key('alias/app-eu', euMeta);
    const rb = runbook({ 'eu-west-1': 'alias/app-eu' });
    const cloud = cloudOf(home, [eu, ap]);
    const { plan } = await replicaPreflight(cloud, rb, source, { runId: RUN_ID, newPrimaryName: 'x' });
    // After the switch: the new primary holds the source's name, under the new key.
    home.instances.set('app-db', { DBInstanceIdentifier: 'app-db', DBInstanceArn: `arn:aws:rds:us-east-1:${ACCOUNT}:db:app-db`, DBInstanceStatus: 'available', KmsKeyId: NEW_KEY });
    const ctx = stepContext(cloud, rb, plan);
    const out = await recreateReplicas.run(ctx);

    expect(home.rdsMock.commandCalls(ModifyDBInstanceCommand).map((c) => c.args[0].input)).toEqual([{ DBInstanceIdentifier: 'app-db-r1', NewDBInstanceIdentifier: 'app-db-r1-old-abcd1234', ApplyImmediately: true }]);
    expect(eu.rdsMock.commandCalls(ModifyDBInstanceCommand).map((c) => c.args[0].input)).toEqual([{ DBInstanceIdentifier: 'app-db-eu', NewDBInstanceIdentifier: 'app-db-eu-old-abcd1234', ApplyImmediately: true }]);
    const tags = [{ Key: 'rekey:run-id', Value: RUN_ID }];
    const common = {
      DBInstanceClass: 'db.r6g.large', MultiAZ: false, StorageType: 'gp3', AllocatedStorage: 200, Iops: 3000, DBParameterGroupName: 'app-pg15-replica',
      VpcSecurityGroupIds: ['sg-0abc'], PubliclyAccessible: false, AutoMinorVersionUpgrade: true, Tags: tags,
    };
    expect(home.rdsMock.commandCalls(CreateDBInstanceReadReplicaCommand).map((c) => c.args[0].input)).toEqual([
      { DBInstanceIdentifier: 'app-db-r1', SourceDBInstanceIdentifier: 'app-db', AvailabilityZone: 'us-east-1b', ...common },
    ]);
    expect(eu.rdsMock.commandCalls(CreateDBInstanceReadReplicaCommand).map((c) => c.args[0].input)).toEqual([{
      DBInstanceIdentifier: 'app-db-eu', SourceDBInstanceIdentifier: `arn:aws:rds:us-east-1:${ACCOUNT}:db:app-db`, AvailabilityZone: 'eu-west-1b', DBSubnetGroupName: 'app-subnets',
      KmsKeyId: EU_KEY, SourceRegion: 'us-east-1', ...common,
    }]);
    expect(out.replicas.map((r) => [r.identifier, r.region, r.kmsKeyId, r.oldNow, r.lagSeconds])).toEqual([
      ['app-db-r1', 'us-east-1', NEW_KEY, 'app-db-r1-old-abcd1234', 7],
      ['app-db-eu', 'eu-west-1', EU_KEY, 'app-db-eu-old-abcd1234', 7],
    ]);
    expect(eu.cwMock.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries?.[0]?.MetricStat?.Metric).toEqual({
      Namespace: 'AWS/RDS', MetricName: 'ReplicaLag', Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'app-db-eu' }],
    });

    // A re-entry (its success never journaled) finds the tagged replicas: no rename, no create.
    await recreateReplicas.run(ctx);
    expect([home, eu].map((r) => [r.rdsMock.commandCalls(ModifyDBInstanceCommand).length, r.rdsMock.commandCalls(CreateDBInstanceReadReplicaCommand).length])).toEqual([[1, 1], [1, 1]]);
  });

  test('a new replica reporting another key than its Region\'s fails the step', async () => {
    const { home, eu, ap } = world();
    eu.key('alias/app-eu', euMeta);
    const rb = runbook({ 'eu-west-1': 'alias/app-eu' });
    const cloud = cloudOf(home, [eu, ap]);
    const { plan } = await replicaPreflight(cloud, rb, source, { runId: RUN_ID, newPrimaryName: 'x' });
    home.instances.set('app-db', { DBInstanceIdentifier: 'app-db', DBInstanceArn: `arn:aws:rds:us-east-1:${ACCOUNT}:db:app-db`, DBInstanceStatus: 'available', KmsKeyId: NEW_KEY });
    eu.rdsMock.on(CreateDBInstanceReadReplicaCommand).callsFake((input: { DBInstanceIdentifier: string; Tags: { Key: string; Value: string }[] }) => {
      eu.instances.set(input.DBInstanceIdentifier, { DBInstanceIdentifier: input.DBInstanceIdentifier, DBInstanceStatus: 'available', KmsKeyId: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/other`, TagList: input.Tags });
      return {};
    });
    await expect(recreateReplicas.run(stepContext(cloud, rb, plan))).rejects.toThrow(`read replica app-db-eu in eu-west-1 reports KmsKeyId arn:aws:kms:eu-west-1:${ACCOUNT}:key/other, expected ${EU_KEY}`);
  });
});

describe('Aurora Global Database', () => {
  test('CreateGlobalCluster from the new primary by ARN, then CreateDBCluster in the secondary Region with GlobalClusterIdentifier and its key; once', async () => {
    const { home, eu } = world();
    home.rdsMock.on(DescribeGlobalClustersCommand).rejectsOnce(notFound('GlobalClusterNotFoundFault')).resolves({ GlobalClusters: [{ GlobalClusterIdentifier: 'orders-global' }] });
    home.rdsMock.on(CreateGlobalClusterCommand).resolves({});
    eu.rdsMock.on(DescribeDBClustersCommand).rejectsOnce(notFound('DBClusterNotFoundFault')).resolves({ DBClusters: [{ DBClusterIdentifier: 'orders-eu' }] });
    eu.rdsMock.on(CreateDBClusterCommand).resolves({});
    const cloud = cloudOf(home, [eu]);
    const primary = {
      DBClusterArn: `arn:aws:rds:us-east-1:${ACCOUNT}:cluster:orders`, Engine: 'aurora-postgresql', EngineVersion: '15.4',
    };
    const secondary = { identifier: 'orders-eu', region: 'eu-west-1', keyArn: EU_KEY, subnetGroup: 'orders-eu-subnets', parameterGroup: 'orders-pg15', securityGroupIds: ['sg-0eu'] };
    const tags = [{ Key: 'rekey:run-id', Value: RUN_ID }];
    expect(await addGlobalSecondary(cloud, 'orders-global', primary, secondary, tags)).toEqual({ createdGlobal: true, createdSecondary: true });
    expect(home.rdsMock.commandCalls(CreateGlobalClusterCommand).map((c) => c.args[0].input)).toEqual([
      { GlobalClusterIdentifier: 'orders-global', SourceDBClusterIdentifier: primary.DBClusterArn, Tags: tags },
    ]);
    expect(eu.rdsMock.commandCalls(CreateDBClusterCommand).map((c) => c.args[0].input)).toEqual([{
      DBClusterIdentifier: 'orders-eu', GlobalClusterIdentifier: 'orders-global', Engine: 'aurora-postgresql', EngineVersion: '15.4', KmsKeyId: EU_KEY, StorageEncrypted: true,
      DBSubnetGroupName: 'orders-eu-subnets', DBClusterParameterGroupName: 'orders-pg15', VpcSecurityGroupIds: ['sg-0eu'], Tags: tags,
    }]);
    expect(await addGlobalSecondary(cloud, 'orders-global', primary, secondary, tags)).toEqual({ createdGlobal: false, createdSecondary: false });
    expect([home.rdsMock.commandCalls(CreateGlobalClusterCommand).length, eu.rdsMock.commandCalls(CreateDBClusterCommand).length]).toEqual([1, 1]);
  });
});

describe('the cutover gate', () => {
  test('shows how many replicas are recreated after the switch, the Regions without one until then, and for how long', async () => {
    const { cutoverGate } = await import('../../src/steps/hooks.js');
    const { home, eu, ap } = world();
    eu.key('alias/app-eu', euMeta);
    const rb = runbook({ 'eu-west-1': 'alias/app-eu' });
    const { plan } = await replicaPreflight(cloudOf(home, [eu, ap]), rb, source, { runId: RUN_ID, newPrimaryName: 'x', replicaSeconds: 42 });
    const ctx = stepContext(cloudOf(home, [eu, ap]), rb, plan);
    (ctx.outputs as Record<string, unknown>).preflight = { ...(ctx.outputs.preflight as object), tablesWithoutPk: [], estimate: { totalSeconds: 9, awsRenameDnsSeconds: 0 } };
    expect(await cutoverGate.facts(ctx)).toMatchObject({ replicasToRecreate: 2, replicaRegions: 'eu-west-1', withoutReplicasSeconds: 42 });
  });
});

describe('Aurora global database at preflight', () => {
  test('the source as primary of a global database: its secondary Regions named, their keys checked there, the gap said', async () => {
    const { home, eu, ap } = world();
    eu.key('alias/app-eu', euMeta);
    const arn = `arn:aws:rds:us-east-1:${ACCOUNT}:cluster:orders`;
    home.rdsMock.on(DescribeGlobalClustersCommand).resolves({
      GlobalClusters: [{
        GlobalClusterIdentifier: 'orders-global',
        GlobalClusterMembers: [{ DBClusterArn: arn, IsWriter: true }, { DBClusterArn: `arn:aws:rds:eu-west-1:${ACCOUNT}:cluster:orders-eu`, IsWriter: false }, { DBClusterArn: `arn:aws:rds:ap-south-1:${ACCOUNT}:cluster:orders-ap`, IsWriter: false }],
      }],
    });
    const { checks, globalCluster } = await globalClusterPreflight(cloudOf(home, [eu, ap]), runbook({ 'eu-west-1': 'alias/app-eu' }), { DBClusterArn: arn, DBClusterIdentifier: 'orders' });
    expect(globalCluster).toEqual({ identifier: 'orders-global', secondaryRegions: ['ap-south-1', 'eu-west-1'] });
    expect(checks.filter((c) => !c.ok).map((c) => c.id)).toEqual(['global.key.ap-south-1', 'global.secondaries']);
    expect(checks.find((c) => c.id === 'replicas.key.eu-west-1')).toMatchObject({ ok: true });
    expect(checks.find((c) => c.id === 'global.secondaries')?.message).toContain('rekey does not re-add the secondaries yet');
    // Not a member: nothing to say.
    expect((await globalClusterPreflight(cloudOf(home, [eu, ap]), runbook({}), { DBClusterArn: `arn:aws:rds:us-east-1:${ACCOUNT}:cluster:other` })).checks).toEqual([]);
  });
});
