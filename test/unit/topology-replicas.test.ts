// Read replicas and secondary Regions (src/topology/replicas.ts, src/steps/topology-replicas.ts) against real SDK v3
// clients mocked per Region with aws-sdk-client-mock: discovery in each replica's own Region, every problem with
// the Regions' keys at once, the exact requests that recreate a same-Region and a cross-Region replica
// (KmsKeyId and SourceRegion only for the latter); an Aurora global database headed again by the new cluster, its
// secondary Region added under that Region's key, through the step-lifecycle harness.
import { describe, expect, test } from '@jest/globals';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { DatabaseMigrationServiceClient } from '@aws-sdk/client-database-migration-service';
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { KeyMetadata } from '@aws-sdk/client-kms';
import {
  CreateDBClusterCommand, CreateDBInstanceCommand, CreateDBInstanceReadReplicaCommand, CreateGlobalClusterCommand, DeleteDBClusterCommand, DeleteDBInstanceCommand,
  DeleteGlobalClusterCommand, DescribeDBClustersCommand, DescribeDBInstancesCommand, DescribeGlobalClustersCommand, ModifyDBClusterCommand, ModifyDBInstanceCommand,
  ModifyGlobalClusterCommand, RDSClient, RemoveFromGlobalClusterCommand,
} from '@aws-sdk/client-rds';
import type { DBCluster, DBInstance, Tag } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import type { Cloud } from '../../src/aws/cloud.js';
import type { StepContext } from '../../src/engine/types.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { resourceNames } from '../../src/steps/names.js';
import type { RekeyServices } from '../../src/steps/services.js';
import { recreateReplicas } from '../../src/steps/topology-replicas.js';
import { topologyGlobal } from '../../src/steps/topology-global.js';
import type { TopologyGlobalOutput } from '../../src/steps/topology-global.js';
import { globalClusterPreflight } from '../../src/topology/global.js';
import { stepLifecycle } from '../helpers/lifecycle.js';
import { replicaPreflight } from '../../src/topology/replicas.js';

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

// ---------------- Aurora global database: a tiny per-Region cluster store and one store of global clusters behind the mocks
type Members = { DBClusterArn: string; IsWriter: boolean }[];
const clusterArnOf = (region: string, id: string): string => `arn:aws:rds:${region}:${ACCOUNT}:cluster:${id}`;

/** Aurora clusters and members in each Region, and the global clusters (seen from every Region), as RDS keeps them. */
function auroraWorld(): { home: Region; eu: Region; clusters: Map<string, Map<string, DBCluster>>; globals: Map<string, { id: string; members: Members }> } {
  const home = new Region('us-east-1');
  const eu = new Region('eu-west-1');
  const clusters = new Map<string, Map<string, DBCluster>>([[home.name, new Map()], [eu.name, new Map()]]);
  const globals = new Map<string, { id: string; members: Members }>();
  const globalShape = (g: { id: string; members: Members }) => ({ GlobalClusterIdentifier: g.id, Status: 'available', GlobalClusterMembers: g.members.map((m) => ({ ...m })) });
  const gOf = (id: string | undefined) => {
    const g = id ? globals.get(id) : undefined;
    if (!g) throw notFound('GlobalClusterNotFoundFault');
    return g;
  };
  for (const r of [home, eu]) {
    const here = clusters.get(r.name)!;
    r.rdsMock.on(DescribeDBClustersCommand).callsFake((input: { DBClusterIdentifier: string }) => {
      const c = here.get(input.DBClusterIdentifier);
      if (!c) throw notFound('DBClusterNotFoundFault');
      const seen = { ...c, DBClusterMembers: [...r.instances.values()].filter((i) => i.DBClusterIdentifier === c.DBClusterIdentifier).map((i) => ({ DBInstanceIdentifier: i.DBInstanceIdentifier, IsClusterWriter: false })) };
      c.Status = 'available';
      return { DBClusters: [seen] };
    });
    r.rdsMock.on(ModifyDBClusterCommand).callsFake((input: { DBClusterIdentifier: string; NewDBClusterIdentifier: string }) => {
      const c = here.get(input.DBClusterIdentifier);
      if (!c) throw notFound('DBClusterNotFoundFault');
      here.delete(input.DBClusterIdentifier);
      const arn = clusterArnOf(r.name, input.NewDBClusterIdentifier);
      for (const g of globals.values()) for (const m of g.members) if (m.DBClusterArn === c.DBClusterArn) m.DBClusterArn = arn;
      for (const i of r.instances.values()) if (i.DBClusterIdentifier === input.DBClusterIdentifier) i.DBClusterIdentifier = input.NewDBClusterIdentifier;
      here.set(input.NewDBClusterIdentifier, { ...c, DBClusterIdentifier: input.NewDBClusterIdentifier, DBClusterArn: arn, Status: 'renaming' });
      return {};
    });
    r.rdsMock.on(CreateDBClusterCommand).callsFake((input: { DBClusterIdentifier: string; GlobalClusterIdentifier: string; KmsKeyId: string; Tags: Tag[] }) => {
      const arn = clusterArnOf(r.name, input.DBClusterIdentifier);
      here.set(input.DBClusterIdentifier, { DBClusterIdentifier: input.DBClusterIdentifier, DBClusterArn: arn, Status: 'creating', KmsKeyId: input.KmsKeyId, GlobalClusterIdentifier: input.GlobalClusterIdentifier, TagList: input.Tags });
      gOf(input.GlobalClusterIdentifier).members.push({ DBClusterArn: arn, IsWriter: false });
      return {};
    });
    r.rdsMock.on(DeleteDBClusterCommand).callsFake((input: { DBClusterIdentifier: string }) => {
      const c = here.get(input.DBClusterIdentifier);
      if ([...globals.values()].some((g) => g.members.some((m) => m.DBClusterArn === c?.DBClusterArn))) throw Object.assign(new Error('member of a global cluster'), { name: 'InvalidDBClusterStateFault' });
      here.delete(input.DBClusterIdentifier);
      return {};
    });
    r.rdsMock.on(CreateDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string; DBClusterIdentifier: string; DBInstanceClass: string; Tags: Tag[] }) => {
      r.instances.set(input.DBInstanceIdentifier, { DBInstanceIdentifier: input.DBInstanceIdentifier, DBClusterIdentifier: input.DBClusterIdentifier, DBInstanceClass: input.DBInstanceClass, DBInstanceStatus: 'creating', TagList: input.Tags });
      return {};
    });
    r.rdsMock.on(DeleteDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      r.instances.delete(input.DBInstanceIdentifier);
      return {};
    });
    r.rdsMock.on(DescribeGlobalClustersCommand).callsFake((input: { GlobalClusterIdentifier?: string }) => ({ GlobalClusters: input.GlobalClusterIdentifier ? [globalShape(gOf(input.GlobalClusterIdentifier))] : [...globals.values()].map(globalShape) }));
    r.rdsMock.on(CreateGlobalClusterCommand).callsFake((input: { GlobalClusterIdentifier: string; SourceDBClusterIdentifier: string }) => {
      globals.set(input.GlobalClusterIdentifier, { id: input.GlobalClusterIdentifier, members: [{ DBClusterArn: input.SourceDBClusterIdentifier, IsWriter: true }] });
      return {};
    });
    r.rdsMock.on(ModifyGlobalClusterCommand).callsFake((input: { GlobalClusterIdentifier: string; NewGlobalClusterIdentifier: string }) => {
      const g = gOf(input.GlobalClusterIdentifier);
      globals.delete(g.id);
      globals.set(input.NewGlobalClusterIdentifier, { ...g, id: input.NewGlobalClusterIdentifier });
      return {};
    });
    r.rdsMock.on(RemoveFromGlobalClusterCommand).callsFake((input: { GlobalClusterIdentifier: string; DbClusterIdentifier: string }) => {
      const g = gOf(input.GlobalClusterIdentifier);
      g.members = g.members.filter((m) => m.DBClusterArn !== input.DbClusterIdentifier);
      for (const c of here.values()) if (c.DBClusterArn === input.DbClusterIdentifier) delete c.GlobalClusterIdentifier;
      return {};
    });
    r.rdsMock.on(DeleteGlobalClusterCommand).callsFake((input: { GlobalClusterIdentifier: string }) => {
      if (gOf(input.GlobalClusterIdentifier).members.length > 0) throw Object.assign(new Error('has members'), { name: 'InvalidGlobalClusterStateFault' });
      globals.delete(input.GlobalClusterIdentifier);
      return {};
    });
    r.cwMock.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'global_lag', Values: [120, 80], Timestamps: [new Date(1000), new Date(2000)] }] });
  }
  // Before the run: orders (old key) heads orders-global with orders-eu (its Region's old key, two instances).
  const oldEu = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/old-eu`;
  clusters.get('us-east-1')!.set('orders', { DBClusterIdentifier: 'orders', DBClusterArn: clusterArnOf('us-east-1', 'orders'), Status: 'available', KmsKeyId: OLD_KEY, Engine: 'aurora-postgresql', EngineVersion: '15.4' });
  clusters.get('eu-west-1')!.set('orders-eu', {
    DBClusterIdentifier: 'orders-eu', DBClusterArn: clusterArnOf('eu-west-1', 'orders-eu'), Status: 'available', KmsKeyId: oldEu, Engine: 'aurora-postgresql', EngineVersion: '15.4',
    DBSubnetGroup: 'orders-eu-subnets', DBClusterParameterGroup: 'orders-apg15', VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0eu' }], GlobalClusterIdentifier: 'orders-global',
  });
  for (const [n, cls] of [[1, 'db.r6g.large'], [2, 'db.r6g.xlarge']] as const) {
    eu.instances.set(`orders-eu-${n}`, { DBInstanceIdentifier: `orders-eu-${n}`, DBClusterIdentifier: 'orders-eu', DBInstanceClass: cls, AvailabilityZone: `eu-west-1${n === 1 ? 'a' : 'b'}`, PromotionTier: n, DBParameterGroups: [{ DBParameterGroupName: 'orders-apg15-inst' }], DBInstanceStatus: 'available' });
  }
  globals.set('orders-global', { id: 'orders-global', members: [{ DBClusterArn: clusterArnOf('us-east-1', 'orders'), IsWriter: true }, { DBClusterArn: clusterArnOf('eu-west-1', 'orders-eu'), IsWriter: false }] });
  return { home, eu, clusters, globals };
}

function auroraRunbook(regionKeys: Record<string, string>): Runbook {
  return runbookSchema.parse({
    version: 1, name: 't', region: 'us-east-1', account: ACCOUNT,
    source: { engine: 'aurora-postgresql', identifier: 'orders', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    target: { kmsKeyId: 'alias/app-new', regionKeys },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'verify-full', certificateArn: `arn:aws:dms:us-east-1:${ACCOUNT}:cert:RDSCA` },
  });
}

describe('Aurora global database', () => {
  test('preflight: each secondary read in its Region, its key checked there, the plan said; a Region without a key is a problem', async () => {
    const { home, eu } = auroraWorld();
    eu.key('alias/app-eu', euMeta);
    const cloud = cloudOf(home, [eu]);
    const arn = clusterArnOf('us-east-1', 'orders');
    const { checks, plan } = await globalClusterPreflight(cloud, auroraRunbook({ 'eu-west-1': 'alias/app-eu' }), { DBClusterArn: arn, DBClusterIdentifier: 'orders' }, RUN_ID);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(plan).toMatchObject({
      identifier: 'orders-global', regions: ['eu-west-1'], regionKeys: [{ region: 'eu-west-1', arn: EU_KEY, multiRegion: true }],
      secondaries: [{
        identifier: 'orders-eu', region: 'eu-west-1', subnetGroup: 'orders-eu-subnets', parameterGroup: 'orders-apg15', securityGroupIds: ['sg-0eu'],
        instances: [
          { identifier: 'orders-eu-1', instanceClass: 'db.r6g.large', availabilityZone: 'eu-west-1a', parameterGroup: 'orders-apg15-inst', promotionTier: 1 },
          { identifier: 'orders-eu-2', instanceClass: 'db.r6g.xlarge', availabilityZone: 'eu-west-1b', parameterGroup: 'orders-apg15-inst', promotionTier: 2 },
        ],
      }],
    });
    expect(plan?.actions).toEqual([
      'global database orders-global: renamed to orders-global-old-abcd1234 (it keeps the old cluster and the old secondaries, for rollback); a new orders-global is created with the new cluster as its primary',
      'secondary orders-eu in eu-west-1: renamed to orders-eu-old-abcd1234 (stays in the old global database), then added again as orders-eu in orders-global under alias/app-eu with 2 instances (db.r6g.large, db.r6g.xlarge)',
    ]);
    expect(checks.find((c) => c.id === 'global.secondaries')).toMatchObject({ ok: true });
    // Without the Region's key: a problem (error), not a warning; and not a member: nothing to say.
    const missing = await globalClusterPreflight(cloud, auroraRunbook({}), { DBClusterArn: arn, DBClusterIdentifier: 'orders' }, RUN_ID);
    expect(missing.checks.filter((c) => !c.ok).map((c) => [c.id, c.severity])).toEqual([['global.key.eu-west-1', 'error']]);
    expect((await globalClusterPreflight(cloud, auroraRunbook({}), { DBClusterArn: clusterArnOf('us-east-1', 'other') }, RUN_ID)).checks).toEqual([]);
  });

  test('topology-global: the requests, then run again (nothing made twice), undo (all taken back), undo again, run', async () => {
    const { home, eu, clusters, globals } = auroraWorld();
    eu.key('alias/app-eu', euMeta);
    const rb = auroraRunbook({ 'eu-west-1': 'alias/app-eu' });
    const cloud = cloudOf(home, [eu]);
    const { plan } = await globalClusterPreflight(cloud, rb, { DBClusterArn: clusterArnOf('us-east-1', 'orders'), DBClusterIdentifier: 'orders' }, RUN_ID);
    // After the switch: the old cluster is parked, the new one answers to `orders` under the new key.
    const homeClusters = clusters.get('us-east-1')!;
    homeClusters.set('orders-old-abcd1234', { ...homeClusters.get('orders')!, DBClusterIdentifier: 'orders-old-abcd1234', DBClusterArn: clusterArnOf('us-east-1', 'orders-old-abcd1234') });
    globals.get('orders-global')!.members[0]!.DBClusterArn = clusterArnOf('us-east-1', 'orders-old-abcd1234');
    homeClusters.set('orders', { DBClusterIdentifier: 'orders', DBClusterArn: clusterArnOf('us-east-1', 'orders'), Status: 'available', KmsKeyId: NEW_KEY, Engine: 'aurora-postgresql', EngineVersion: '15.4' });
    const ctx = stepContext(cloud, rb, undefined);
    (ctx.outputs.preflight as Record<string, unknown>).globalDatabase = plan;
    const creates = (): number => [home, eu].flatMap((r) => r.rdsMock.calls()).filter((c) => /^Create/.test((c.args[0] as object).constructor.name)).length;
    const deletes = (): number => [home, eu].flatMap((r) => r.rdsMock.calls()).filter((c) => /^(Delete|Modify|RemoveFrom)/.test((c.args[0] as object).constructor.name)).length;
    const result = await stepLifecycle({ flow: { id: 'global', steps: [topologyGlobal] }, ctx, creations: creates, deletions: deletes }, 'topology-global');

    const tags = [{ Key: 'rekey:run-id', Value: RUN_ID }];
    // The first run's requests (the lifecycle ran it three times; the later runs repeat the same ones after an undo).
    expect(home.rdsMock.commandCalls(ModifyGlobalClusterCommand)[0]?.args[0].input).toEqual({ GlobalClusterIdentifier: 'orders-global', NewGlobalClusterIdentifier: 'orders-global-old-abcd1234' });
    expect(home.rdsMock.commandCalls(CreateGlobalClusterCommand)[0]?.args[0].input).toEqual({ GlobalClusterIdentifier: 'orders-global', SourceDBClusterIdentifier: clusterArnOf('us-east-1', 'orders'), Tags: tags });
    expect(eu.rdsMock.commandCalls(ModifyDBClusterCommand)[0]?.args[0].input).toEqual({ DBClusterIdentifier: 'orders-eu', NewDBClusterIdentifier: 'orders-eu-old-abcd1234', ApplyImmediately: true });
    expect(eu.rdsMock.commandCalls(CreateDBClusterCommand)[0]?.args[0].input).toEqual({
      DBClusterIdentifier: 'orders-eu', GlobalClusterIdentifier: 'orders-global', Engine: 'aurora-postgresql', EngineVersion: '15.4', KmsKeyId: EU_KEY, StorageEncrypted: true,
      DBSubnetGroupName: 'orders-eu-subnets', DBClusterParameterGroupName: 'orders-apg15', VpcSecurityGroupIds: ['sg-0eu'], Tags: tags,
    });
    expect(eu.rdsMock.commandCalls(CreateDBInstanceCommand).slice(0, 2).map((c) => c.args[0].input)).toEqual([
      { DBInstanceIdentifier: 'orders-eu-rekey-abcd1234-1', DBClusterIdentifier: 'orders-eu', Engine: 'aurora-postgresql', DBInstanceClass: 'db.r6g.large', AvailabilityZone: 'eu-west-1a', DBParameterGroupName: 'orders-apg15-inst', PromotionTier: 1, Tags: tags },
      { DBInstanceIdentifier: 'orders-eu-rekey-abcd1234-2', DBClusterIdentifier: 'orders-eu', Engine: 'aurora-postgresql', DBInstanceClass: 'db.r6g.xlarge', AvailabilityZone: 'eu-west-1b', DBParameterGroupName: 'orders-apg15-inst', PromotionTier: 2, Tags: tags },
    ]);
    expect(eu.cwMock.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries?.[0]?.MetricStat?.Metric).toEqual({
      Namespace: 'AWS/RDS', MetricName: 'AuroraGlobalDBReplicationLag', Dimensions: [{ Name: 'DBClusterIdentifier', Value: 'orders-eu' }],
    });
    // Undo: the secondary detached in its Region before it is deleted, the primary detached last, the old names back.
    expect(eu.rdsMock.commandCalls(RemoveFromGlobalClusterCommand)[0]?.args[0].input).toEqual({ GlobalClusterIdentifier: 'orders-global', DbClusterIdentifier: clusterArnOf('eu-west-1', 'orders-eu') });
    expect(home.rdsMock.commandCalls(RemoveFromGlobalClusterCommand)[0]?.args[0].input).toEqual({ GlobalClusterIdentifier: 'orders-global', DbClusterIdentifier: clusterArnOf('us-east-1', 'orders') });
    expect(result).toMatchObject({ createdByRun: 4, hasUndo: true });
    expect(result.deletedByUndo).toBeGreaterThanOrEqual(7);
    // The final run's result: the new cluster heads orders-global with orders-eu under the Region's key; the old ones parked.
    const out = ctx.outputs['topology-global'] as TopologyGlobalOutput;
    expect(out).toEqual({
      globalCluster: 'orders-global', oldGlobalCluster: 'orders-global-old-abcd1234',
      secondaries: [{ oldIdentifier: 'orders-eu', oldNow: 'orders-eu-old-abcd1234', identifier: 'orders-eu', region: 'eu-west-1', arn: clusterArnOf('eu-west-1', 'orders-eu'), kmsKeyId: EU_KEY, instances: ['orders-eu-rekey-abcd1234-1', 'orders-eu-rekey-abcd1234-2'], lagMs: 80 }],
    });
    expect(globals.get('orders-global')?.members).toEqual([{ DBClusterArn: clusterArnOf('us-east-1', 'orders'), IsWriter: true }, { DBClusterArn: clusterArnOf('eu-west-1', 'orders-eu'), IsWriter: false }]);
    expect(globals.get('orders-global-old-abcd1234')?.members.map((m) => m.DBClusterArn)).toEqual([clusterArnOf('us-east-1', 'orders-old-abcd1234'), clusterArnOf('eu-west-1', 'orders-eu-old-abcd1234')]);    // The cutover gate says which secondaries are added again after the switch.
    const { cutoverGate } = await import('../../src/steps/hooks.js');
    Object.assign(ctx.outputs.preflight as object, { tablesWithoutPk: [], estimate: { totalSeconds: 9, awsRenameDnsSeconds: 0 } });
    expect(await cutoverGate.facts(ctx)).toMatchObject({ globalSecondariesAddedAfterSwitch: 'orders-global: orders-eu (eu-west-1)' });
  });
});
