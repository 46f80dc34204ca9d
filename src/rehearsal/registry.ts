// The rehearsal cloud's persisted state: one JSON document in the state directory, written atomically
// (temp file + rename) after every change, so a runner killed with SIGKILL can reopen and continue.
// Metric datapoints live beside it in an append-only JSON-lines file. No secrets are stored here.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { BinlogPosition } from '../db/types.js';

/** Where a cluster's data lives: a database on one of the local servers (or an adopted external server). */
export interface Backend {
  /** Which server: the rehearsal's source or target server, an RDS read replica's own server, or an adopted `rehearsal.source.url`. */
  server: 'source' | 'target' | 'external' | 'replica';
  /** Server host. */
  host: string;
  /** Server port (the real server, not the endpoint proxy). */
  port: number;
  /** Database name. */
  database: string;
  /** Admin user used by the rehearsal cloud itself. */
  user: string;
  /** Environment variable holding that user's password, if it needs one. */
  passwordEnv?: string;
}

/** What replaying a DMS task's overlap with the snapshot did (persisted with the task, logged; see engines/overlap.ts). */
export interface OverlapReplay {
  /** The task's start position and the snapshot's LSN: changes committed in between were replayed. */
  from: string;
  upTo: string;
  transactions: number;
  changes: number;
  /** Inserts of rows the target had: applied as updates (INSERT_RECORD). */
  insertsAsUpdates: number;
  /** Updates of rows the target lacked: applied as inserts (UPDATE_RECORD). */
  updatesAsInserts: number;
  /** Deletes of rows the target lacked: ignored (IGNORE_RECORD). */
  deletesMissing: number;
  /** Inserts into tables without a primary key: applied again, so the target may hold duplicates. */
  keylessInserts: number;
  /** Updates and deletes of tables without a primary key (or without its columns in the change): not applied. */
  skipped: number;
  /** Changes refused by the target (a unique constraint other than the primary key): logged and passed over, as DMS does. */
  applyErrors: number;
}

/** A MySQL binlog position as the registry stores it (binlogPosition/binlogRecord convert to and from src/db's BinlogPosition). */
export interface BinlogPosRecord {
  /** Binlog file name. */
  file: string;
  /** Byte offset in it. */
  pos: number;
}

/** A recorded binlog position in src/db's shape, for the shared position helpers (src/db/position.ts). */
export function binlogPosition(r: BinlogPosRecord): BinlogPosition {
  return { file: r.file, position: r.pos };
}

/** The registry's record of a binlog position. */
export function binlogRecord(p: BinlogPosition): BinlogPosRecord {
  return { file: p.file, pos: p.position };
}

/** An RDS tag. */
export interface TagRecord {
  /** Tag key. */
  Key: string;
  /** Tag value. */
  Value: string;
}

/** An Aurora cluster. Times are epoch milliseconds. */
export interface ClusterRecord {
  /** Current DBClusterIdentifier. */
  identifier: string;
  /** DbClusterResourceId (stays across renames). */
  resourceId: string;
  /** aurora-postgresql. */
  engine: string;
  /** EngineVersion. */
  engineVersion: string;
  /** Where its data lives. */
  backend: Backend;
  /** Full ARN of its KMS key. */
  kmsKeyArn: string;
  /** ClusterCreateTime. */
  createdAt: number;
  /** `creating` until this time (restores). */
  readyAt: number;
  /** A rename in flight: `renaming` until `until`, then the proxy of the new name serves it. */
  rename?: { from: string; until: number };
  /** Snapshot it was restored from. */
  restoredFrom?: string;
  /** Every parameter the restore request carried (passwords excluded), for inspection. */
  restoreInput?: Record<string, unknown>;
  /** Settings shown by DescribeDBClusters (parameter group, subnet group, backups, ...). */
  settings: ClusterSettings;
  /** Tags. */
  tags: TagRecord[];
  /** Set when this record is a single RDS DB instance (postgres, mysql, mariadb) rather than an Aurora cluster. */
  instance?: DbInstanceSettings;
  /** RestoreDBClusterToPointInTime: the RestoreType it was made with. */
  restoreType?: string;
  /** Its Region, when not the rehearsal's home Region (a cross-Region read replica, a global database secondary). */
  region?: string;
  /** A read replica or global secondary served as a read-only route to its primary's data (no server or database of its own). */
  route?: boolean;
}

/** What an RDS DB instance shows beyond the settings it shares with a cluster. */
export interface DbInstanceSettings {
  /** DbiResourceId. */
  dbiResourceId: string;
  /** DBInstanceClass. */
  instanceClass: string;
  /** DBParameterGroupName. */
  parameterGroup: string;
  /** OptionGroupName. */
  optionGroup: string;
  /** MultiAZ. */
  multiAz: boolean;
  /** StorageType. */
  storageType: string;
  /** AllocatedStorage (GiB). */
  allocatedStorage: number;
  /** Iops, when provisioned. */
  iops?: number;
  /** StorageThroughput, when set. */
  storageThroughput?: number;
  /** MaxAllocatedStorage (autoscaling limit), when set. */
  maxAllocatedStorage?: number;
  /** PubliclyAccessible. */
  publiclyAccessible: boolean;
  /** AvailabilityZone. */
  availabilityZone: string;
  /** MonitoringInterval (seconds; 0 off). */
  monitoringInterval: number;
  /** MonitoringRoleArn. */
  monitoringRoleArn?: string;
  /** PerformanceInsightsEnabled. */
  performanceInsights: boolean;
  /** PerformanceInsightsKMSKeyId: set when PI is first enabled (the storage key unless given), never changed after. */
  performanceInsightsKmsKeyArn?: string;
  /** AutoMinorVersionUpgrade. */
  autoMinorVersionUpgrade: boolean;
  /** ReadReplicaSourceDBInstanceIdentifier, for a read replica. */
  replicaOf?: string;
  /** DbiResourceId of the primary (follows its renames). */
  replicaOfResourceId?: string;
}

/** Cluster settings a restore must carry over. */
export interface ClusterSettings {
  /** DBClusterParameterGroup. */
  parameterGroup: string;
  /** DBSubnetGroup. */
  subnetGroup: string;
  /** VpcSecurityGroupIds. */
  securityGroupIds: string[];
  /** MasterUsername. */
  masterUsername: string;
  /** DatabaseName. */
  databaseName: string;
  /** BackupRetentionPeriod in days. */
  backupRetentionPeriod: number;
  /** PreferredBackupWindow. */
  preferredBackupWindow: string;
  /** PreferredMaintenanceWindow. */
  preferredMaintenanceWindow: string;
  /** DeletionProtection. */
  deletionProtection: boolean;
  /** CopyTagsToSnapshot. */
  copyTagsToSnapshot: boolean;
  /** IAMDatabaseAuthenticationEnabled. */
  iamDatabaseAuthentication: boolean;
  /** EnabledCloudwatchLogsExports. */
  cloudwatchLogsExports: string[];
  /** AvailabilityZones. */
  availabilityZones: string[];
}

/** A DB instance (Aurora member). */
export interface InstanceRecord {
  /** DBInstanceIdentifier. */
  identifier: string;
  /** DbiResourceId. */
  resourceId: string;
  /** DBClusterIdentifier it belongs to (follows cluster renames). */
  clusterIdentifier: string;
  /** DBInstanceClass. */
  instanceClass: string;
  /** Engine. */
  engine: string;
  /** InstanceCreateTime. */
  createdAt: number;
  /** `creating` until this time. */
  readyAt: number;
  /** DBParameterGroupName. */
  parameterGroup: string;
  /** PromotionTier. */
  promotionTier: number;
  /** AvailabilityZone. */
  availabilityZone: string;
  /** Tags. */
  tags: TagRecord[];
  /** What CreateDBInstance set beyond the above (monitoring, Performance Insights, minor-version upgrades), shown back. */
  extra?: { monitoringInterval?: number; monitoringRoleArn?: string; performanceInsights?: boolean; performanceInsightsKmsKeyArn?: string; performanceInsightsRetentionPeriod?: number; autoMinorVersionUpgrade?: boolean; publiclyAccessible?: boolean };
  /** A rename in progress (ModifyDBInstance NewDBInstanceIdentifier): its old name, and when it is done (it reboots meanwhile). */
  rename?: { from: string; until: number };
}

/** A custom endpoint of an Aurora cluster: it belongs to the cluster (by resource id, so it stays with it across renames). */
export interface ClusterEndpointRecord {
  /** DBClusterEndpointIdentifier (unique in the Region). */
  identifier: string;
  /** DbClusterResourceId of its cluster. */
  clusterResourceId: string;
  /** CustomEndpointType: READER or ANY. */
  type: string;
  /** StaticMembers. */
  staticMembers: string[];
  /** ExcludedMembers. */
  excludedMembers: string[];
  /** `creating` until this time. */
  readyAt: number;
  /** `deleting` until this time, then gone. */
  deletingUntil?: number;
  /** Tags. */
  tags: TagRecord[];
}

/** An Aurora global database: its members by DbClusterResourceId (they stay members across renames), the writer first. */
export interface GlobalClusterRecord {
  /** GlobalClusterIdentifier (lower-case; renamed by ModifyGlobalCluster). */
  identifier: string;
  /** GlobalClusterResourceId. */
  resourceId: string;
  /** Engine and EngineVersion, taken from the cluster it was made from. */
  engine: string;
  engineVersion: string;
  /** Members: the primary (isWriter) and the secondaries, each a cluster of its own Region. */
  members: { clusterResourceId: string; isWriter: boolean }[];
  /** CreateTime (epoch ms). */
  createdAt: number;
  /** `creating` until this time (`modifying` after a rename, until it is effective). */
  readyAt: number;
  /** Set by a rename: the wait before readyAt is `modifying`, not `creating`. */
  renaming?: boolean;
  /** Tags. */
  tags: TagRecord[];
}

/** Application Auto Scaling registrations (the rehearsal models the rds namespace only). */
export interface AutoScalingState {
  /** Scalable targets by `${ResourceId} ${ScalableDimension}`. */
  targets: Record<string, { resourceId: string; dimension: string; min: number; max: number; suspended?: Record<string, boolean> }>;
  /** Scaling policies by `${ResourceId} ${ScalableDimension} ${PolicyName}`. */
  policies: Record<string, { name: string; resourceId: string; dimension: string; type: string; configuration: Record<string, unknown> }>;
}

/**
 * A cluster snapshot: of a PostgreSQL source a dump taken at an exported snapshot of a logical slot; of a MySQL
 * source a `mariadb-dump --single-transaction --master-data=2` (then `lsn` holds `<file>:<pos>`, `binlog` is set,
 * and the slot and publication fields are empty).
 */
export interface SnapshotRecord {
  /** DBClusterSnapshotIdentifier. */
  identifier: string;
  /** Cluster it was taken of (its identifier at that time). */
  clusterIdentifier: string;
  /** Where the data came from. */
  sourceBackend: Backend;
  /** Engine and version of the cluster. */
  engine: string;
  /** EngineVersion. */
  engineVersion: string;
  /** The cluster's KMS key ARN. */
  kmsKeyArn: string;
  /** SnapshotCreateTime. */
  createdAt: number;
  /** `creating` (PercentProgress rising) until this time. */
  readyAt: number;
  /** The snapshot's LSN: the consistent point of `internalSlot` (MySQL: the binlog position as `<file>:<pos>`). */
  lsn: string;
  /** MySQL: the binlog position of the dump (of a read replica: the source position it had executed). */
  binlog?: BinlogPosRecord;
  /** Internal pgoutput slot on the source, created with EXPORT_SNAPSHOT; the CDC stream starts from it. */
  internalSlot: string;
  /** Its publications on the source (full, insert-only), created just before the slot. */
  publications: [string, string];
  /** pg_dump -Fc file. */
  dumpFile: string;
  /** Roles (MySQL: accounts and grants) as they were at snapshot time (JSON, mode 0600: holds password hashes). */
  rolesFile: string;
  /** Owner of the source database at snapshot time. */
  databaseOwner?: string;
  /** Logical slots of the source database at snapshot time (a restored volume carries copies). */
  slots: { name: string; plugin: string }[];
  /** Settings of the cluster at snapshot time (restores without explicit settings get AWS defaults, not these). */
  clusterSettings: ClusterSettings;
  /** Tags. */
  tags: TagRecord[];
  /** Set for a DB snapshot (of an RDS DB instance) rather than a cluster snapshot. */
  dbSnapshot?: {
    /** Settings of the instance at snapshot time. */
    instance: DbInstanceSettings;
    /** The snapshot this one is a copy of (CopyDBSnapshot). */
    copiedFrom?: string;
  };
  /** The point-in-time copy behind a RestoreDBClusterToPointInTime: not listed by DescribeDBClusterSnapshots. */
  internal?: boolean;
}

/** A KMS key. */
export interface KeyRecord {
  /** Key id (uuid). */
  keyId: string;
  /** Full key ARN. */
  arn: string;
  /** Region the key lives in. */
  region: string;
  /** Account the key lives in. */
  account: string;
  /** KeyState. */
  state: 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport' | 'Unavailable';
  /** KeySpec. */
  keySpec: string;
  /** Whether the key policy lets RDS use it. */
  grantsRds: boolean;
  /** alias/... names pointing at it. */
  aliases: string[];
  /** Description. */
  description: string;
  /** CreationDate. */
  createdAt: number;
}

/** A DB cluster parameter group. */
export interface ParameterGroupRecord {
  /** Name. */
  name: string;
  /** DBParameterGroupFamily. */
  family: string;
  /** Description. */
  description: string;
  /** Parameter values; `user` ones were set explicitly. */
  parameters: { name: string; value: string; source: 'user' | 'engine-default' | 'system'; applyType: 'static' | 'dynamic' }[];
}

/** A DMS replication instance. */
export interface ReplicationInstanceRecord {
  /** ReplicationInstanceIdentifier. */
  identifier: string;
  /** ReplicationInstanceArn. */
  arn: string;
  /** ReplicationInstanceClass. */
  instanceClass: string;
  /** InstanceCreateTime. */
  createdAt: number;
  /** `creating` until this time. */
  readyAt: number;
  /** Other settings from the request. */
  settings: Record<string, unknown>;
}

/** A DMS endpoint. The password is never stored. */
export interface EndpointRecord {
  /** EndpointIdentifier. */
  identifier: string;
  /** EndpointArn. */
  arn: string;
  /** source or target. */
  type: 'source' | 'target';
  /** EngineName. */
  engineName: string;
  /** ServerName. */
  serverName: string;
  /** Port. */
  port: number;
  /** DatabaseName. */
  databaseName: string;
  /** Username. */
  username: string;
  /** SslMode. */
  sslMode: string;
  /** PostgreSQLSettings (SlotName, PluginName, ...). */
  postgreSQLSettings: Record<string, unknown>;
  /** Other request fields (no password). */
  settings: Record<string, unknown>;
  /** Creation time. */
  createdAt: number;
}

/** A TestConnection result. */
export interface ConnectionRecord {
  /** EndpointArn. */
  endpointArn: string;
  /** ReplicationInstanceArn. */
  instanceArn: string;
  /** testing, successful or failed. */
  status: 'testing' | 'successful' | 'failed';
  /** Why it failed. */
  lastFailureMessage?: string;
}

/** The explicit task states (creating is derived from readyAt). */
export type TaskState = 'ready' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** A DMS replication task carried out by a PostgreSQL subscription. */
export interface TaskRecord {
  /** ReplicationTaskIdentifier. */
  identifier: string;
  /** ReplicationTaskArn; its last segment is the resource id (CloudWatch dimension). */
  arn: string;
  /** Resource id (ARN suffix). */
  resourceId: string;
  /** SourceEndpointArn. */
  sourceEndpointArn: string;
  /** TargetEndpointArn. */
  targetEndpointArn: string;
  /** ReplicationInstanceArn. */
  instanceArn: string;
  /** MigrationType. */
  migrationType: string;
  /** TableMappings JSON. */
  tableMappings: string;
  /** ReplicationTaskSettings JSON. */
  taskSettings?: string;
  /** CdcStartPosition given at creation. */
  cdcStartPosition?: string;
  /** CdcStartTime given at creation (ISO). */
  cdcStartTime?: string;
  /** Creation time. */
  createdAt: number;
  /** `creating` until this time. */
  readyAt: number;
  /** Current state. */
  state: TaskState;
  /** LastFailureMessage. */
  lastFailureMessage?: string;
  /** StopReason. */
  stopReason?: string;
  /** When it last started running. */
  startedAt?: number;
  /** When it last stopped. */
  stoppedAt?: number;
  /** Whether it has ever run (a second start-replication cannot re-apply). */
  hasRun: boolean;
  /** A start before the snapshot's position that the task settings tolerate: what replaying it did. */
  overlap?: OverlapReplay;
  /** The start type of the last StartReplicationTask. */
  startType?: string;
  /** The start position of the last StartReplicationTask. */
  startPosition?: string;
  /** Replication objects carrying the CDC, once started. */
  cdc?: CdcRecord;
}

/** What a started task set up on the servers. */
export interface CdcRecord {
  /** Source backend. */
  source: Backend;
  /** Target backend. */
  target: Backend;
  /** Snapshot whose internal slot feeds the subscription. */
  snapshot: string;
  /** Internal pgoutput slot on the source. */
  internalSlot: string;
  /** The runner's test_decoding slot (advanced as the subscription confirms). */
  runnerSlot: string;
  /** Publications on the source. */
  publications: string[];
  /** Subscription on the target. */
  subscription: string;
  /** schema.table replicated. */
  tables: string[];
  /** Per table, n_tup_ins/upd/del on source and target when the task started. */
  baseline: Record<string, { source: [number, number, number]; target: [number, number, number] }>;
  /** MySQL: the task is the target server's binlog replica (the PostgreSQL fields above are empty). */
  mysql?: {
    /** Where the replica reads from (the source server itself, not its proxy). */
    sourceHost: string;
    /** Its port. */
    sourcePort: number;
    /** Start position `<file>:<pos>`. */
    from: string;
    /** replicate_wild_do_table patterns. */
    doTables: string[];
    /** replicate_ignore_table names (excluded tables, the held-back sentinel). */
    ignoreTables: string[];
  };
}

/** A Blue/Green deployment (aws/blue-green.ts): green restored under the target key, fed by native replication from blue. */
export interface BlueGreenRecord {
  /** BlueGreenDeploymentIdentifier (bgd-...). */
  identifier: string;
  /** BlueGreenDeploymentName. */
  name: string;
  /** Blue's identifier (cluster or DB instance) when created; after the switchover it is `<that>-old1`. */
  blue: string;
  /** Green's identifier when created; after the switchover green carries blue's name. */
  green: string;
  /** Blue and green writer instances (Aurora), named as when created. */
  writers?: { blue: string; green: string };
  /** PROVISIONING, AVAILABLE, SWITCHOVER_IN_PROGRESS, SWITCHOVER_COMPLETED, SWITCHOVER_FAILED. */
  status: string;
  /** StatusDetails. */
  statusDetails?: string;
  /** CreateTime. */
  createdAt: number;
  /** PROVISIONING until this time. */
  readyAt: number;
  /** The snapshot of blue green was restored from (kept here, not listed as a manual snapshot). */
  snapshot: SnapshotRecord;
  /** The replication from blue to green while it runs (a subscription, or green's binlog replica). */
  replication?: CdcRecord;
  /** The switchover in flight: when it started and when AWS gives up. */
  switchover?: { startedAt: number; deadline: number };
  /** Tags. */
  tags: TagRecord[];
}

/** An RDS event. */
export interface EventRecord {
  /** SourceIdentifier. */
  sourceId: string;
  /** SourceType. */
  sourceType: 'db-cluster' | 'db-instance' | 'db-cluster-snapshot' | 'db-snapshot';
  /** Message. */
  message: string;
  /** EventCategories. */
  categories: string[];
  /** Date. */
  at: number;
}

/** The whole persisted state. */
export interface RegistryState {
  /** Format version. */
  version: 1;
  /** Account id used in ARNs. */
  account: string;
  /** Region used in ARNs. */
  region: string;
  /** Clusters by identifier. */
  clusters: Record<string, ClusterRecord>;
  /** Instances by identifier. */
  instances: Record<string, InstanceRecord>;
  /** Snapshots by identifier. */
  snapshots: Record<string, SnapshotRecord>;
  /** Parameter groups by name. */
  parameterGroups: Record<string, ParameterGroupRecord>;
  /** KMS keys by key id. */
  keys: Record<string, KeyRecord>;
  /** DMS replication instances by identifier. */
  replicationInstances: Record<string, ReplicationInstanceRecord>;
  /** DMS endpoints by identifier. */
  endpoints: Record<string, EndpointRecord>;
  /** DMS tasks by identifier. */
  tasks: Record<string, TaskRecord>;
  /** Connection tests by `${instanceArn} ${endpointArn}`. */
  connections: Record<string, ConnectionRecord>;
  /** RDS events, oldest first. */
  events: EventRecord[];
  /** Every successful create/restore/copy call, oldest first: proves a resumed run never made a second one. */
  created?: { action: string; identifier: string; at: string }[];
  /** Blue/Green deployments by identifier. */
  blueGreen?: Record<string, BlueGreenRecord>;
  /** Stable proxy port per identifier (reader endpoints `ro:<cluster>`, Aurora instances `db:<instance>`, custom endpoints `custom:<name>`). */
  proxyPorts: Record<string, number>;
  /** Custom endpoints by identifier (Aurora). */
  clusterEndpoints?: Record<string, ClusterEndpointRecord>;
  /** Aurora Auto Scaling registrations. */
  autoScaling?: AutoScalingState;
  /** Aurora global databases by identifier (aws/global.ts); absent in older registries. */
  globalClusters?: Record<string, GlobalClusterRecord>;
  /** Snapshot copies into other Regions and retained automated backups (aws/estate.ts); absent in older registries. */
  estate?: EstateState;
  /**
   * MariaDB servers (by directory name) whose replica's password the last runner cleared when it closed the world,
   * and whether the replica was running then (engines/replica-password.ts); the next runner sets it and starts it.
   */
  replicaPasswordsCleared?: Record<string, boolean>;
  /**
   * MariaDB servers (by directory name) the last runner stopped while they had a replica: its filters and whether it
   * ran (engines/replica-state.ts); the next runner that starts the server again gives them back.
   */
  replicaStates?: Record<string, ReplicaState>;
}

/** A MariaDB replica's global settings that a server restart loses (engines/replica-state.ts). */
export interface ReplicaState {
  /** Whether its threads ran. */
  running: boolean;
  /** @@GLOBAL.replicate_wild_do_table. */
  doTables: string;
  /** @@GLOBAL.replicate_ignore_table. */
  ignoreTables: string;
}

/** A snapshot copied with CopyDBSnapshot / CopyDBClusterSnapshot into a Region (the second rehearsal Region, or home). */
export interface RegionalCopy {
  /** Region the copy lives in. */
  region: string;
  /** DB snapshot (of an instance) or cluster snapshot. */
  kind: 'db' | 'cluster';
  /** ARN of the snapshot it was copied from. */
  sourceArn: string;
  /** Region of that snapshot. */
  sourceRegion: string;
  /** The copy (its identifier, key, times and tags; data is not duplicated: nothing restores from it here). */
  record: SnapshotRecord;
}

/** An automated backup kept after its database was deleted (DeleteAutomatedBackups: false). */
export interface RetainedBackup {
  /** Cluster (Aurora) or DB instance backup. */
  kind: 'db' | 'cluster';
  /** Identifier of the deleted database. */
  identifier: string;
  /** Its resource id (DbiResourceId / DbClusterResourceId). */
  resourceId: string;
  /** Engine. */
  engine: string;
  /** Key ARN. */
  kmsKeyArn: string;
  /** BackupRetentionPeriod in days at deletion. */
  retentionDays: number;
  /** When the database was created (epoch ms). */
  createdAt: number;
  /** When it was deleted (epoch ms). */
  deletedAt: number;
}

/** What the key estate adds to the registry. */
export interface EstateState {
  /** Snapshot copies made with Copy* commands of aws/estate.ts, any Region. */
  copies: RegionalCopy[];
  /** Retained automated backups. */
  retained: RetainedBackup[];
}

/** One CloudWatch datapoint. */
export interface Datapoint {
  /** Epoch ms. */
  t: number;
  /** Namespace. */
  ns: string;
  /** MetricName. */
  m: string;
  /** Dimensions as name -> value. */
  d: Record<string, string>;
  /** Value. */
  v: number;
}

const MAX_EVENTS = 1000;
const METRIC_RETENTION_MS = 3 * 3600_000;

/** The registry: in-memory state, saved atomically after each change. */
/** The request field naming what a create, restore or copy makes, where the request names more than one resource. */
const CREATED_KEYS: Record<string, string> = {
  RestoreDBInstanceFromDBSnapshot: 'DBInstanceIdentifier',
  RestoreDBInstanceToPointInTime: 'TargetDBInstanceIdentifier',
  RestoreDBClusterFromSnapshot: 'DBClusterIdentifier',
  RestoreDBClusterToPointInTime: 'DBClusterIdentifier',
  CopyDBSnapshot: 'TargetDBSnapshotIdentifier',
  CopyDBClusterSnapshot: 'TargetDBClusterSnapshotIdentifier',
  CreateDBInstanceReadReplica: 'DBInstanceIdentifier',
  CreateDBInstance: 'DBInstanceIdentifier',
  CreateDBClusterEndpoint: 'DBClusterEndpointIdentifier',
  CreateDBCluster: 'DBClusterIdentifier',
  CreateGlobalCluster: 'GlobalClusterIdentifier',
};

/** Fields that name a resource, for the calls CREATED_KEYS does not list (each names only the resource it makes). */
const IDENTIFIER_KEYS = [
  'DBClusterSnapshotIdentifier', 'DBSnapshotIdentifier', 'DBClusterEndpointIdentifier', 'DBInstanceIdentifier', 'DBClusterIdentifier',
  'EndpointIdentifier', 'ReplicationTaskIdentifier', 'ReplicationInstanceIdentifier', 'BlueGreenDeploymentName',
];

/**
 * The identifier of the resource a create, restore or copy call makes (RegistryState.created): the new one, never
 * the one it is made from (RestoreDBInstanceFromDBSnapshot names a snapshot and the new instance); '?' when none.
 */
export function createdIdentifier(action: string, input: Record<string, unknown>): string {
  const own = CREATED_KEYS[action];
  const key = own !== undefined && typeof input[own] === 'string' ? own : IDENTIFIER_KEYS.find((k) => typeof input[k] === 'string');
  return key !== undefined ? String(input[key]) : '?';
}

export class Registry {
  readonly file: string;
  readonly metricsFile: string;
  private datapoints: Datapoint[] = [];

  private constructor(
    readonly dir: string,
    public state: RegistryState,
  ) {
    this.file = join(dir, 'registry.json');
    this.metricsFile = join(dir, 'metrics.jsonl');
  }

  /** A new empty registry in `dir` (any previous one is replaced on the first save). */
  static create(dir: string, account: string, region: string): Registry {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const reg = new Registry(dir, emptyState(account, region));
    writeFileSync(reg.metricsFile, '', { mode: 0o600 });
    reg.save();
    return reg;
  }

  /** Load the registry in `dir`; undefined when there is none. */
  static load(dir: string): Registry | undefined {
    const file = join(dir, 'registry.json');
    if (!existsSync(file)) return undefined;
    const state = JSON.parse(readFileSync(file, 'utf8')) as RegistryState;
    if (state.version !== 1) throw new Error(`${file}: unsupported rehearsal registry version ${String(state.version)}`);
    const reg = new Registry(dir, state);
    reg.loadMetrics();
    return reg;
  }

  /** Write the state atomically. */
  save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state, null, 1), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /** Record an RDS event. */
  event(sourceType: EventRecord['sourceType'], sourceId: string, message: string, categories: string[], at = Date.now()): void {
    this.state.events.push({ sourceId, sourceType, message, categories, at });
    if (this.state.events.length > MAX_EVENTS) this.state.events.splice(0, this.state.events.length - MAX_EVENTS);
  }

  /** Append datapoints (kept in memory and in metrics.jsonl). */
  addDatapoints(points: Datapoint[]): void {
    if (points.length === 0) return;
    this.datapoints.push(...points);
    appendFileSync(this.metricsFile, points.map((p) => JSON.stringify(p)).join('\n') + '\n', { mode: 0o600 });
    const horizon = Date.now() - METRIC_RETENTION_MS;
    if ((this.datapoints[0]?.t ?? horizon) < horizon) this.datapoints = this.datapoints.filter((p) => p.t >= horizon);
  }

  /** All datapoints kept. */
  metrics(): readonly Datapoint[] {
    return this.datapoints;
  }

  private loadMetrics(): void {
    if (!existsSync(this.metricsFile)) return;
    const horizon = Date.now() - METRIC_RETENTION_MS;
    for (const line of readFileSync(this.metricsFile, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        const p = JSON.parse(line) as Datapoint;
        if (p.t >= horizon) this.datapoints.push(p);
      } catch {
        // a line torn by a crash mid-append: skip it
      }
    }
  }
}

function emptyState(account: string, region: string): RegistryState {
  return {
    version: 1, account, region, clusters: {}, instances: {}, snapshots: {}, parameterGroups: {}, keys: {},
    replicationInstances: {}, endpoints: {}, tasks: {}, connections: {}, events: [], created: [], proxyPorts: {},
  };
}

/** A uuid derived from a seed (stable keys for the same runbook), or random without one. */
export function uuidFrom(seed?: string): string {
  const h = seed === undefined ? randomBytes(16).toString('hex') : createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** An upper-case resource id like DMS and RDS use (`cluster-...`, task ARN suffixes). */
export function resourceId(length = 26): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return [...randomBytes(length)].map((b) => alphabet[b % 32]).join('');
}
