// A small fake AWS + database world for the step unit tests: aws-sdk-client-mock answers every command the
// flow sends from in-memory state (statuses move on at each describe), and a fake DbConnector plays the
// source and target databases. One timeline records AWS calls and SQL side effects in order.
import {
  ApplicationAutoScalingClient,
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
  PutScalingPolicyCommand,
  RegisterScalableTargetCommand,
} from '@aws-sdk/client-application-auto-scaling';
import type { ScalableTarget, ScalingPolicy } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient, GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateEndpointCommand,
  CreateReplicationTaskCommand,
  DatabaseMigrationServiceClient,
  DeleteEndpointCommand,
  DeleteReplicationTaskCommand,
  DescribeConnectionsCommand,
  DescribeEndpointsCommand,
  DescribeReplicationInstancesCommand,
  DescribeReplicationTasksCommand,
  DescribeTableStatisticsCommand,
  StartReplicationTaskCommand,
  StopReplicationTaskCommand,
  TestConnectionCommand,
} from '@aws-sdk/client-database-migration-service';
import type { Endpoint, ReplicationTask } from '@aws-sdk/client-database-migration-service';
import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient, ListAliasesCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { KeyMetadata } from '@aws-sdk/client-kms';
import {
  CreateBlueGreenDeploymentCommand,
  DeleteBlueGreenDeploymentCommand,
  DescribeBlueGreenDeploymentsCommand,
  DescribeDBProxiesCommand,
  SwitchoverBlueGreenDeploymentCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  CreateDBClusterEndpointCommand,
  DeleteDBClusterEndpointCommand,
  DescribeDBClusterEndpointsCommand,
  ModifyDBClusterEndpointCommand,
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  DescribeGlobalClustersCommand,
  DescribeEventsCommand,
  ListTagsForResourceCommand,
  ModifyDBClusterCommand,
  RDSClient,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  CopyDBSnapshotCommand,
  CreateDBInstanceReadReplicaCommand,
  CreateDBSnapshotCommand,
  DeleteDBClusterCommand,
  DeleteDBClusterSnapshotCommand,
  DeleteDBInstanceCommand,
  DeleteDBSnapshotCommand,
  DescribeDBParametersCommand,
  DescribeDBSnapshotsCommand,
  ModifyDBInstanceCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import type { BlueGreenDeployment, DBClusterEndpoint, DBCluster, DBClusterSnapshot, DBInstance, DBSnapshot, Event } from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { Cloud } from '../../src/aws/cloud.js';
import type { MyNative, PgNative, SubscriptionState } from '../../src/db/native.js';
import type { BinaryLog, DbAdapter, DbConnector, DbEndpoint, FenceState, KeyRange, OpenSession, SequenceState, SlotInfo, SnapshotReader, TableRef } from '../../src/db/types.js';
import type { Flow, StepContext } from '../../src/engine/types.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import type { Runbook, RunbookInput } from '../../src/runbook/schema.js';
import { resourceNames } from '../../src/steps/names.js';
import type { RekeyServices } from '../../src/steps/services.js';

/** A step context whose outputs the harness fills in as steps run. */
export type Ctx = StepContext<RekeyServices> & { outputs: Record<string, unknown> };

/** Runs the flow's steps in order (recording outputs) up to and including `last`. */
export async function runUntil(flow: Flow<RekeyServices>, ctx: Ctx, last?: string): Promise<void> {
  for (const step of flow.steps) {
    ctx.outputs[step.id] = await step.run(ctx);
    if (step.id === last) return;
  }
}

/** The flow's step with this id. */
export function step(flow: Flow<RekeyServices>, id: string) {
  const s = flow.steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
}

/** The inputs of every call a mocked client received for one command. */
export function inputs<T>(mock: { commandCalls: (c: never) => { args: [{ input: T }] }[] }, command: unknown): T[] {
  return mock.commandCalls(command as never).map((c) => c.args[0].input);
}

export const REGION = 'us-east-1';
export const OLD_KEY = 'arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111';
export const NEW_KEY = 'arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222';
export const RUN_ID = 'ab12cd34';
export const PASSWORD = 's3cret-Pa55word';
export const SEED_LSN = '0/3000060';
/** The DMS replication instance's private address: sessions from it on the source are DMS's own. */
export const DMS_ADDRESS = '10.0.9.9';

export const rdsMock = mockClient(RDSClient);
export const kmsMock = mockClient(KMSClient);
export const dmsMock = mockClient(DatabaseMigrationServiceClient);
export const cwMock = mockClient(CloudWatchClient);
export const asMock = mockClient(ApplicationAutoScalingClient);

export const CRASH_RECOVERY = 'Binlog position from crash recovery is mysql-bin-changelog.000002 154';

/** An Aurora MySQL runbook (verify-full: DMS does not take `require` for MySQL). */
export function mysqlRunbook(overrides: Partial<RunbookInput> = {}): Runbook {
  return testRunbook({
    source: { engine: 'aurora-mysql', identifier: 'shop-db', database: 'shop', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    dms: {
      replicationInstance: { identifier: 'rekey-ri' },
      sslMode: 'verify-full',
      certificateArn: 'arn:aws:dms:us-east-1:111122223333:cert:RDSCA',
      tables: { include: ['%.%'], exclude: ['%.tmp_%'] },
    },
    ...overrides,
  });
}

export function testRunbook(overrides: Partial<RunbookInput> = {}): Runbook {
  return runbookSchema.parse({
    version: 1,
    name: 'test',
    region: REGION,
    source: { engine: 'aurora-postgresql', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    target: { kmsKeyId: 'alias/app-new', tags: { owner: 'dba' } },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'require', tables: { include: ['public.%'], exclude: ['public.tmp_%'] } },
    cutover: { maxLatencySeconds: 5, sustainSeconds: 3, drainTimeoutSeconds: 5, fenceTimeoutSeconds: 120 },
    ...overrides,
  });
}

function fault(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 404 } });
}

type Side = 'source' | 'target';

/** As the SDK's send: always a promise, a fault is a rejection (callers may use .catch on it). */
function asSdk<I, O>(fn: (input: I) => O): (input: I) => Promise<O> {
  return (input) => {
    try {
      return Promise.resolve(fn(input));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };
}

/** In-memory state of everything; tests poke at it to make things fail. */
export class World {
  readonly timeline: string[] = [];
  readonly events: string[] = [];
  now = Date.parse('2026-01-01T00:00:00Z');
  clusters = new Map<string, DBCluster>();
  instances = new Map<string, DBInstance>();
  snapshots = new Map<string, DBClusterSnapshot>();
  endpoints = new Map<string, Endpoint>();
  connections = new Map<string, string>();
  tasks = new Map<string, ReplicationTask>();
  replicationInstanceExists = true;
  key: KeyMetadata = {
    KeyId: '22222222-2222-2222-2222-222222222222',
    Arn: NEW_KEY,
    Enabled: true,
    KeyState: 'Enabled',
    KeySpec: 'SYMMETRIC_DEFAULT',
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyManager: 'CUSTOMER',
  };
  keyPolicy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Sid: 'root', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: 'kms:*', Resource: '*' },
      {
        Sid: 'rds',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['kms:CreateGrant', 'kms:DescribeKey', 'kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
        Condition: { StringEquals: { 'kms:ViaService': 'rds.us-east-1.amazonaws.com', 'kms:CallerAccount': '111122223333' } },
      },
    ],
  });
  logicalReplication = '1';
  /** Latency readings returned in turn by GetMetricData (the last repeats). */
  latencies: [number, number][] = [[2, 1]];
  metricsPublished = true;
  /** WAL bytes the source retains for a slot (pg_wal_lsn_diff against restart_lsn); undefined: not readable. */
  retainedWal: number | undefined = undefined;
  taskFailsOnStart: string | undefined;
  sentinelArrives = true;
  // --- databases
  roles = new Map<string, boolean>([['app', true], ['reporting', true], ['rekey_admin', true]]);
  /** Sessions on the source of rekey's/DMS's own login from other clients (the fence cannot close them). */
  foreignSessions: OpenSession[] = [];
  /** Listing sessions fails (a permission or network problem). */
  openSessionsFail = false;
  slots: Record<Side, Map<string, SlotInfo>> = { source: new Map(), target: new Map() };
  sentinels: Record<Side, Set<string>> = { source: new Set(), target: new Set() };
  rows: Record<Side, Map<string, number>> = { source: new Map([['public.orders', 1000], ['public.items', 40]]), target: new Map([['public.orders', 1000], ['public.items', 40]]) };
  sequences: Record<Side, Map<string, bigint | null>> = {
    source: new Map<string, bigint | null>([['public.orders_id_seq', 1001n], ['public.shared_seq', 77n]]),
    target: new Map<string, bigint | null>([['public.orders_id_seq', 950n], ['public.shared_seq', 10n]]),
  };
  columnMax: Record<Side, Map<string, bigint | null>> = {
    source: new Map<string, bigint | null>([['public.orders.id', 1000n], ['public.items.code', 70n]]),
    target: new Map<string, bigint | null>([['public.orders.id', 1000n], ['public.items.code', 80n]]),
  };
  /** Rows (by id, tables with an integer key) whose content differs on that side. */
  corrupt: Record<Side, Set<string>> = { source: new Set(), target: new Set() };
  /** Tables with an integer primary key `id` (ids 1..rows); the others have none. */
  keyed = new Set(['public.orders']);
  /** Snapshot transactions begun, by side. */
  snapshotsBegun: Record<Side, number> = { source: 0, target: 0 };
  /** DescribeTableStatistics answers (per table: applied changes and state). */
  tableStatistics: { SchemaName: string; TableName: string; AppliedInserts: number; AppliedUpdates: number; AppliedDeletes: number; TableState: string }[] = [
    { SchemaName: 'public', TableName: 'orders', AppliedInserts: 10, AppliedUpdates: 0, AppliedDeletes: 0, TableState: 'Table completed' },
  ];
  opened: DbEndpoint[] = [];
  /** Which adapters the connector was asked for. */
  openedEngines = new Set<string>();
  // --- MySQL
  readonly isMysql: boolean;
  /** Cluster parameter group values (MySQL); a missing name is not listed, undefined is listed but unset. */
  mysqlParameters: Record<string, string | undefined> = { binlog_format: 'ROW', binlog_row_image: 'FULL', binlog_checksum: 'NONE' };
  /** The crash-recovery message the restored writer reports, and after how many DescribeEvents calls it shows up. */
  crashRecoveryMessage: string | undefined = CRASH_RECOVERY;
  crashRecoveryAfterCalls = 1;
  describeEventsCalls = 0;
  /** Events of each source, oldest first (RDS answers 2 per page here, to exercise Marker). */
  rdsEvents = new Map<string, Event[]>();
  binaryLogs: BinaryLog[] = [
    { file: 'mysql-bin-changelog.000002', size: 9000 },
    { file: 'mysql-bin-changelog.000003', size: 120 },
  ];
  binlogRetentionHours: number | null = 24;
  private pendingCrashRecovery: { dueAtCall: number; events: Event[] } | undefined;

  // --- native replication (strategy native): what the SQL leaves behind, per database
  publications: Record<Side, Set<string>> = { source: new Set(), target: new Set() };
  subscriptions: Record<Side, Map<string, SubscriptionState>> = { source: new Map(), target: new Map() };
  /** MySQL: the replica configured by rds_set_external_source, and whether its threads run. */
  replicas: Record<Side, { sourceHost: string; running: boolean; executed: { file: string; position: number } } | undefined> = { source: undefined, target: undefined };
  /** Creations and removals the native SQL made (publications, subscriptions, replica settings). */
  nativeCreates = 0;
  nativeDeletes = 0;
  // --- Aurora topology: custom endpoints by name, Auto Scaling targets and policies
  clusterEndpoints = new Map<string, DBClusterEndpoint>();
  /** DescribeDBClusterEndpoints calls a deleted endpoint is still listed as `deleting` for (AWS deletes in the background). */
  endpointDeletingDescribes = 0;
  private readonly endpointDeletesLeft = new Map<string, number>();
  scalableTargets: ScalableTarget[] = [];
  scalingPolicies: ScalingPolicy[] = [];
  // --- Blue/Green deployments, by name
  deployments = new Map<string, BlueGreenDeployment>();

  // --- RDS instances
  readonly isInstance: boolean;
  dbSnapshots = new Map<string, DBSnapshot>();
  /** Instance DB parameter group values. */
  instanceParameters: Record<string, string | undefined> = {};
  /** RDS for PostgreSQL: rds_tools.logical_seed_lsn() is missing on restored instances. */
  seedFunctionMissing = false;
  /** What SHOW REPLICA STATUS returns on the replica (its executed source coordinates). */
  replicaPosition = { file: 'mysql-bin-changelog.000002', position: 4242 };
  replicationStopped = false;
  /** How many polls an instance rename stays in `renaming` before `available`. */
  renamePolls = 2;
  /** Aurora: whether a renamed instance keeps its place in custom endpoint member lists (AWS does not document it). */
  endpointMembersFollowRenames = true;

  constructor(readonly runbook: Runbook = testRunbook(), opts: { readReplicas?: string[] } = {}) {
    const engine = runbook.source.engine;
    this.isMysql = engine === 'aurora-mysql' || engine === 'mysql' || engine === 'mariadb';
    this.isInstance = engine === 'postgres' || engine === 'mysql' || engine === 'mariadb';
    if (this.isInstance) {
      this.instanceParameters = this.isMysql ? { binlog_format: 'ROW', binlog_row_image: 'FULL', binlog_checksum: 'NONE' } : { 'rds.logical_replication': '1' };
      const replicas = opts.readReplicas ?? [];
      this.instances.set(runbook.source.identifier, { ...this.sourceInstance(), ...(replicas.length > 0 ? { ReadReplicaDBInstanceIdentifiers: replicas } : {}) });
      // Same-Region read replicas of the source: on its key, attached to it.
      for (const id of replicas) {
        this.instances.set(id, {
          DBInstanceIdentifier: id, DBInstanceArn: `arn:aws:rds:us-east-1:111122223333:db:${id}`, DBInstanceStatus: 'available', KmsKeyId: OLD_KEY, DBInstanceClass: 'db.r6g.large',
          AvailabilityZone: 'us-east-1c', StorageType: 'gp3', AllocatedStorage: 100, DBParameterGroups: [{ DBParameterGroupName: 'app-replica-params' }],
          ReadReplicaSourceDBInstanceIdentifier: runbook.source.identifier, Endpoint: { Address: `${id}.abc123.us-east-1.rds.amazonaws.com`, Port: this.isMysql ? 3306 : 5432 },
        });
      }
      return;
    }
    const id = runbook.source.identifier;
    this.clusters.set(id, {
      DBClusterIdentifier: id,
      DBClusterArn: `arn:aws:rds:us-east-1:111122223333:cluster:${id}`,
      Engine: 'aurora-postgresql',
      EngineVersion: '15.4',
      Status: 'available',
      Endpoint: `${id}.cluster-abc.us-east-1.rds.amazonaws.com`,
      Port: 5432,
      KmsKeyId: OLD_KEY,
      StorageEncrypted: true,
      BackupRetentionPeriod: 7,
      PreferredBackupWindow: '03:00-04:00',
      DBSubnetGroup: 'app-subnets',
      VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0abc', Status: 'active' }, { VpcSecurityGroupId: 'sg-0def', Status: 'active' }],
      DBClusterParameterGroup: 'app-pg15-logical',
      DeletionProtection: true,
      IAMDatabaseAuthenticationEnabled: true,
      EnabledCloudwatchLogsExports: ['postgresql'],
      ...(this.isMysql
        ? { Engine: 'aurora-mysql', EngineVersion: '8.0.mysql_aurora.3.05.2', Port: 3306, DBClusterParameterGroup: 'shop-aurora-mysql8', EnabledCloudwatchLogsExports: ['error', 'slowquery'] }
        : {}),
      CopyTagsToSnapshot: true,
      DBClusterMembers: [{ DBInstanceIdentifier: `${id}-w`, IsClusterWriter: true }, { DBInstanceIdentifier: `${id}-r`, IsClusterWriter: false }],
    });
    this.instances.set(`${id}-w`, {
      DBInstanceIdentifier: `${id}-w`,
      DBInstanceClass: 'db.r6g.xlarge',
      DBInstanceStatus: 'available',
      DBParameterGroups: [{ DBParameterGroupName: this.isMysql ? 'shop-mysql8-instance' : 'app-pg15-instance' }],
      PubliclyAccessible: false,
      PromotionTier: 1,
      MonitoringInterval: 30,
      MonitoringRoleArn: 'arn:aws:iam::111122223333:role/rds-monitoring',
      PerformanceInsightsEnabled: true,
      PerformanceInsightsKMSKeyId: OLD_KEY,
      PerformanceInsightsRetentionPeriod: 731,
    });
    // One reader (another AZ, failover tier 2, its own monitoring) behind a custom endpoint, and Aurora Auto Scaling.
    this.instances.set(`${id}-r`, {
      DBInstanceIdentifier: `${id}-r`,
      DBInstanceArn: `arn:aws:rds:us-east-1:111122223333:db:${id}-r`,
      DBInstanceClass: 'db.r6g.large',
      DBInstanceStatus: 'available',
      AvailabilityZone: 'us-east-1c',
      PromotionTier: 2,
      DBParameterGroups: [{ DBParameterGroupName: this.isMysql ? 'shop-mysql8-instance' : 'app-pg15-instance' }],
      MonitoringInterval: 60,
      MonitoringRoleArn: 'arn:aws:iam::111122223333:role/rds-monitoring',
      PerformanceInsightsEnabled: true,
      PerformanceInsightsKMSKeyId: OLD_KEY,
      PerformanceInsightsRetentionPeriod: 7,
      AutoMinorVersionUpgrade: false,
      PubliclyAccessible: false,
      TagList: [{ Key: 'team', Value: 'payments' }, { Key: 'aws:cloudformation:stack-name', Value: 'x' }],
    });
    this.clusterEndpoints.set(`${id}-analytics`, {
      DBClusterEndpointIdentifier: `${id}-analytics`, DBClusterIdentifier: id, EndpointType: 'CUSTOM', CustomEndpointType: 'READER', StaticMembers: [`${id}-r`], ExcludedMembers: [], Status: 'available',
    });
    this.scalableTargets = [{ ServiceNamespace: 'rds', ResourceId: `cluster:${id}`, ScalableDimension: 'rds:cluster:ReadReplicaCount', MinCapacity: 1, MaxCapacity: 4, RoleARN: 'x', CreationTime: new Date(0) }];
    this.scalingPolicies = [{
      PolicyName: 'cpu60', PolicyARN: 'arn:p', ServiceNamespace: 'rds', ResourceId: `cluster:${id}`, ScalableDimension: 'rds:cluster:ReadReplicaCount', PolicyType: 'TargetTrackingScaling', CreationTime: new Date(0),
      TargetTrackingScalingPolicyConfiguration: { TargetValue: 60, PredefinedMetricSpecification: { PredefinedMetricType: 'RDSReaderAverageCPUUtilization' } },
    }];
  }

  /** An RDS source instance with every setting the restore must carry over. */
  private sourceInstance(): DBInstance {
    const id = this.runbook.source.identifier;
    return {
      DBInstanceIdentifier: id,
      DBInstanceArn: `arn:aws:rds:us-east-1:111122223333:db:${id}`,
      Engine: this.runbook.source.engine,
      EngineVersion: this.isMysql ? '8.0.36' : '16.3',
      DBInstanceClass: 'db.m6g.large',
      DBInstanceStatus: 'available',
      Endpoint: { Address: `${id}.abc123.us-east-1.rds.amazonaws.com`, Port: this.isMysql ? 3306 : 5432 },
      KmsKeyId: OLD_KEY,
      StorageEncrypted: true,
      DBSubnetGroup: { DBSubnetGroupName: 'app-subnets' },
      VpcSecurityGroups: [{ VpcSecurityGroupId: 'sg-0abc', Status: 'active' }],
      DBParameterGroups: [{ DBParameterGroupName: 'app-params' }],
      OptionGroupMemberships: [{ OptionGroupName: 'app-options' }],
      MultiAZ: false,
      AvailabilityZone: 'us-east-1b',
      StorageType: 'gp3',
      Iops: 12000,
      StorageThroughput: 500,
      PubliclyAccessible: false,
      DeletionProtection: true,
      IAMDatabaseAuthenticationEnabled: true,
      EnabledCloudwatchLogsExports: ['postgresql'],
      CopyTagsToSnapshot: true,
      AutoMinorVersionUpgrade: true,
      CACertificateIdentifier: 'rds-ca-rsa2048-g1',
      NetworkType: 'IPV4',
      LicenseModel: 'postgresql-license',
      BackupRetentionPeriod: 14,
      PreferredBackupWindow: '03:00-03:30',
      PreferredMaintenanceWindow: 'sun:05:00-sun:05:30',
      MonitoringInterval: 60,
      MonitoringRoleArn: 'arn:aws:iam::111122223333:role/rds-monitoring',
      PerformanceInsightsEnabled: true,
      PerformanceInsightsKMSKeyId: OLD_KEY,
      PerformanceInsightsRetentionPeriod: 7,
      MaxAllocatedStorage: 1000,
    };
  }

  /** Aurora member renames (cutover.renameInstances): `renaming` at the first describe, then available under the new address. */
  private installMemberRenames(): void {
    rdsMock.on(ModifyDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string; NewDBInstanceIdentifier?: string }) => {
      const from = input.DBInstanceIdentifier;
      const to = input.NewDBInstanceIdentifier;
      this.timeline.push(`rds:ModifyDBInstance ${from} -> ${to ?? '(settings)'}`);
      const i = this.instances.get(from);
      if (!i) throw fault('DBInstanceNotFoundFault');
      if (!to) throw new Error('the fake world models only renames of Aurora members');
      if (this.instances.has(to)) throw fault('DBInstanceAlreadyExistsFault');
      this.instances.delete(from);
      const renamed: DBInstance = { ...i, DBInstanceIdentifier: to, DBInstanceStatus: 'renaming', Endpoint: { Address: `${to}.abc123.us-east-1.rds.amazonaws.com`, Port: this.isMysql ? 3306 : 5432 } };
      this.instances.set(to, renamed);
      for (const c of this.clusters.values()) c.DBClusterMembers = c.DBClusterMembers?.map((m) => (m.DBInstanceIdentifier === from ? { ...m, DBInstanceIdentifier: to } : m));
      if (this.endpointMembersFollowRenames) {
        for (const e of this.clusterEndpoints.values()) {
          e.StaticMembers = e.StaticMembers?.map((m) => (m === from ? to : m));
          e.ExcludedMembers = e.ExcludedMembers?.map((m) => (m === from ? to : m));
        }
      }
      return { DBInstance: { ...renamed } };
    });
  }

  /** RDS instance commands (installed for postgres/mysql/mariadb runbooks). */
  private installInstances(): void {
    const log = (what: string) => this.timeline.push(what);
    const endpoint = (id: string) => ({ Address: `${id}.abc123.us-east-1.rds.amazonaws.com`, Port: this.isMysql ? 3306 : 5432 });
    rdsMock.on(DescribeDBParametersCommand).callsFake((input: { Marker?: string }) => {
      if (input.Marker === undefined) return { Parameters: [{ ParameterName: 'max_connections', ParameterValue: '500' }], Marker: 'page2' };
      return { Parameters: Object.entries(this.instanceParameters).map(([ParameterName, ParameterValue]) => ({ ParameterName, ...(ParameterValue !== undefined ? { ParameterValue } : {}) })) };
    });
    rdsMock.on(CreateDBSnapshotCommand).callsFake((input: { DBSnapshotIdentifier: string; DBInstanceIdentifier: string }) => {
      log(`rds:CreateDBSnapshot ${input.DBSnapshotIdentifier} of ${input.DBInstanceIdentifier}`);
      const s: DBSnapshot = { DBSnapshotIdentifier: input.DBSnapshotIdentifier, DBInstanceIdentifier: input.DBInstanceIdentifier, Status: 'creating', PercentProgress: 0, KmsKeyId: OLD_KEY };
      this.dbSnapshots.set(input.DBSnapshotIdentifier, s);
      return { DBSnapshot: s };
    });
    rdsMock.on(CopyDBSnapshotCommand).callsFake((input: { SourceDBSnapshotIdentifier: string; TargetDBSnapshotIdentifier: string; KmsKeyId: string }) => {
      log(`rds:CopyDBSnapshot ${input.SourceDBSnapshotIdentifier} -> ${input.TargetDBSnapshotIdentifier}`);
      const from = this.dbSnapshots.get(input.SourceDBSnapshotIdentifier);
      if (!from) throw fault('DBSnapshotNotFoundFault');
      const s: DBSnapshot = { ...from, DBSnapshotIdentifier: input.TargetDBSnapshotIdentifier, Status: 'pending', PercentProgress: 0, KmsKeyId: input.KmsKeyId };
      this.dbSnapshots.set(input.TargetDBSnapshotIdentifier, s);
      return { DBSnapshot: s };
    });
    rdsMock.on(DescribeDBSnapshotsCommand).callsFake((input: { DBSnapshotIdentifier: string }) => {
      const s = this.dbSnapshots.get(input.DBSnapshotIdentifier);
      if (!s) throw fault('DBSnapshotNotFoundFault');
      const copy = { ...s };
      s.PercentProgress = Math.min(100, (s.PercentProgress ?? 0) + 25);
      if (s.PercentProgress === 100) s.Status = 'available';
      return { DBSnapshots: [copy] };
    });
    rdsMock.on(RestoreDBInstanceFromDBSnapshotCommand).callsFake((input: { DBInstanceIdentifier: string; DBSnapshotIdentifier: string }) => {
      log(`rds:RestoreDBInstanceFromDBSnapshot ${input.DBInstanceIdentifier} from ${input.DBSnapshotIdentifier}`);
      const snap = this.dbSnapshots.get(input.DBSnapshotIdentifier);
      const i: DBInstance = { DBInstanceIdentifier: input.DBInstanceIdentifier, DBInstanceStatus: 'creating', KmsKeyId: snap?.KmsKeyId, Endpoint: endpoint(input.DBInstanceIdentifier), BackupRetentionPeriod: 1, MonitoringInterval: 0 };
      this.instances.set(input.DBInstanceIdentifier, i);
      this.slots.target = new Map(this.slots.source);
      this.publications.target = new Set(this.publications.source);
      return { DBInstance: i };
    });
    rdsMock.on(CreateDBInstanceReadReplicaCommand).callsFake((input: { DBInstanceIdentifier: string; SourceDBInstanceIdentifier: string; Tags?: { Key: string; Value: string }[] }) => {
      log(`rds:CreateDBInstanceReadReplica ${input.DBInstanceIdentifier}`);
      if (this.instances.has(input.DBInstanceIdentifier)) throw fault('DBInstanceAlreadyExistsFault');
      // A same-Region replica has its primary's key.
      const primary = this.instances.get(input.SourceDBInstanceIdentifier);
      this.instances.set(input.DBInstanceIdentifier, {
        DBInstanceIdentifier: input.DBInstanceIdentifier, DBInstanceStatus: 'creating', KmsKeyId: primary?.KmsKeyId ?? OLD_KEY, Endpoint: endpoint(input.DBInstanceIdentifier),
        ReadReplicaSourceDBInstanceIdentifier: input.SourceDBInstanceIdentifier, ...(input.Tags ? { TagList: input.Tags } : {}),
      });
      return {};
    });
    rdsMock.on(DeleteDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      log(`rds:DeleteDBInstance ${input.DBInstanceIdentifier}`);
      this.instances.delete(input.DBInstanceIdentifier);
      return {};
    });
    rdsMock.on(ModifyDBInstanceCommand).callsFake((input: Record<string, unknown> & { DBInstanceIdentifier: string; NewDBInstanceIdentifier?: string }) => {
      const i = this.instances.get(input.DBInstanceIdentifier);
      if (!i) throw fault('DBInstanceNotFoundFault');
      if (input.NewDBInstanceIdentifier) {
        const to = input.NewDBInstanceIdentifier;
        log(`rds:ModifyDBInstance ${input.DBInstanceIdentifier} -> ${to}`);
        if (this.instances.has(to)) throw fault('DBInstanceAlreadyExistsFault');
        this.instances.delete(input.DBInstanceIdentifier);
        // RDS keeps the old endpoint address while `renaming`, then moves it; the stock waiter sees `available` first.
        const renamed: DBInstance = { ...i, DBInstanceIdentifier: to, DBInstanceStatus: 'available', renameLeft: this.renamePolls } as DBInstance;
        this.instances.set(to, renamed);
        return { DBInstance: renamed };
      }
      log(`rds:ModifyDBInstance ${input.DBInstanceIdentifier} settings`);
      i.DBInstanceStatus = 'modifying';
      i.BackupRetentionPeriod = input.BackupRetentionPeriod as number;
      i.PreferredBackupWindow = input.PreferredBackupWindow as string;
      i.PreferredMaintenanceWindow = input.PreferredMaintenanceWindow as string;
      i.MonitoringInterval = input.MonitoringInterval as number;
      i.PerformanceInsightsEnabled = input.EnablePerformanceInsights as boolean;
      if (typeof input.PerformanceInsightsKMSKeyId === 'string') i.PerformanceInsightsKMSKeyId = input.PerformanceInsightsKMSKeyId;
      i.MaxAllocatedStorage = input.MaxAllocatedStorage as number;
      return { DBInstance: i };
    });
    rdsMock.on(DescribeDBInstancesCommand).callsFake(asSdk((input: { DBInstanceIdentifier: string }) => {
      const i: (DBInstance & { renameLeft?: number }) | undefined = this.instances.get(input.DBInstanceIdentifier);
      if (!i) throw fault('DBInstanceNotFoundFault');
      if (i.renameLeft !== undefined) {
        // First poll after the rename: still `available` under the old address (a naive waiter stops here).
        const id = i.DBInstanceIdentifier ?? '';
        const left = i.renameLeft;
        i.renameLeft = left - 1;
        if (left === this.renamePolls) return { DBInstances: [{ ...i, renameLeft: undefined }] };
        if (left > 0) return { DBInstances: [{ ...i, DBInstanceStatus: 'renaming', renameLeft: undefined }] };
        delete i.renameLeft;
        i.Endpoint = endpoint(id);
      }
      const copy = { ...i };
      if (i.DBInstanceStatus !== 'available') i.DBInstanceStatus = 'available';
      return { DBInstances: [copy] };
    }));
  }

  get names() {
    return resourceNames(this.runbook, RUN_ID);
  }

  /** Installs the mock handlers; every command not handled here fails loudly. */
  install(): void {
    const unexpected = (input: unknown) => {
      throw new Error(`unexpected command with ${JSON.stringify(input)}`);
    };
    rdsMock.reset().onAnyCommand().callsFake(unexpected);
    kmsMock.reset().onAnyCommand().callsFake(unexpected);
    dmsMock.reset().onAnyCommand().callsFake(unexpected);
    cwMock.reset().onAnyCommand().callsFake(unexpected);
    const log = (what: string) => this.timeline.push(what);
    // ---------------- RDS
    // Aurora preflight asks whether the source is in a global database (here: none).
    rdsMock.on(DescribeGlobalClustersCommand).resolves({ GlobalClusters: [] });
    rdsMock.on(DescribeDBClustersCommand).callsFake((input: { DBClusterIdentifier: string }) => {
      const c = this.clusters.get(input.DBClusterIdentifier);
      if (!c) throw fault('DBClusterNotFoundFault', `DBCluster ${input.DBClusterIdentifier} not found.`);
      const copy = { ...c };
      if (c.Status !== 'available') c.Status = 'available';
      return { DBClusters: [copy] };
    });
    rdsMock.on(DescribeDBInstancesCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      const i = this.instances.get(input.DBInstanceIdentifier);
      if (!i) throw fault('DBInstanceNotFoundFault');
      const copy = { ...i };
      if (i.DBInstanceStatus !== 'available') i.DBInstanceStatus = 'available';
      return { DBInstances: [copy] };
    });
    rdsMock.on(DescribeDBClusterParametersCommand).callsFake((input: { Marker?: string }) => {
      if (input.Marker === undefined) return { Parameters: [{ ParameterName: 'max_connections', ParameterValue: '500' }], Marker: 'page2' };
      if (!this.isMysql) return { Parameters: [{ ParameterName: 'rds.logical_replication', ParameterValue: this.logicalReplication }] };
      return { Parameters: Object.entries(this.mysqlParameters).map(([ParameterName, ParameterValue]) => ({ ParameterName, ...(ParameterValue !== undefined ? { ParameterValue } : {}) })) };
    });
    rdsMock.on(DescribeEventsCommand).callsFake((input: { SourceIdentifier: string; SourceType: string; StartTime?: Date; Marker?: string }) => {
      this.describeEventsCalls++;
      const pending = this.pendingCrashRecovery;
      if (pending && this.describeEventsCalls >= pending.dueAtCall) {
        const writer = pending.events[0]?.SourceIdentifier ?? '';
        this.rdsEvents.set(writer, [...(this.rdsEvents.get(writer) ?? []), ...pending.events]);
        this.pendingCrashRecovery = undefined;
      }
      const from = input.StartTime ? input.StartTime.getTime() : this.now - 3600_000;
      const all = (this.rdsEvents.get(input.SourceIdentifier) ?? []).filter((e) => (e.Date?.getTime() ?? 0) >= from);
      const start = Number(input.Marker ?? '0');
      const page = all.slice(start, start + 2);
      return { Events: page, ...(start + 2 < all.length ? { Marker: String(start + 2) } : {}) };
    });
    rdsMock.on(ListTagsForResourceCommand).resolves({ TagList: [{ Key: 'team', Value: 'payments' }, { Key: 'aws:cloudformation:stack-name', Value: 'x' }] });
    rdsMock.on(CreateDBClusterSnapshotCommand).callsFake((input: { DBClusterSnapshotIdentifier: string; DBClusterIdentifier: string }) => {
      log(`rds:CreateDBClusterSnapshot ${input.DBClusterSnapshotIdentifier}`);
      const s = { DBClusterSnapshotIdentifier: input.DBClusterSnapshotIdentifier, DBClusterIdentifier: input.DBClusterIdentifier, Status: 'creating', PercentProgress: 0 };
      this.snapshots.set(input.DBClusterSnapshotIdentifier, s);
      return { DBClusterSnapshot: s };
    });
    rdsMock.on(DescribeDBClusterSnapshotsCommand).callsFake((input: { DBClusterSnapshotIdentifier: string }) => {
      const s = this.snapshots.get(input.DBClusterSnapshotIdentifier);
      if (!s) throw fault('DBClusterSnapshotNotFoundFault');
      const copy = { ...s };
      s.PercentProgress = Math.min(100, (s.PercentProgress ?? 0) + 50);
      if (s.PercentProgress === 100) s.Status = 'available';
      return { DBClusterSnapshots: [copy] };
    });
    // A restore from a snapshot and a clone (point in time, now) both bring up a creating cluster under the given key,
    // carrying the source's slots and publications.
    const restoreCluster = (command: string) => (input: { DBClusterIdentifier: string; KmsKeyId: string; Port: number }) => {
      log(`rds:${command} ${input.DBClusterIdentifier}`);
      const c: DBCluster = {
        DBClusterIdentifier: input.DBClusterIdentifier,
        Status: 'creating',
        KmsKeyId: input.KmsKeyId,
        Endpoint: `${input.DBClusterIdentifier}.cluster-abc.us-east-1.rds.amazonaws.com`,
        Port: input.Port,
        Engine: this.isMysql ? 'aurora-mysql' : 'aurora-postgresql',
        DBClusterMembers: [],
      };
      this.clusters.set(input.DBClusterIdentifier, c);
      this.slots.target = new Map(this.slots.source);
      this.publications.target = new Set(this.publications.source);
      return { DBCluster: c };
    };
    rdsMock.on(RestoreDBClusterFromSnapshotCommand).callsFake(restoreCluster('RestoreDBClusterFromSnapshot'));
    rdsMock.on(RestoreDBClusterToPointInTimeCommand).callsFake(restoreCluster('RestoreDBClusterToPointInTime'));
    rdsMock.on(CreateDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string; DBInstanceClass: string; DBClusterIdentifier?: string }) => {
      log(`rds:CreateDBInstance ${input.DBInstanceIdentifier}`);
      if (this.instances.has(input.DBInstanceIdentifier)) throw fault('DBInstanceAlreadyExistsFault');
      const cluster = input.DBClusterIdentifier !== undefined ? this.clusters.get(input.DBClusterIdentifier) : undefined;
      const isWriter = !cluster?.DBClusterMembers?.length;
      this.instances.set(input.DBInstanceIdentifier, { DBInstanceIdentifier: input.DBInstanceIdentifier, DBInstanceClass: input.DBInstanceClass, DBInstanceStatus: 'creating', DBClusterIdentifier: input.DBClusterIdentifier, KmsKeyId: cluster?.KmsKeyId });
      if (cluster) cluster.DBClusterMembers = [...(cluster.DBClusterMembers ?? []), { DBInstanceIdentifier: input.DBInstanceIdentifier, IsClusterWriter: isWriter }];
      if (this.isMysql && isWriter) this.addWriterEvents(input.DBInstanceIdentifier);
      return {};
    });
    // What the steps' undos delete (RDS deletes at once here; the next describe no longer finds it).
    rdsMock.on(DeleteDBInstanceCommand).callsFake((input: { DBInstanceIdentifier: string }) => {
      log(`rds:DeleteDBInstance ${input.DBInstanceIdentifier}`);
      this.instances.delete(input.DBInstanceIdentifier);
      for (const c of this.clusters.values()) c.DBClusterMembers = c.DBClusterMembers?.filter((m) => m.DBInstanceIdentifier !== input.DBInstanceIdentifier);
      return {};
    });
    // Custom endpoints: unique by name, they stay with their cluster (renames carry them along, below).
    rdsMock.on(DescribeDBClusterEndpointsCommand).callsFake((input: { DBClusterIdentifier?: string; DBClusterEndpointIdentifier?: string }) => {
      for (const [name, left] of this.endpointDeletesLeft) {
        if (left > 0) this.endpointDeletesLeft.set(name, left - 1);
        else {
          this.endpointDeletesLeft.delete(name);
          this.clusterEndpoints.delete(name);
        }
      }
      return {
      DBClusterEndpoints: [...this.clusterEndpoints.values()].filter((e) => (input.DBClusterEndpointIdentifier === undefined || e.DBClusterEndpointIdentifier === input.DBClusterEndpointIdentifier) && (input.DBClusterIdentifier === undefined || e.DBClusterIdentifier === input.DBClusterIdentifier)).map((e) => ({ ...e })),
      };
    });
    rdsMock.on(CreateDBClusterEndpointCommand).callsFake((input: { DBClusterEndpointIdentifier: string; DBClusterIdentifier: string; EndpointType: string; StaticMembers?: string[]; ExcludedMembers?: string[] }) => {
      log(`rds:CreateDBClusterEndpoint ${input.DBClusterEndpointIdentifier} on ${input.DBClusterIdentifier}`);
      if (this.clusterEndpoints.has(input.DBClusterEndpointIdentifier)) throw fault('DBClusterEndpointAlreadyExistsFault');
      if (!this.clusters.has(input.DBClusterIdentifier)) throw fault('DBClusterNotFoundFault');
      const e: DBClusterEndpoint = { DBClusterEndpointIdentifier: input.DBClusterEndpointIdentifier, DBClusterIdentifier: input.DBClusterIdentifier, EndpointType: 'CUSTOM', CustomEndpointType: input.EndpointType, StaticMembers: input.StaticMembers ?? [], ExcludedMembers: input.ExcludedMembers ?? [], Status: 'available' };
      this.clusterEndpoints.set(input.DBClusterEndpointIdentifier, e);
      return { ...e };
    });
    rdsMock.on(ModifyDBClusterEndpointCommand).callsFake((input: { DBClusterEndpointIdentifier: string; StaticMembers?: string[]; ExcludedMembers?: string[] }) => {
      log(`rds:ModifyDBClusterEndpoint ${input.DBClusterEndpointIdentifier}`);
      const e = this.clusterEndpoints.get(input.DBClusterEndpointIdentifier);
      if (!e) throw fault('DBClusterEndpointNotFoundFault');
      if (input.StaticMembers) e.StaticMembers = input.StaticMembers;
      if (input.ExcludedMembers) e.ExcludedMembers = input.ExcludedMembers;
      return { ...e };
    });
    rdsMock.on(DeleteDBClusterEndpointCommand).callsFake((input: { DBClusterEndpointIdentifier: string }) => {
      log(`rds:DeleteDBClusterEndpoint ${input.DBClusterEndpointIdentifier}`);
      const e = this.clusterEndpoints.get(input.DBClusterEndpointIdentifier);
      if (!e || this.endpointDeletesLeft.has(input.DBClusterEndpointIdentifier)) throw fault('DBClusterEndpointNotFoundFault');
      if (this.endpointDeletingDescribes > 0) {
        e.Status = 'deleting';
        this.endpointDeletesLeft.set(input.DBClusterEndpointIdentifier, this.endpointDeletingDescribes);
      } else this.clusterEndpoints.delete(input.DBClusterEndpointIdentifier);
      return {};
    });
    rdsMock.on(DeleteDBClusterCommand).callsFake((input: { DBClusterIdentifier: string }) => {
      log(`rds:DeleteDBCluster ${input.DBClusterIdentifier}`);
      if (!this.clusters.delete(input.DBClusterIdentifier)) throw fault('DBClusterNotFoundFault');
      return {};
    });
    rdsMock.on(DeleteDBClusterSnapshotCommand).callsFake((input: { DBClusterSnapshotIdentifier: string }) => {
      log(`rds:DeleteDBClusterSnapshot ${input.DBClusterSnapshotIdentifier}`);
      if (!this.snapshots.delete(input.DBClusterSnapshotIdentifier)) throw fault('DBClusterSnapshotNotFoundFault');
      return {};
    });
    rdsMock.on(DeleteDBSnapshotCommand).callsFake((input: { DBSnapshotIdentifier: string }) => {
      log(`rds:DeleteDBSnapshot ${input.DBSnapshotIdentifier}`);
      if (!this.dbSnapshots.delete(input.DBSnapshotIdentifier)) throw fault('DBSnapshotNotFoundFault');
      return {};
    });
    if (this.isInstance) this.installInstances();
    else this.installMemberRenames();
    rdsMock.on(ModifyDBClusterCommand).callsFake((input: { DBClusterIdentifier: string; NewDBClusterIdentifier: string }) => {
      log(`rds:ModifyDBCluster ${input.DBClusterIdentifier} -> ${input.NewDBClusterIdentifier}`);
      const c = this.clusters.get(input.DBClusterIdentifier);
      if (!c) throw fault('DBClusterNotFoundFault');
      if (this.clusters.has(input.NewDBClusterIdentifier)) throw fault('DBClusterAlreadyExistsFault');
      this.clusters.delete(input.DBClusterIdentifier);
      for (const e of this.clusterEndpoints.values()) if (e.DBClusterIdentifier === input.DBClusterIdentifier) e.DBClusterIdentifier = input.NewDBClusterIdentifier;
      const renamed = { ...c, DBClusterIdentifier: input.NewDBClusterIdentifier, Status: 'renaming', Endpoint: `${input.NewDBClusterIdentifier}.cluster-abc.us-east-1.rds.amazonaws.com` };
      this.clusters.set(input.NewDBClusterIdentifier, renamed);
      return { DBCluster: renamed };
    });
    this.installBlueGreen();
    // ---------------- Application Auto Scaling (Aurora readers)
    asMock.reset().onAnyCommand().callsFake(unexpected);
    asMock.on(DescribeScalableTargetsCommand).callsFake((input: { ResourceIds?: string[] }) => ({ ScalableTargets: this.scalableTargets.filter((t) => !input.ResourceIds || input.ResourceIds.includes(t.ResourceId ?? '')) }));
    asMock.on(DescribeScalingPoliciesCommand).callsFake((input: { ResourceId?: string }) => ({ ScalingPolicies: this.scalingPolicies.filter((p) => p.ResourceId === input.ResourceId) }));
    asMock.on(RegisterScalableTargetCommand).callsFake((input: ScalableTarget) => {
      log(`application-autoscaling:RegisterScalableTarget ${input.ResourceId ?? ''}`);
      this.scalableTargets = [...this.scalableTargets.filter((t) => t.ResourceId !== input.ResourceId), { ...input, CreationTime: new Date(this.now) }];
      return {};
    });
    asMock.on(PutScalingPolicyCommand).callsFake((input: ScalingPolicy) => {
      log(`application-autoscaling:PutScalingPolicy ${input.PolicyName ?? ''}`);
      this.scalingPolicies = [...this.scalingPolicies.filter((p) => !(p.ResourceId === input.ResourceId && p.PolicyName === input.PolicyName)), { ...input, CreationTime: new Date(this.now) }];
      return { PolicyARN: 'arn:p' };
    });
    // ---------------- KMS
    kmsMock.on(DescribeKeyCommand).callsFake(() => ({ KeyMetadata: this.key }));
    kmsMock.on(ListAliasesCommand).resolves({ Aliases: [{ AliasName: 'alias/app-new' }] });
    kmsMock.on(GetKeyPolicyCommand).callsFake(() => ({ Policy: this.keyPolicy, PolicyName: 'default' }));
    kmsMock.on(ListGrantsCommand).resolves({ Grants: [] });
    // ---------------- DMS
    const riArn = 'arn:aws:dms:us-east-1:111122223333:rep:RIRESOURCEID';
    dmsMock.on(DescribeReplicationInstancesCommand).callsFake(() => {
      if (!this.replicationInstanceExists) throw fault('ResourceNotFoundFault');
      return {
        ReplicationInstances: [
          {
            ReplicationInstanceIdentifier: 'rekey-ri', ReplicationInstanceArn: riArn, ReplicationInstanceStatus: 'available', ReplicationSubnetGroup: { ReplicationSubnetGroupIdentifier: 'dms-subnets' },
            ReplicationInstancePrivateIpAddresses: [DMS_ADDRESS],
          },
        ],
      };
    });
    dmsMock.on(DescribeEndpointsCommand).callsFake((input: { Filters: { Values: string[] }[] }) => {
      const e = this.endpoints.get(input.Filters[0]?.Values[0] ?? '');
      if (!e) throw fault('ResourceNotFoundFault');
      return { Endpoints: [e] };
    });
    dmsMock.on(CreateEndpointCommand).callsFake((input: { EndpointIdentifier: string; EndpointType: string }) => {
      log(`dms:CreateEndpoint ${input.EndpointIdentifier}`);
      const e: Endpoint = { EndpointIdentifier: input.EndpointIdentifier, EndpointType: input.EndpointType as 'source' | 'target', EndpointArn: `arn:aws:dms:us-east-1:111122223333:endpoint:EP${input.EndpointIdentifier.toUpperCase()}` };
      this.endpoints.set(input.EndpointIdentifier, e);
      return { Endpoint: e };
    });
    dmsMock.on(TestConnectionCommand).callsFake((input: { EndpointArn: string }) => {
      log(`dms:TestConnection ${input.EndpointArn}`);
      this.connections.set(input.EndpointArn, 'testing');
      return {};
    });
    dmsMock.on(DescribeConnectionsCommand).callsFake((input: { Filters: { Name: string; Values: string[] }[] }) => {
      const arn = input.Filters.find((f) => f.Name === 'endpoint-arn')?.Values[0] ?? '';
      const status = this.connections.get(arn);
      if (!status) throw fault('ResourceNotFoundFault');
      this.connections.set(arn, 'successful');
      return { Connections: [{ EndpointArn: arn, ReplicationInstanceArn: riArn, Status: status }] };
    });
    dmsMock.on(CreateReplicationTaskCommand).callsFake((input: { ReplicationTaskIdentifier: string; CdcStartPosition: string }) => {
      log(`dms:CreateReplicationTask ${input.ReplicationTaskIdentifier}`);
      const t: ReplicationTask = {
        ReplicationTaskIdentifier: input.ReplicationTaskIdentifier,
        ReplicationTaskArn: 'arn:aws:dms:us-east-1:111122223333:task:TASKRESOURCEID7',
        Status: 'creating',
        CdcStartPosition: input.CdcStartPosition,
        MigrationType: 'cdc',
      };
      this.tasks.set(input.ReplicationTaskIdentifier, t);
      return { ReplicationTask: { ...t } };
    });
    const advance: Record<string, string> = { creating: 'ready', starting: 'running', stopping: 'stopped' };
    dmsMock.on(DescribeReplicationTasksCommand).callsFake((input: { Filters: { Values: string[] }[] }) => {
      const id = input.Filters[0]?.Values[0] ?? '';
      const t = this.tasks.get(id);
      if (!t) throw fault('ResourceNotFoundFault');
      const copy = { ...t };
      if (t.Status === 'deleting') this.tasks.delete(id);
      else if (t.Status && advance[t.Status]) t.Status = advance[t.Status];
      return { ReplicationTasks: [copy] };
    });
    const taskByArn = (arn: string) => [...this.tasks.values()].find((t) => t.ReplicationTaskArn === arn);
    dmsMock.on(StartReplicationTaskCommand).callsFake((input: { ReplicationTaskArn: string }) => {
      log('dms:StartReplicationTask');
      const t = taskByArn(input.ReplicationTaskArn);
      if (!t) throw fault('ResourceNotFoundFault');
      t.Status = this.taskFailsOnStart ? 'failed' : 'starting';
      if (this.taskFailsOnStart) t.LastFailureMessage = this.taskFailsOnStart;
      t.ReplicationTaskStartDate = new Date(this.now);
      return { ReplicationTask: { ...t } };
    });
    dmsMock.on(StopReplicationTaskCommand).callsFake((input: { ReplicationTaskArn: string }) => {
      log('dms:StopReplicationTask');
      const t = taskByArn(input.ReplicationTaskArn);
      if (!t) throw fault('ResourceNotFoundFault');
      t.Status = 'stopping';
      return { ReplicationTask: { ...t } };
    });
    dmsMock.on(DescribeTableStatisticsCommand).callsFake(() => ({ TableStatistics: this.tableStatistics.map((s) => ({ ...s })) }));
    dmsMock.on(DeleteReplicationTaskCommand).callsFake((input: { ReplicationTaskArn: string }) => {
      log('dms:DeleteReplicationTask');
      const t = taskByArn(input.ReplicationTaskArn);
      if (!t) throw fault('ResourceNotFoundFault');
      t.Status = 'deleting';
      return { ReplicationTask: { ...t } };
    });
    dmsMock.on(DeleteEndpointCommand).callsFake((input: { EndpointArn: string }) => {
      log(`dms:DeleteEndpoint ${input.EndpointArn}`);
      for (const [id, e] of this.endpoints) if (e.EndpointArn === input.EndpointArn) this.endpoints.delete(id);
      return {};
    });
    // ---------------- CloudWatch
    cwMock.on(ListMetricsCommand).callsFake(() => ({
      Metrics: this.metricsPublished
        ? [
            { Namespace: 'AWS/DMS', MetricName: 'CDCLatencySource', Dimensions: [{ Name: 'ReplicationInstanceIdentifier', Value: 'rekey-ri' }, { Name: 'ReplicationTaskIdentifier', Value: 'OTHERTASK' }] },
            { Namespace: 'AWS/DMS', MetricName: 'CDCLatencySource', Dimensions: [{ Name: 'ReplicationInstanceIdentifier', Value: 'rekey-ri' }, { Name: 'ReplicationTaskIdentifier', Value: 'TASKRESOURCEID7' }] },
          ]
        : [],
    }));
    cwMock.on(GetMetricDataCommand).callsFake(() => {
      const [src, tgt] = this.latencies.length > 1 ? (this.latencies.shift() as [number, number]) : (this.latencies[0] as [number, number]);
      const at = new Date(this.now);
      return {
        MetricDataResults: [
          { Id: 'latency_source', Timestamps: [at, new Date(this.now - 60_000)], Values: [src, 999] },
          { Id: 'latency_target', Timestamps: [at], Values: [tgt] },
        ],
      };
    });
  }

  /**
   * Blue/Green deployments as RDS keeps them: found by name or source ARN; a second create with the same name is
   * refused; PROVISIONING and SWITCHOVER_IN_PROGRESS move on at each describe; the switchover swaps the names (blue
   * becomes <id>-old1); DeleteTarget deletes green (refused after a switchover); a deleted deployment is gone.
   */
  private installBlueGreen(): void {
    const log = (what: string) => this.timeline.push(what);
    const id = this.runbook.source.identifier;
    const arnOf = (name: string) => `arn:aws:rds:us-east-1:111122223333:${this.isInstance ? 'db' : 'cluster'}:${name}`;
    const green = `${id}-green-abc123`;
    rdsMock.on(DescribeDBProxiesCommand).resolves({ DBProxies: [] });
    const rename = (from: string, to: string) => {
      if (this.isInstance) {
        const i = this.instances.get(from);
        if (!i) return;
        this.instances.delete(from);
        this.instances.set(to, { ...i, DBInstanceIdentifier: to, DBInstanceArn: arnOf(to), Endpoint: { Address: `${to}.abc123.us-east-1.rds.amazonaws.com`, Port: i.Endpoint?.Port ?? 5432 } });
        return;
      }
      const c = this.clusters.get(from);
      if (!c) return;
      this.clusters.delete(from);
      this.clusters.set(to, { ...c, DBClusterIdentifier: to, DBClusterArn: arnOf(to), Endpoint: `${to}.cluster-abc.us-east-1.rds.amazonaws.com` });
    };
    rdsMock.on(DescribeBlueGreenDeploymentsCommand).callsFake((input: { Filters?: { Name: string; Values: string[] }[] }) => {
      const f = input.Filters?.[0];
      const found = [...this.deployments.values()].filter((d) =>
        f === undefined || (f.Name === 'blue-green-deployment-name' ? f.Values.includes(d.BlueGreenDeploymentName ?? '') : f.Name === 'source' ? f.Values.includes(d.Source ?? '') : false),
      );
      const copies = found.map((d) => structuredClone(d));
      for (const d of found) {
        if (d.Status === 'PROVISIONING') d.Status = 'AVAILABLE';
        else if (d.Status === 'SWITCHOVER_IN_PROGRESS') {
          log(`rds:switchover ${d.BlueGreenDeploymentName ?? ''}`);
          rename(id, `${id}-old1`);
          rename(green, id);
          d.Status = 'SWITCHOVER_COMPLETED';
          d.Source = arnOf(`${id}-old1`);
          d.Target = arnOf(id);
          d.SwitchoverDetails = [{ SourceMember: arnOf(`${id}-old1`), TargetMember: arnOf(id), Status: 'SWITCHOVER_COMPLETED' }];
        }
      }
      return { BlueGreenDeployments: copies };
    });
    rdsMock.on(CreateBlueGreenDeploymentCommand).callsFake((input: { BlueGreenDeploymentName: string; Source: string; TargetResourceConfigurations?: { SourceArn: string; TargetKmsKeyId: string }[] }) => {
      log(`rds:CreateBlueGreenDeployment ${input.BlueGreenDeploymentName}`);
      if (this.deployments.has(input.BlueGreenDeploymentName)) throw fault('BlueGreenDeploymentAlreadyExistsFault');
      const key = input.TargetResourceConfigurations?.[0]?.TargetKmsKeyId;
      if (this.isInstance) {
        const blue = this.instances.get(id);
        this.instances.set(green, { ...blue, DBInstanceIdentifier: green, DBInstanceArn: arnOf(green), KmsKeyId: key, PerformanceInsightsKMSKeyId: key, Endpoint: { Address: `${green}.abc123.us-east-1.rds.amazonaws.com`, Port: this.isMysql ? 3306 : 5432 } });
      } else {
        const blue = this.clusters.get(id);
        this.clusters.set(green, { ...blue, DBClusterIdentifier: green, DBClusterArn: arnOf(green), KmsKeyId: key, Endpoint: `${green}.cluster-abc.us-east-1.rds.amazonaws.com` });
      }
      const d: BlueGreenDeployment = {
        BlueGreenDeploymentIdentifier: 'bgd-123',
        BlueGreenDeploymentName: input.BlueGreenDeploymentName,
        Source: input.Source,
        Target: arnOf(green),
        Status: 'PROVISIONING',
        SwitchoverDetails: [{ SourceMember: input.Source, TargetMember: arnOf(green), Status: 'PROVISIONING' }],
      };
      this.deployments.set(input.BlueGreenDeploymentName, d);
      return { BlueGreenDeployment: structuredClone(d) };
    });
    const byIdentifier = (identifier: string) => [...this.deployments.values()].find((d) => d.BlueGreenDeploymentIdentifier === identifier);
    rdsMock.on(SwitchoverBlueGreenDeploymentCommand).callsFake((input: { BlueGreenDeploymentIdentifier: string }) => {
      log('rds:SwitchoverBlueGreenDeployment');
      const d = byIdentifier(input.BlueGreenDeploymentIdentifier);
      if (!d) throw fault('BlueGreenDeploymentNotFoundFault');
      if (d.Status !== 'AVAILABLE' && d.Status !== 'SWITCHOVER_FAILED') throw fault('InvalidBlueGreenDeploymentStateFault');
      d.Status = 'SWITCHOVER_IN_PROGRESS';
      return { BlueGreenDeployment: structuredClone(d) };
    });
    rdsMock.on(DeleteBlueGreenDeploymentCommand).callsFake((input: { BlueGreenDeploymentIdentifier: string; DeleteTarget?: boolean }) => {
      log(`rds:DeleteBlueGreenDeployment${input.DeleteTarget ? ' DeleteTarget' : ''}`);
      const d = byIdentifier(input.BlueGreenDeploymentIdentifier);
      if (!d) throw fault('BlueGreenDeploymentNotFoundFault');
      if (input.DeleteTarget) {
        if (d.Status === 'SWITCHOVER_COMPLETED') throw fault('InvalidBlueGreenDeploymentStateFault');
        if (this.isInstance) this.instances.delete(green);
        else this.clusters.delete(green);
      }
      this.deployments.delete(d.BlueGreenDeploymentName ?? '');
      return { BlueGreenDeployment: { ...structuredClone(d), Status: 'DELETING' } };
    });
  }

  /** What a new Aurora MySQL writer reports: creation, the crash-recovery position (once enough calls were made), availability. */
  private addWriterEvents(writer: string): void {
    const at = (s: number) => new Date(this.now + s * 1000);
    this.rdsEvents.set(writer, [
      { SourceIdentifier: writer, SourceType: 'db-instance', Message: 'DB instance created', Date: at(1) },
      { SourceIdentifier: writer, SourceType: 'db-instance', Message: 'DB instance restarted', Date: at(2) },
    ]);
    if (this.crashRecoveryMessage === undefined) return;
    // Published only after a while (counted in DescribeEvents calls), as RDS does once the writer has started.
    this.pendingCrashRecovery = {
      dueAtCall: this.describeEventsCalls + this.crashRecoveryAfterCalls,
      events: [
        { SourceIdentifier: writer, SourceType: 'db-instance', Message: this.crashRecoveryMessage, Date: at(3) },
        { SourceIdentifier: writer, SourceType: 'db-instance', Message: 'DB instance available', Date: at(4) },
      ],
    };
  }

  /** Which database an endpoint reaches: whoever holds that host now (the key tells old from new). */
  sideOf(endpoint: DbEndpoint): Side {
    const c = [...this.clusters.values()].find((x) => x.Endpoint === endpoint.host);
    const i = [...this.instances.values()].find((x) => x.Endpoint?.Address === endpoint.host);
    const key = c?.KmsKeyId ?? i?.KmsKeyId;
    if (!c && !i) throw new Error(`connection refused: ${endpoint.host}`);
    return key === NEW_KEY ? 'target' : 'source';
  }

  connector(): DbConnector {
    return {
      open: (engine, endpoint) => {
        this.openedEngines.add(engine);
        return Promise.resolve(this.adapter(endpoint));
      },
    };
  }

  private adapter(endpoint: DbEndpoint): DbAdapter {
    this.opened.push(endpoint);
    const side = this.sideOf(endpoint);
    const w = this.state();
    const log = (what: string) => w.timeline.push(`${side}:${what}`);
    const seqState = (s: Side): SequenceState[] =>
      [...w.sequences[s].entries()].map(([name, nextValue]) => ({
        name,
        nextValue,
        columns:
          name === 'public.orders_id_seq'
            ? [{ schema: 'public', name: 'orders', column: 'id' }]
            : [{ schema: 'public', name: 'items', column: 'code' }],
      }));
    const pgOnly = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
      w.isMysql ? Promise.reject(new Error(`${what} is not supported on MySQL`)) : fn();
    const mysqlOnly = w.isMysql
      ? {
          binaryLogs: () => {
            log('SHOW BINARY LOGS');
            return Promise.resolve(w.binaryLogs.map((l) => ({ ...l })));
          },
          binlogRetentionHours: () => Promise.resolve(w.binlogRetentionHours),
          setBinlogRetentionHours: (hours: number) => {
            log(`rds_set_configuration binlog retention hours ${hours}`);
            w.binlogRetentionHours = hours;
            return Promise.resolve();
          },
          stopReplication: () => {
            log(`rds_stop_replication ${endpoint.host.split('.')[0] ?? ''}`);
            w.replicationStopped = true;
            return Promise.resolve();
          },
          replicaExecutedPosition: () => (w.replicationStopped ? Promise.resolve({ ...w.replicaPosition }) : Promise.reject(new Error('replica still running'))),
        }
      : {};
    const pgNativeFake: PgNative = {
      withReplicaIdentity: (tables) => Promise.resolve(new Set(tables.filter((t) => t.name !== 'audit_log').map((t) => `${t.schema}.${t.name}`))),
      ensurePublication: (name) => {
        if (w.publications[side].has(name)) return Promise.resolve(false);
        log(`CREATE PUBLICATION ${name}`);
        w.publications[side].add(name);
        w.nativeCreates++;
        return Promise.resolve(true);
      },
      dropPublication: (name) => {
        if (w.publications[side].delete(name)) {
          log(`DROP PUBLICATION ${name}`);
          w.nativeDeletes++;
        }
        return Promise.resolve();
      },
      subscription: (name) => {
        const sub = w.subscriptions[side].get(name);
        return Promise.resolve(sub ? { ...sub } : undefined);
      },
      createSubscription: (o) => {
        // As PostgreSQL: a second CREATE SUBSCRIPTION with the name fails.
        if (w.subscriptions[side].has(o.name)) return Promise.reject(new Error(`subscription "${o.name}" already exists`));
        log(`CREATE SUBSCRIPTION ${o.name}`);
        w.subscriptions[side].set(o.name, { name: o.name, enabled: false, slot: o.slot, originLsn: null, workerRunning: false });
        w.nativeCreates++;
        return Promise.resolve();
      },
      advanceOrigin: (name, lsn) => {
        const sub = w.subscriptions[side].get(name);
        if (!sub) return Promise.reject(new Error(`subscription ${name} does not exist`));
        sub.originLsn = lsn;
        return Promise.resolve();
      },
      setSubscriptionEnabled: (name, enabled) => {
        const sub = w.subscriptions[side].get(name);
        if (!sub) return Promise.reject(new Error(`subscription "${name}" does not exist`));
        log(`ALTER SUBSCRIPTION ${name} ${enabled ? 'ENABLE' : 'DISABLE'}`);
        sub.enabled = enabled;
        sub.workerRunning = enabled;
        return Promise.resolve();
      },
      dropSubscription: (name) => {
        if (!w.subscriptions[side].delete(name)) return Promise.resolve(false);
        log(`DROP SUBSCRIPTION ${name}`);
        w.nativeDeletes++;
        return Promise.resolve(true);
      },
      sourceWal: (slot) => {
        const s = w.slots[side].get(slot);
        return Promise.resolve({ current: '0/3000100', confirmedFlush: s ? '0/3000100' : null, replay: null });
      },
    };
    const myNativeFake: MyNative = {
      setExternalSource: (o) => {
        // rds_set_external_source refuses while replication runs.
        if (w.replicas[side]?.running) return Promise.reject(new Error('replication is running: stop it first'));
        log(`rds_set_external_source ${o.host} ${o.position.file}:${o.position.position}`);
        w.replicas[side] = { sourceHost: o.host, running: false, executed: { ...o.position } };
        w.nativeCreates++;
        return Promise.resolve('rds_set_external_source');
      },
      startReplication: () => {
        const r = w.replicas[side];
        if (!r) return Promise.reject(new Error('replication is not configured'));
        log('rds_start_replication');
        r.running = true;
        return Promise.resolve();
      },
      stopReplication: () => {
        const r = w.replicas[side];
        log('rds_stop_replication');
        if (r) r.running = false;
        return Promise.resolve();
      },
      resetExternalSource: () => {
        if (w.replicas[side]?.running) return Promise.reject(new Error('replication is running: stop it first'));
        log('rds_reset_external_source');
        if (w.replicas[side]) w.nativeDeletes++;
        w.replicas[side] = undefined;
        return Promise.resolve();
      },
      replicaState: () => {
        const r = w.replicas[side];
        if (!r) return Promise.resolve(undefined);
        return Promise.resolve({ sourceHost: r.sourceHost, io: r.running ? 'Yes' : 'No', sql: r.running ? 'Yes' : 'No', secondsBehind: r.running ? 0 : null, executed: { ...r.executed } });
      },
    };
    return {
      engine: w.isMysql ? 'mysql' : 'postgres',
      ...mysqlOnly,
      ...(w.isMysql ? { myNative: myNativeFake } : { pgNative: pgNativeFake }),
      close: () => Promise.resolve(),
      serverVersion: () => Promise.resolve('15.4'),
      replicationChecks: () =>
        Promise.resolve(
          w.isMysql
            ? [{ id: 'mysql.binlog_format', ok: true, severity: 'error', message: 'binlog_format is ROW' }]
            : [{ id: 'pg.wal_level', ok: true, severity: 'error', message: 'wal_level is logical' }],
        ),
      tablesWithoutPrimaryKey: () => Promise.resolve([{ schema: 'public', name: 'audit_log' }]),
      columnConcerns: () => Promise.resolve([]),
      tableSizes: () => Promise.resolve([{ schema: 'public', name: 'orders', estimatedRows: 8_000_000, bytes: 1e9 }, { schema: 'public', name: 'items', estimatedRows: 40, bytes: 8192 }]),
      ensureLogicalSlot: (name, plugin) =>
        pgOnly('ensureLogicalSlot', () => {
          log(`ensureLogicalSlot ${name} ${plugin}`);
          const slot = w.slots[side].get(name) ?? { name, plugin, database: 'app', active: false, confirmedFlushLsn: '0/3000000', restartLsn: '0/2FFFF00' };
          w.slots[side].set(name, slot);
          return Promise.resolve(slot);
        }),
      slot: (name) => pgOnly('slot', () => Promise.resolve(w.slots[side].get(name))),
      slotRetainedWalBytes: (name) => pgOnly('slotRetainedWalBytes', () => Promise.resolve(w.slots[side].has(name) ? w.retainedWal : undefined)),
      dropSlotIfExists: (name) =>
        pgOnly('dropSlotIfExists', () => {
          log(`dropSlotIfExists ${name}`);
          return Promise.resolve(w.slots[side].delete(name));
        }),
      seedPosition: (fn) =>
        pgOnly('seedPosition', () => {
          log(`seedPosition ${fn}`);
          if (w.seedFunctionMissing) return Promise.reject(new Error('function rds_tools.logical_seed_lsn() does not exist on app (run CREATE EXTENSION rds_tools first)'));
          return Promise.resolve(SEED_LSN);
        }),
      comparePositions: (a, b) => {
        const n = (x: string) => {
          const [hi, lo] = x.split('/');
          return BigInt(`0x${hi ?? '0'}`) * 2n ** 32n + BigInt(`0x${lo ?? '0'}`);
        };
        return Number(n(a) - n(b));
      },
      ensureSentinelTable: (t) => {
        log(`ensureSentinelTable ${t}`);
        return Promise.resolve();
      },
      writeSentinel: (_t, token) => {
        log(`writeSentinel ${token}`);
        w.sentinels[side].add(token);
        if (side === 'source' && w.sentinelArrives) w.sentinels.target.add(token);
        return Promise.resolve();
      },
      hasSentinel: (_t, token) => Promise.resolve(w.sentinels[side].has(token)),
      writerPrincipals: (exclude) => Promise.resolve([...w.roles].filter(([n, login]) => login && !exclude.includes(n)).map(([n]) => n)),
      fence: async (principals, opts) => {
        log(`fence ${principals.join(',')}`);
        // As the adapters do: a re-entered fence restores to what the first attempt journaled, not to the fenced roles.
        const state: FenceState = opts?.previous ?? { principals: principals.map((name) => ({ name, before: { rolcanlogin: w.roles.get(name) ?? false } })), at: new Date(w.now).toISOString() };
        await opts?.beforeChange?.(state);
        for (const p of principals) w.roles.set(p, false);
        return state;
      },
      unfence: (state) => {
        log(`unfence ${state.principals.map((p) => p.name).join(',')}`);
        for (const p of state.principals) w.roles.set(p.name, p.before.rolcanlogin === true);
        return Promise.resolve();
      },
      openSessions: (users) =>
        w.openSessionsFail ? Promise.reject(new Error('permission denied for pg_stat_activity')) : Promise.resolve(side === 'source' ? w.foreignSessions.filter((x) => users.includes(x.user)) : []),
      listTables: () => Promise.resolve<TableRef[]>([{ schema: 'public', name: 'orders' }, { schema: 'public', name: 'items' }]),
      rowCount: (t) => Promise.resolve(w.rows[side].get(`${t.schema}.${t.name}`) ?? 0),
      checksum: (t) => Promise.resolve(`sum-${w.rows[side].get(`${t.schema}.${t.name}`) ?? 0}`),
      snapshotReader: () => Promise.resolve(w.snapshotReader(side)),
      sequences: () => Promise.resolve(seqState(side)),
      columnMax: (t, column) => Promise.resolve(w.columnMax[side].get(`${t.schema}.${t.name}.${column}`) ?? null),
      raiseSequence: (name, next) => {
        log(`raiseSequence ${name} ${next}`);
        const cur = w.sequences[side].get(name) ?? null;
        if (cur === null || cur < next) w.sequences[side].set(name, next);
        return Promise.resolve();
      },
    };
  }

  /** A fake snapshot reader: reads the world's rows as they are when `begin` ran. */
  snapshotReader(side: Side): SnapshotReader {
    let rows: Map<string, number> | undefined;
    let corrupt: Set<string> | undefined;
    const view = () => ({ rows: rows ?? this.rows[side], corrupt: corrupt ?? this.corrupt[side] });
    const ids = (name: string, range: KeyRange | undefined): number[] => {
      const n = view().rows.get(name) ?? 0;
      const from = range?.from ? Number(range.from[0]) : 1;
      const to = range?.to ? Number(range.to[0]) : n + 1;
      const out: number[] = [];
      for (let id = Math.max(1, from); id < Math.min(n + 1, to); id++) out.push(id);
      return out;
    };
    const hash = (name: string, id: number) => (view().corrupt.has(`${name}:${id}`) ? id * 7 + 1 : id * 7);
    return {
      begin: () => {
        this.snapshotsBegun[side]++;
        rows = new Map(this.rows[side]);
        corrupt = new Set(this.corrupt[side]);
        return Promise.resolve();
      },
      primaryKey: (t) => Promise.resolve(this.keyed.has(`${t.schema}.${t.name}`) ? { columns: ['id'], integer: true } : undefined),
      keyExtent: (t) => {
        const n = view().rows.get(`${t.schema}.${t.name}`) ?? 0;
        return Promise.resolve(n > 0 ? { min: '1', max: String(n) } : undefined);
      },
      keySplits: () => Promise.resolve([]),
      digest: (t, withHash, range) => {
        const name = `${t.schema}.${t.name}`;
        if (!range) {
          const n = view().rows.get(name) ?? 0;
          return Promise.resolve({ rows: n, ...(withHash ? { sum: `${n}-${[...view().corrupt].filter((k) => k.startsWith(`${name}:`)).length}` } : {}) });
        }
        const list = ids(name, range.range);
        return Promise.resolve({ rows: list.length, ...(withHash ? { sum: String(list.reduce((s, id) => s + hash(name, id), 0)) } : {}) });
      },
      rowHashes: (t, _key, range, limit) => {
        const name = `${t.schema}.${t.name}`;
        return Promise.resolve(new Map(ids(name, range).slice(0, limit).map((id) => [`[${id}]`, String(hash(name, id))])));
      },
      close: () => Promise.resolve(),
    };
  }

  /** The world itself, named for the adapter closures. */
  private state(): this {
    return this;
  }

  cloud(): Cloud {
    return {
      rds: new RDSClient({ region: REGION }),
      kms: new KMSClient({ region: REGION }),
      dms: new DatabaseMigrationServiceClient({ region: REGION }),
      cloudwatch: new CloudWatchClient({ region: REGION }),
      autoscaling: new ApplicationAutoScalingClient({ region: REGION }),
      provider: 'aws',
      region: REGION,
    };
  }

  services(): RekeyServices {
    return {
      cloud: this.cloud(),
      runbook: this.runbook,
      names: this.names,
      db: this.connector(),
      secrets: { resolve: (ref) => Promise.resolve('env' in ref && ref.env === 'PGPASSWORD_TEST' ? PASSWORD : undefined) },
      clock: {
        now: () => this.now,
        sleep: (ms, signal) => {
          if (signal.aborted) return Promise.reject(new Error('aborted'));
          this.now += ms;
          return Promise.resolve();
        },
      },
      exec: (command, env) => {
        this.timeline.push(`exec ${command} ${env.REKEY_STEP ?? ''}`);
        return Promise.resolve({ code: command.includes('fail') ? 3 : 0, output: 'hook output\n' });
      },
      timing: { pollMs: 1000, metricPeriodSeconds: 60, waitMaxSeconds: 3600 },
    };
  }

  context(outputs: Record<string, unknown> = {}, services = this.services()): StepContext<RekeyServices> & { outputs: Record<string, unknown> } {
    return {
      runId: RUN_ID,
      outputs,
      services,
      signal: new AbortController().signal,
      attempt: 1,
      report: {
        progress: (m) => this.events.push(`progress ${m}`),
        metric: (n, v) => this.events.push(`metric ${n}=${v}`),
        log: (l, m) => this.events.push(`${l} ${m}`),
        publish: (k, v) => this.events.push(`data ${k} ${JSON.stringify(v, (_key, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))}`),
      },
    };
  }
}
