// Fake RDS for Aurora PostgreSQL: clusters, writer instances, cluster snapshots (a real dump at an
// exported snapshot), restores under a KMS key, renames that re-point the endpoint proxies, events.
import type { Core, Input } from '../core.js';
import { arn, before, ensureProxy, isInstanceWorld, ms, str } from '../core.js';
import { awsFault, UnsupportedCommandError } from './faults.js';
import { findKey } from './kms.js';
import { restoreToPointInTime } from './rds-clone.js';
import { blueGreenSend } from './blue-green.js';
import { dropClusterEndpoints, instanceProxy, routeTopology, topologySend, writerOf } from './topology.js';
import { dbInstanceShape, findDbInstance, inRegion, instanceSend } from './rds-instance.js';
import type { ClusterRecord, ClusterSettings, InstanceRecord, SnapshotRecord } from '../registry.js';
import { resourceId } from '../registry.js';
import { clusterStatus, deleteSnapshotData, dropRecord, globalOf, PAGE, paginate, rdsTick, renameRecord, requireAvailable, restoreData, restoreKeyArn, snapshotData, snapshotProgress, tagsOf } from './rds-records.js';

/** DescribeEvents window when neither StartTime nor Duration is given (minutes), as on AWS. */
const EVENTS_DEFAULT_MINUTES = 60;

function instanceStatus(core: Core, i: InstanceRecord): string {
  const cluster = core.reg.state.clusters[i.clusterIdentifier];
  if (before(core, i.readyAt) || (cluster && before(core, cluster.readyAt))) return 'creating';
  if (i.rename && before(core, i.rename.until)) return 'renaming';
  return 'available';
}

/**
 * ModifyDBInstance of an Aurora member: a rename, as RDS does it (aws-facts §2.4). The old name stops resolving at once
 * (its instance endpoint drops its connections), the new one answers once the rename is done (renameSeconds); the
 * instance reboots meanwhile, so a renamed writer takes its cluster's endpoint down for that time too. Custom endpoint
 * member lists follow the instance to its new name [UNCERTAIN on AWS; rekey sets them itself after its renames].
 * Other settings of Aurora members are not modelled: asked for, they fail loudly.
 */
async function modifyMember(core: Core, input: Input): Promise<unknown> {
  const st = core.reg.state;
  const id = str(input, 'DBInstanceIdentifier')?.toLowerCase() ?? '';
  const i = st.instances[id];
  if (!i) throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${id} not found.`, 404);
  const other = Object.keys(input).filter((k) => !['DBInstanceIdentifier', 'NewDBInstanceIdentifier', 'ApplyImmediately'].includes(k));
  if (other.length > 0) throw new UnsupportedCommandError('rds', `ModifyDBInstance of an Aurora instance with ${other.join(', ')}`);
  const status = instanceStatus(core, i);
  if (status !== 'available') throw awsFault('rds', 'InvalidDBInstanceStateFault', `DB instance ${id} is not in available state (it is ${status}).`);
  const newId = str(input, 'NewDBInstanceIdentifier')?.toLowerCase();
  if (newId !== undefined && newId !== id) {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(newId) || newId.endsWith('-') || newId.includes('--')) throw awsFault('rds', 'InvalidParameterValue', `Invalid DB instance identifier: ${newId}`);
    if (st.instances[newId] || st.clusters[newId]) throw awsFault('rds', 'DBInstanceAlreadyExistsFault', `DB instance ${newId} already exists`);
    // Deferred to the maintenance window without ApplyImmediately: not modelled, refused rather than ignored.
    if (input.ApplyImmediately !== true) throw new UnsupportedCommandError('rds', 'ModifyDBInstance rename without ApplyImmediately (deferred to the maintenance window)');
    const isWriter = writerOf(core, i.clusterIdentifier) === i;
    delete st.instances[id];
    i.identifier = newId;
    i.rename = { from: id, until: core.now() + ms(core.delays.renameSeconds) };
    st.instances[newId] = i;
    for (const e of Object.values(st.clusterEndpoints ?? {})) {
      e.staticMembers = e.staticMembers.map((m) => (m === id ? newId : m));
      e.excludedMembers = e.excludedMembers.map((m) => (m === id ? newId : m));
    }
    const cluster = st.clusters[i.clusterIdentifier];
    if (isWriter && cluster && cluster.rename === undefined) core.proxies.point(cluster.identifier, undefined);
    core.reg.event('db-instance', newId, `Renaming instance from ${id} to ${newId}`, ['configuration change']);
  }
  core.reg.save();
  await memberTick(core);
  await routeTopology(core);
  return { DBInstance: instanceShape(core, i) };
}

/** Finished member renames: the rebooted writer serves its cluster's endpoint again. */
export async function memberTick(core: Core): Promise<void> {
  for (const i of Object.values(core.reg.state.instances)) {
    if (!i.rename || before(core, i.rename.until)) continue;
    core.reg.event('db-instance', i.identifier, `Renamed instance from ${i.rename.from} to ${i.identifier}`, ['configuration change']);
    delete i.rename;
    core.reg.save();
    const cluster = core.reg.state.clusters[i.clusterIdentifier];
    if (cluster && cluster.rename === undefined && writerOf(core, cluster.identifier) === i) {
      await ensureProxy(core, cluster.identifier);
      core.proxies.point(cluster.identifier, { host: cluster.backend.host, port: cluster.backend.port });
    }
  }
}

/** DescribeDBClusters shape of an Aurora cluster record (in `core`'s Region: its ARN names that Region). */
export function clusterShape(core: Core, c: ClusterRecord): Record<string, unknown> {
  const port = core.reg.state.proxyPorts[c.identifier] ?? 0;
  const members = Object.values(core.reg.state.instances).filter((i) => i.clusterIdentifier === c.identifier);
  const writer = writerOf(core, c.identifier);
  const s = c.settings;
  const global = globalOf(core, c);
  return {
    ...(global ? { GlobalClusterIdentifier: global.identifier } : {}),
    DBClusterIdentifier: c.identifier, DBClusterArn: arn.rds(core, 'cluster', c.identifier), DbClusterResourceId: c.resourceId,
    Engine: c.engine, EngineVersion: c.engineVersion, EngineMode: 'provisioned', Status: clusterStatus(core, c),
    Endpoint: '127.0.0.1', ReaderEndpoint: '127.0.0.1', Port: port, MultiAZ: false, AvailabilityZones: s.availabilityZones,
    DatabaseName: s.databaseName, MasterUsername: s.masterUsername, DBClusterParameterGroup: s.parameterGroup, DBSubnetGroup: s.subnetGroup,
    VpcSecurityGroups: s.securityGroupIds.map((id) => ({ VpcSecurityGroupId: id, Status: 'active' })),
    StorageEncrypted: true, KmsKeyId: c.kmsKeyArn, BackupRetentionPeriod: s.backupRetentionPeriod, PreferredBackupWindow: s.preferredBackupWindow,
    PreferredMaintenanceWindow: s.preferredMaintenanceWindow, DeletionProtection: s.deletionProtection, CopyTagsToSnapshot: s.copyTagsToSnapshot,
    IAMDatabaseAuthenticationEnabled: s.iamDatabaseAuthentication, EnabledCloudwatchLogsExports: s.cloudwatchLogsExports,
    ClusterCreateTime: new Date(c.createdAt), HttpEndpointEnabled: false, TagList: c.tags,
    DBClusterMembers: members.map((i) => ({ DBInstanceIdentifier: i.identifier, IsClusterWriter: i === writer, DBClusterParameterGroupStatus: 'in-sync', PromotionTier: i.promotionTier })),
  };
}

/** DescribeDBInstances shape of an Aurora member instance. */
export function instanceShape(core: Core, i: InstanceRecord): Record<string, unknown> {
  const cluster = core.reg.state.clusters[i.clusterIdentifier];
  const x = i.extra ?? {};
  // A reader answers on its own endpoint (a proxy to the cluster's server); the writer on the cluster's.
  const port = core.reg.state.proxyPorts[instanceProxy(i.identifier)] ?? core.reg.state.proxyPorts[i.clusterIdentifier] ?? 0;
  return {
    ...(x.monitoringInterval !== undefined ? { MonitoringInterval: x.monitoringInterval } : {}), ...(x.monitoringRoleArn ? { MonitoringRoleArn: x.monitoringRoleArn } : {}),
    ...(x.performanceInsights !== undefined ? { PerformanceInsightsEnabled: x.performanceInsights } : {}),
    ...(x.performanceInsights ? { PerformanceInsightsKMSKeyId: x.performanceInsightsKmsKeyArn ?? cluster?.kmsKeyArn, PerformanceInsightsRetentionPeriod: x.performanceInsightsRetentionPeriod ?? 7 } : {}),
    ...(x.autoMinorVersionUpgrade !== undefined ? { AutoMinorVersionUpgrade: x.autoMinorVersionUpgrade } : {}),
    DBInstanceIdentifier: i.identifier, DBInstanceArn: arn.rds(core, 'db', i.identifier), DbiResourceId: i.resourceId, DBInstanceClass: i.instanceClass,
    Engine: i.engine, EngineVersion: cluster?.engineVersion, DBInstanceStatus: instanceStatus(core, i), DBClusterIdentifier: i.clusterIdentifier,
    Endpoint: { Address: '127.0.0.1', Port: port }, InstanceCreateTime: new Date(i.createdAt),
    StorageEncrypted: true, KmsKeyId: cluster?.kmsKeyArn, AvailabilityZone: i.availabilityZone, PubliclyAccessible: x.publiclyAccessible ?? false, PromotionTier: i.promotionTier,
    DBParameterGroups: [{ DBParameterGroupName: i.parameterGroup, ParameterApplyStatus: 'in-sync' }], TagList: i.tags, MultiAZ: false,
  };
}

function snapshotShape(core: Core, s: SnapshotRecord): Record<string, unknown> {
  const { status, percent } = snapshotProgress(core, s);
  return {
    DBClusterSnapshotIdentifier: s.identifier, DBClusterIdentifier: s.clusterIdentifier, DBClusterSnapshotArn: arn.rds(core, 'cluster-snapshot', s.identifier),
    SnapshotCreateTime: new Date(s.createdAt), Engine: s.engine, EngineVersion: s.engineVersion, EngineMode: 'provisioned', Status: status, PercentProgress: percent,
    Port: s.binlog ? 3306 : 5432, VpcId: 'vpc-0rehearsal', MasterUsername: s.clusterSettings.masterUsername, SnapshotType: 'manual', StorageEncrypted: true,
    KmsKeyId: s.kmsKeyArn, LicenseModel: s.binlog ? 'aurora-mysql' : 'postgresql-license', AllocatedStorage: 1, AvailabilityZones: s.clusterSettings.availabilityZones,
    IAMDatabaseAuthenticationEnabled: s.clusterSettings.iamDatabaseAuthentication, TagList: s.tags,
  };
}

function mustCluster(core: Core, id: string | undefined): ClusterRecord {
  const c = id !== undefined ? core.reg.state.clusters[id] ?? findByArn(core, id) : undefined;
  // A cluster of another Region (a global database secondary) is not found here, as RDS answers per Region.
  if (!c || c.instance || !inRegion(core, c)) throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${id ?? '(none)'} not found.`, 404);
  return c;
}

function findByArn(core: Core, id: string): ClusterRecord | undefined {
  return Object.values(core.reg.state.clusters).find((c) => arn.rds(core, 'cluster', c.identifier) === id);
}

function mustSnapshot(core: Core, id: string | undefined): SnapshotRecord {
  const s = id !== undefined ? core.reg.state.snapshots[id] ?? Object.values(core.reg.state.snapshots).find((x) => arn.rds(core, 'cluster-snapshot', x.identifier) === id) : undefined;
  if (!s || s.dbSnapshot) throw awsFault('rds', 'DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${id ?? '(none)'} not found.`, 404);
  return s;
}

/** Default settings of a restore that does not pass them: AWS defaults, not the source's. */
function defaultSettings(s: SnapshotRecord): ClusterSettings {
  return {
    parameterGroup: defaultParameterGroup(s.engine), subnetGroup: 'default', securityGroupIds: ['sg-0default0000000000'],
    masterUsername: s.clusterSettings.masterUsername, databaseName: s.clusterSettings.databaseName, backupRetentionPeriod: 1,
    preferredBackupWindow: '07:00-07:30', preferredMaintenanceWindow: 'sun:05:00-sun:05:30', deletionProtection: false, copyTagsToSnapshot: false,
    iamDatabaseAuthentication: false, cloudwatchLogsExports: [], availabilityZones: s.clusterSettings.availabilityZones,
  };
}

/** The default (cluster and instance) parameter group of an engine. */
function defaultParameterGroup(engine: string): string {
  return engine === 'aurora-mysql' ? 'default.aurora-mysql8.0' : 'default.aurora-postgresql15';
}

async function createSnapshot(core: Core, input: Input): Promise<unknown> {
  const id = str(input, 'DBClusterSnapshotIdentifier');
  const cluster = mustCluster(core, str(input, 'DBClusterIdentifier'));
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBClusterSnapshotIdentifier is required');
  if (core.reg.state.snapshots[id]) throw awsFault('rds', 'DBClusterSnapshotAlreadyExistsFault', `Cannot create the cluster snapshot because one with the identifier ${id} already exists.`);
  requireAvailable(core, cluster);
  const snapshot = await snapshotData(core, cluster, id, tagsOf(input));
  core.reg.state.snapshots[id] = snapshot;
  core.reg.event('db-cluster-snapshot', id, 'Creating manual cluster snapshot', ['backup'], snapshot.createdAt);
  core.reg.event('db-cluster-snapshot', id, 'Manual cluster snapshot created', ['backup'], snapshot.readyAt);
  core.reg.save();
  return { DBClusterSnapshot: snapshotShape(core, snapshot) };
}

async function restore(core: Core, input: Input): Promise<unknown> {
  const id = str(input, 'DBClusterIdentifier');
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBClusterIdentifier is required');
  const snapshot = mustSnapshot(core, str(input, 'SnapshotIdentifier'));
  if (core.reg.state.clusters[id]) throw awsFault('rds', 'DBClusterAlreadyExistsFault', `DB Cluster ${id} already exists`);
  const engine = str(input, 'Engine');
  if (engine !== undefined && engine !== snapshot.engine) throw awsFault('rds', 'InvalidParameterCombination', `Engine ${engine} does not match the snapshot's engine ${snapshot.engine}`);
  if (snapshotProgress(core, snapshot).status !== 'available') throw awsFault('rds', 'InvalidDBClusterSnapshotStateFault', `Snapshot ${snapshot.identifier} is not available.`);
  const kmsKeyArn = restoreKeyArn(core, str(input, 'KmsKeyId'), snapshot);
  const paramGroup = str(input, 'DBClusterParameterGroupName');
  if (paramGroup !== undefined && !core.reg.state.parameterGroups[paramGroup]) throw awsFault('rds', 'DBClusterParameterGroupNotFoundFault', `DBClusterParameterGroup not found: ${paramGroup}`, 404);
  const startedAt = core.now();
  const backend = await restoreData(core, snapshot, id, 'aurora');
  const defaults = defaultSettings(snapshot);
  const bool = (key: string, def: boolean): boolean => (typeof input[key] === 'boolean' ? input[key] : def);
  const settings: ClusterSettings = {
    ...defaults,
    parameterGroup: paramGroup ?? defaults.parameterGroup,
    subnetGroup: str(input, 'DBSubnetGroupName') ?? defaults.subnetGroup,
    securityGroupIds: Array.isArray(input.VpcSecurityGroupIds) ? (input.VpcSecurityGroupIds as string[]) : defaults.securityGroupIds,
    backupRetentionPeriod: typeof input.BackupRetentionPeriod === 'number' ? input.BackupRetentionPeriod : defaults.backupRetentionPeriod,
    preferredBackupWindow: str(input, 'PreferredBackupWindow') ?? defaults.preferredBackupWindow,
    deletionProtection: bool('DeletionProtection', defaults.deletionProtection),
    copyTagsToSnapshot: bool('CopyTagsToSnapshot', defaults.copyTagsToSnapshot),
    iamDatabaseAuthentication: bool('EnableIAMDatabaseAuthentication', defaults.iamDatabaseAuthentication),
    cloudwatchLogsExports: Array.isArray(input.EnableCloudwatchLogsExports) ? (input.EnableCloudwatchLogsExports as string[]) : defaults.cloudwatchLogsExports,
    availabilityZones: Array.isArray(input.AvailabilityZones) ? (input.AvailabilityZones as string[]) : defaults.availabilityZones,
  };
  const restoreInput = Object.fromEntries(Object.entries(input).filter(([k]) => !/password/i.test(k)));
  const cluster: ClusterRecord = {
    identifier: id, resourceId: `cluster-${resourceId()}`, engine: snapshot.engine, engineVersion: str(input, 'EngineVersion') ?? snapshot.engineVersion,
    backend, kmsKeyArn, createdAt: startedAt, readyAt: Math.max(core.now(), startedAt + ms(core.delays.restoreSeconds)), restoredFrom: snapshot.identifier,
    restoreInput, settings, tags: tagsOf(input),
  };
  core.reg.state.clusters[id] = cluster;
  await ensureProxy(core, id);
  core.proxies.point(id, { host: backend.host, port: backend.port });
  core.reg.event('db-cluster', id, `DB cluster created from snapshot ${snapshot.identifier}`, ['creation'], startedAt);
  core.reg.save();
  return { DBCluster: clusterShape(core, cluster) };
}

async function createInstance(core: Core, input: Input): Promise<unknown> {
  const id = str(input, 'DBInstanceIdentifier');
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBInstanceIdentifier is required');
  if (core.reg.state.instances[id]) throw awsFault('rds', 'DBInstanceAlreadyExistsFault', `DB instance already exists`);
  const cluster = mustCluster(core, str(input, 'DBClusterIdentifier'));
  const instance: InstanceRecord = {
    identifier: id, resourceId: `db-${resourceId()}`, clusterIdentifier: cluster.identifier, instanceClass: str(input, 'DBInstanceClass') ?? 'db.r6g.large',
    engine: str(input, 'Engine') ?? cluster.engine, createdAt: core.now(), readyAt: core.now() + ms(core.delays.availableSeconds),
    parameterGroup: str(input, 'DBParameterGroupName') ?? defaultParameterGroup(cluster.engine), promotionTier: typeof input.PromotionTier === 'number' ? input.PromotionTier : 1,
    availabilityZone: str(input, 'AvailabilityZone') ?? `${core.region}a`, tags: tagsOf(input), extra: instanceExtra(core, input, cluster),
  };
  core.reg.state.instances[id] = instance;
  core.reg.event('db-instance', id, 'DB instance created', ['creation']);
  const snapshot = cluster.restoredFrom !== undefined ? core.reg.state.snapshots[cluster.restoredFrom] : undefined;
  const isFirstWriter = !Object.values(core.reg.state.instances).some((i) => i.identifier !== id && i.clusterIdentifier === cluster.identifier);
  if (snapshot?.binlog && isFirstWriter) {
    // Aurora MySQL's first writer of a restored volume recovers it and reports where the binlog stood; the
    // events are dated when the writer becomes available (DescribeEvents shows nothing from the future).
    const ready = Math.max(instance.readyAt, cluster.readyAt);
    core.reg.event('db-instance', id, 'DB instance restarted', ['availability'], ready - 2);
    core.reg.event('db-instance', id, `Binlog position from crash recovery is ${snapshot.binlog.file} ${snapshot.binlog.pos}`, ['recovery'], ready - 1);
    core.reg.event('db-instance', id, 'Recovery of the DB instance is complete.', ['recovery'], ready);
    core.reg.event('db-instance', id, 'DB instance is available', ['availability'], ready);
  }
  core.reg.save();
  await routeTopology(core);
  return { DBInstance: instanceShape(core, instance) };
}

/** Monitoring, Performance Insights and the rest a CreateDBInstance request set (PI data on the cluster's key unless named). */
function instanceExtra(core: Core, input: Input, cluster: ClusterRecord): InstanceRecord['extra'] {
  const num = (k: string): number | undefined => (typeof input[k] === 'number' ? input[k] : undefined);
  const bool = (k: string): boolean | undefined => (typeof input[k] === 'boolean' ? input[k] : undefined);
  const pi = bool('EnablePerformanceInsights');
  const piKey = str(input, 'PerformanceInsightsKMSKeyId');
  const found = piKey !== undefined ? findKey(core.reg.state, piKey, core.region) : undefined;
  const extra: NonNullable<InstanceRecord['extra']> = {
    ...(num('MonitoringInterval') !== undefined ? { monitoringInterval: num('MonitoringInterval') } : {}),
    ...(str(input, 'MonitoringRoleArn') ? { monitoringRoleArn: str(input, 'MonitoringRoleArn') } : {}),
    ...(pi !== undefined ? { performanceInsights: pi } : {}),
    ...(pi ? { performanceInsightsKmsKeyArn: found?.arn ?? piKey ?? cluster.kmsKeyArn } : {}),
    ...(num('PerformanceInsightsRetentionPeriod') !== undefined ? { performanceInsightsRetentionPeriod: num('PerformanceInsightsRetentionPeriod') } : {}),
    ...(bool('AutoMinorVersionUpgrade') !== undefined ? { autoMinorVersionUpgrade: bool('AutoMinorVersionUpgrade') } : {}),
    ...(bool('PubliclyAccessible') !== undefined ? { publiclyAccessible: bool('PubliclyAccessible') } : {}),
  };
  return extra;
}

async function modifyCluster(core: Core, input: Input): Promise<unknown> {
  const cluster = mustCluster(core, str(input, 'DBClusterIdentifier'));
  requireAvailable(core, cluster);
  const newId = str(input, 'NewDBClusterIdentifier');
  const s = cluster.settings;
  if (typeof input.BackupRetentionPeriod === 'number') s.backupRetentionPeriod = input.BackupRetentionPeriod;
  if (typeof input.DeletionProtection === 'boolean') s.deletionProtection = input.DeletionProtection;
  if (typeof input.CopyTagsToSnapshot === 'boolean') s.copyTagsToSnapshot = input.CopyTagsToSnapshot;
  s.parameterGroup = str(input, 'DBClusterParameterGroupName') ?? s.parameterGroup;
  s.preferredBackupWindow = str(input, 'PreferredBackupWindow') ?? s.preferredBackupWindow;
  s.preferredMaintenanceWindow = str(input, 'PreferredMaintenanceWindow') ?? s.preferredMaintenanceWindow;
  if (newId !== undefined && newId !== cluster.identifier) await renameRecord(core, cluster, newId);
  core.reg.save();
  await rdsTick(core);
  await routeTopology(core);
  return { DBCluster: clusterShape(core, cluster) };
}

async function deleteCluster(core: Core, input: Input): Promise<unknown> {
  const cluster = mustCluster(core, str(input, 'DBClusterIdentifier'));
  if (cluster.settings.deletionProtection) throw awsFault('rds', 'InvalidParameterCombination', 'Cannot delete protected Cluster, please disable deletion protection and try again.');
  if (Object.values(core.reg.state.instances).some((i) => i.clusterIdentifier === cluster.identifier)) {
    throw awsFault('rds', 'InvalidDBClusterStateFault', 'Cluster cannot be deleted, it still contains DB instances in non-deleting state.');
  }
  if (input.SkipFinalSnapshot !== true && str(input, 'FinalDBSnapshotIdentifier') === undefined) {
    throw awsFault('rds', 'InvalidParameterCombination', 'FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.');
  }
  if (cluster.restoredFrom === undefined) throw awsFault('rds', 'InvalidParameterCombination', `The rehearsal cloud never deletes the source cluster ${cluster.identifier}.`);
  const shape = { ...clusterShape(core, cluster), Status: 'deleting' };
  dropClusterEndpoints(core, cluster);
  await dropRecord(core, cluster);
  core.reg.event('db-cluster', cluster.identifier, 'DB cluster deleted', ['deletion']);
  core.reg.save();
  return { DBCluster: shape };
}

async function deleteSnapshot(core: Core, input: Input): Promise<unknown> {
  const snapshot = mustSnapshot(core, str(input, 'DBClusterSnapshotIdentifier'));
  const shape = { ...snapshotShape(core, snapshot), Status: 'deleted' };
  await deleteSnapshotData(core, snapshot, 'InvalidDBClusterSnapshotStateFault');
  return { DBClusterSnapshot: shape };
}

function listTags(core: Core, input: Input): unknown {
  const name = str(input, 'ResourceName') ?? '';
  const st = core.reg.state;
  const owner =
    Object.values(st.clusters).find((c) => arn.rds(core, c.instance ? 'db' : 'cluster', c.identifier) === name) ??
    Object.values(st.snapshots).find((s) => s.dbSnapshot && arn.rds(core, 'snapshot', s.identifier) === name) ??
    Object.values(st.instances).find((i) => arn.rds(core, 'db', i.identifier) === name) ??
    Object.values(st.snapshots).find((s) => arn.rds(core, 'cluster-snapshot', s.identifier) === name);
  if (!owner) {
    const kind = name.split(':')[5];
    if (kind === 'db') throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${name} not found.`, 404);
    if (kind === 'snapshot') throw awsFault('rds', 'DBSnapshotNotFoundFault', `DBSnapshot ${name} not found.`, 404);
    if (kind === 'cluster-snapshot') throw awsFault('rds', 'DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${name} not found.`, 404);
    throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${name} not found.`, 404);
  }
  return { TagList: owner.tags };
}

export function describeParameters(core: Core, input: Input): unknown {
  const name = str(input, 'DBClusterParameterGroupName') ?? '';
  const group = core.reg.state.parameterGroups[name];
  if (!group) throw awsFault('rds', 'DBParameterGroupNotFoundFault', `DBClusterParameterGroup not found: ${name}`, 404);
  const source = str(input, 'Source');
  const params = group.parameters
    .filter((p) => source === undefined || p.source === source)
    .map((p) => ({ ParameterName: p.name, ParameterValue: p.value, Source: p.source, ApplyType: p.applyType, DataType: 'string', IsModifiable: true, ApplyMethod: 'pending-reboot', SupportedEngineModes: ['provisioned'] }));
  const { page, Marker } = paginate(params, input);
  return { Parameters: page, ...(Marker !== undefined ? { Marker } : {}) };
}

function describeEvents(core: Core, input: Input): unknown {
  const id = str(input, 'SourceIdentifier');
  const type = str(input, 'SourceType');
  if (id !== undefined && type === undefined) throw awsFault('rds', 'InvalidParameterCombination', 'If SourceIdentifier is supplied, SourceType must also be provided.');
  const max = typeof input.MaxRecords === 'number' ? input.MaxRecords : PAGE;
  if (max < 20 || max > 100) throw awsFault('rds', 'InvalidParameterValue', `Invalid value ${max} for MaxRecords. Must be between 20 and 100.`);
  const time = (key: string): number | undefined => (input[key] instanceof Date ? (input[key]).getTime() : typeof input[key] === 'string' ? Date.parse(input[key]) : undefined);
  const end = time('EndTime') ?? core.now();
  const duration = typeof input.Duration === 'number' ? input.Duration : EVENTS_DEFAULT_MINUTES;
  const start = time('StartTime') ?? end - duration * 60_000;
  const categories = Array.isArray(input.EventCategories) ? (input.EventCategories as string[]) : undefined;
  const events = core.reg.state.events
    .filter((e) => (id === undefined || e.sourceId === id) && (type === undefined || e.sourceType === type) && e.at >= start && e.at <= end && e.at <= core.now())
    .filter((e) => categories === undefined || e.categories.some((c) => categories.includes(c)))
    .sort((a, b) => a.at - b.at)
    .map((e) => ({ SourceIdentifier: e.sourceId, SourceType: e.sourceType, SourceArn: arn.rds(core, e.sourceType === 'db-instance' ? 'db' : e.sourceType === 'db-cluster' ? 'cluster' : e.sourceType === 'db-snapshot' ? 'snapshot' : 'cluster-snapshot', e.sourceId), Message: e.message, EventCategories: e.categories, Date: new Date(e.at) }));
  const { page, Marker } = paginate(events, { ...input, MaxRecords: max });
  return { Events: page, ...(Marker !== undefined ? { Marker } : {}) };
}

/** The fake RDS `send`. */
export function rdsSend(core: Core): (name: string, input: Input) => Promise<unknown> {
  return async (name, input) => {
    await rdsTick(core);
    await memberTick(core);
    await routeTopology(core);
    const st = core.reg.state;
    switch (name) {
      case 'DescribeDBClusters': {
        const id = str(input, 'DBClusterIdentifier');
        const list = id !== undefined ? [mustCluster(core, id)] : Object.values(st.clusters).filter((c) => !c.instance && inRegion(core, c));
        const { page, Marker } = paginate(list.map((c) => clusterShape(core, c)), input);
        return { DBClusters: page, ...(Marker !== undefined ? { Marker } : {}) };
      }
      case 'DescribeDBInstances': {
        const id = str(input, 'DBInstanceIdentifier');
        const single = findDbInstance(core, id);
        // Aurora members of a cluster in another Region (a global database secondary's) are answered there.
        const here = (i: InstanceRecord): boolean => { const c = st.clusters[i.clusterIdentifier]; return c === undefined || inRegion(core, c); };
        const member = id !== undefined ? st.instances[id] : undefined;
        if (id !== undefined && !(member && here(member)) && !single) throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${id} not found.`, 404);
        const clusterFilter = (Array.isArray(input.Filters) ? (input.Filters as { Name: string; Values: string[] }[]) : []).find((f) => f.Name === 'db-cluster-id')?.Values;
        const list = Object.values(st.instances).filter((i) => here(i) && (id === undefined || i.identifier === id) && (clusterFilter === undefined || clusterFilter.includes(i.clusterIdentifier)));
        const singles = clusterFilter !== undefined ? [] : single ? [single] : id === undefined ? Object.values(st.clusters).filter((c) => c.instance && inRegion(core, c)) : [];
        const { page, Marker } = paginate([...list.map((i) => instanceShape(core, i)), ...singles.map((c) => dbInstanceShape(core, c))], input);
        return { DBInstances: page, ...(Marker !== undefined ? { Marker } : {}) };
      }
      case 'DescribeDBClusterParameters':
        return describeParameters(core, input);
      case 'DescribeDBParameters':
        return describeParameters(core, { ...input, DBClusterParameterGroupName: str(input, 'DBParameterGroupName') });
      case 'DescribeDBClusterParameterGroups': {
        const id = str(input, 'DBClusterParameterGroupName');
        const groups = Object.values(st.parameterGroups).filter((g) => id === undefined || g.name === id);
        if (id !== undefined && groups.length === 0) throw awsFault('rds', 'DBParameterGroupNotFoundFault', `DBClusterParameterGroup not found: ${id}`, 404);
        return { DBClusterParameterGroups: groups.map((g) => ({ DBClusterParameterGroupName: g.name, DBParameterGroupFamily: g.family, Description: g.description, DBClusterParameterGroupArn: arn.rds(core, 'cluster-pg', g.name) })) };
      }
      case 'CreateDBClusterSnapshot':
        return createSnapshot(core, input);
      case 'DescribeDBClusterSnapshots': {
        const id = str(input, 'DBClusterSnapshotIdentifier');
        const clusterId = str(input, 'DBClusterIdentifier');
        const list = id !== undefined ? [mustSnapshot(core, id)] : Object.values(st.snapshots).filter((s) => !s.internal && (clusterId === undefined || s.clusterIdentifier === clusterId));
        const { page, Marker } = paginate(list.map((s) => snapshotShape(core, s)), input);
        return { DBClusterSnapshots: page, ...(Marker !== undefined ? { Marker } : {}) };
      }
      case 'DeleteDBClusterSnapshot':
        return deleteSnapshot(core, input);
      case 'RestoreDBClusterFromSnapshot':
        return restore(core, input);
      case 'RestoreDBClusterToPointInTime':
        return restoreToPointInTime(core, input, restore);
      case 'CreateDBInstance':
        return createInstance(core, input);
      case 'ModifyDBCluster':
        return modifyCluster(core, input);
      case 'ListTagsForResource':
        return listTags(core, input);
      case 'CreateDBInstanceReadReplica':
      case 'CreateDBSnapshot':
      case 'CopyDBSnapshot':
      case 'DescribeDBSnapshots':
      case 'DeleteDBSnapshot':
      case 'RestoreDBInstanceFromDBSnapshot':
      case 'ModifyDBInstance':
        // An Aurora member's rename (cutover.renameInstances).
        if (name === 'ModifyDBInstance' && st.instances[str(input, 'DBInstanceIdentifier')?.toLowerCase() ?? '']) return modifyMember(core, input);
        // DB snapshots and instance restores belong to RDS DB instance worlds; an Aurora world does not model them.
        if (!isInstanceWorld(core)) throw new UnsupportedCommandError('rds', name);
        return instanceSend(core, name, input);
      case 'DeleteDBInstance': {
        if (findDbInstance(core, str(input, 'DBInstanceIdentifier'))) return instanceSend(core, name, input);
        const id = str(input, 'DBInstanceIdentifier') ?? '';
        const instance = st.instances[id];
        const of = instance ? st.clusters[instance.clusterIdentifier] : undefined;
        if (!instance || (of !== undefined && !inRegion(core, of))) throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${id} not found.`, 404);
        const shape = { ...instanceShape(core, instance), DBInstanceStatus: 'deleting' };
        delete st.instances[id];
        core.reg.event('db-instance', id, 'DB instance deleted', ['deletion']);
        core.reg.save();
        return { DBInstance: shape };
      }
      case 'DeleteDBCluster':
        return deleteCluster(core, input);
      case 'DescribeEvents':
        return describeEvents(core, input);
      default:
        return topologySend(core, name, input) ?? blueGreenSend(core, name, input) ?? Promise.reject(new UnsupportedCommandError('rds', name));
    }
  };
}

