// Fake RDS for single DB instances (RDS for PostgreSQL, MySQL, MariaDB). An instance is kept as a cluster record
// with `instance` settings, so snapshots (real dumps), restores into the other server, renames that re-point the
// endpoint proxies, DMS and metrics work exactly as for Aurora; only the API shapes differ here.
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Core, Input } from '../core.js';
import { arn, ensureProxy, isMysql, ms, REHEARSAL_ADMIN, serverBackend, str } from '../core.js';
import { awsFault } from './faults.js';
import { findKey } from './kms.js';
import { myConfig, replicaStartProblem, replicationLogin, restoreMyDump, rows, slaveStatus, startReplica, takeMyDump, withMy } from '../engines/my-ops.js';
import {
  clusterStatus, deleteSnapshotData, dropRecord, paginate, rdsTick, renameRecord, requireAvailable, restoreData, restoreKeyArn, snapshotData, snapshotProgress, tagsOf,
} from './rds-records.js';
import type { Backend, ClusterRecord, ClusterSettings, DbInstanceSettings, SnapshotRecord } from '../registry.js';
import { binlogRecord, resourceId } from '../registry.js';
import type { BinlogPosition } from '../../db/types.js';
import { formatBinlogPosition } from '../../db/position.js';

/** The DB instance record an identifier (or ARN) names, if any. */
export function findDbInstance(core: Core, id: string | undefined): ClusterRecord | undefined {
  if (id === undefined) return undefined;
  const c = core.reg.state.clusters[id] ?? Object.values(core.reg.state.clusters).find((x) => arn.rds(core, 'db', x.identifier) === id);
  return c?.instance && inRegion(core, c) ? c : undefined;
}

/** Whether a record lives in the Region `core` answers for (records without a region are the home Region's). */
export function inRegion(core: Core, c: ClusterRecord): boolean {
  return (c.region ?? core.reg.state.region) === core.region;
}

/** The ARN of an instance record in its own Region. */
function instanceArn(core: Core, c: ClusterRecord): string {
  return `arn:aws:rds:${c.region ?? core.reg.state.region}:${core.account}:db:${c.identifier}`;
}

/** A DB instance named by an ARN of any rehearsal Region (a cross-Region replica's SourceDBInstanceIdentifier). */
function findInstanceByArn(core: Core, ref: string): ClusterRecord | undefined {
  return Object.values(core.reg.state.clusters).find((c) => c.instance && instanceArn(core, c) === ref);
}

function mustDbInstance(core: Core, id: string | undefined): ClusterRecord & { instance: DbInstanceSettings } {
  const c = findDbInstance(core, id);
  if (!c?.instance) throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${id ?? '(none)'} not found.`, 404);
  return c as ClusterRecord & { instance: DbInstanceSettings };
}

function mustDbSnapshot(core: Core, id: string | undefined): SnapshotRecord & { dbSnapshot: NonNullable<SnapshotRecord['dbSnapshot']> } {
  const s = id !== undefined ? core.reg.state.snapshots[id] ?? Object.values(core.reg.state.snapshots).find((x) => arn.rds(core, 'snapshot', x.identifier) === id) : undefined;
  if (!s?.dbSnapshot) throw awsFault('rds', 'DBSnapshotNotFoundFault', `DBSnapshot ${id ?? '(none)'} not found.`, 404);
  return s as SnapshotRecord & { dbSnapshot: NonNullable<SnapshotRecord['dbSnapshot']> };
}

/** DescribeDBInstances shape of an instance record. */
export function dbInstanceShape(core: Core, c: ClusterRecord): Record<string, unknown> {
  const i = c.instance as DbInstanceSettings;
  const s = c.settings;
  const port = core.reg.state.proxyPorts[c.identifier] ?? 0;
  return {
    DBInstanceIdentifier: c.identifier, DBInstanceArn: instanceArn(core, c), DbiResourceId: i.dbiResourceId, DBInstanceClass: i.instanceClass,
    Engine: c.engine, EngineVersion: c.engineVersion, DBInstanceStatus: clusterStatus(core, c), MasterUsername: s.masterUsername, DBName: s.databaseName,
    // The endpoint is the instance's proxy on the loopback address (see waitInstanceRenamed: no per-name DNS here).
    Endpoint: { Address: '127.0.0.1', Port: port }, DbInstancePort: port, InstanceCreateTime: new Date(c.createdAt),
    AllocatedStorage: i.allocatedStorage, StorageType: i.storageType, ...(i.iops !== undefined ? { Iops: i.iops } : {}),
    ...(i.storageThroughput !== undefined ? { StorageThroughput: i.storageThroughput } : {}), ...(i.maxAllocatedStorage !== undefined ? { MaxAllocatedStorage: i.maxAllocatedStorage } : {}),
    StorageEncrypted: true, KmsKeyId: c.kmsKeyArn, MultiAZ: i.multiAz, AvailabilityZone: i.availabilityZone, PubliclyAccessible: i.publiclyAccessible,
    DBParameterGroups: [{ DBParameterGroupName: i.parameterGroup, ParameterApplyStatus: 'in-sync' }], OptionGroupMemberships: [{ OptionGroupName: i.optionGroup, Status: 'in-sync' }],
    DBSubnetGroup: { DBSubnetGroupName: s.subnetGroup, VpcId: 'vpc-0rehearsal', SubnetGroupStatus: 'Complete' },
    VpcSecurityGroups: s.securityGroupIds.map((id) => ({ VpcSecurityGroupId: id, Status: 'active' })),
    BackupRetentionPeriod: s.backupRetentionPeriod, PreferredBackupWindow: s.preferredBackupWindow, PreferredMaintenanceWindow: s.preferredMaintenanceWindow,
    DeletionProtection: s.deletionProtection, CopyTagsToSnapshot: s.copyTagsToSnapshot, IAMDatabaseAuthenticationEnabled: s.iamDatabaseAuthentication,
    EnabledCloudwatchLogsExports: s.cloudwatchLogsExports, MonitoringInterval: i.monitoringInterval, ...(i.monitoringRoleArn !== undefined ? { MonitoringRoleArn: i.monitoringRoleArn } : {}),
    PerformanceInsightsEnabled: i.performanceInsights, ...(i.performanceInsights && i.performanceInsightsKmsKeyArn !== undefined ? { PerformanceInsightsKMSKeyId: i.performanceInsightsKmsKeyArn } : {}), AutoMinorVersionUpgrade: i.autoMinorVersionUpgrade, LicenseModel: c.engine === 'postgres' ? 'postgresql-license' : 'general-public-license',
    ...(i.replicaOf !== undefined ? { ReadReplicaSourceDBInstanceIdentifier: replicaSource(core, c), StatusInfos: [{ StatusType: 'read replication', Normal: true, Status: 'replicating' }] } : {}),
    ReadReplicaDBInstanceIdentifiers: replicasOf(core, c),
    PendingModifiedValues: {}, TagList: c.tags,
  };
}

/** The replicas of a primary, as RDS lists them: same-Region ones by identifier, others by ARN. */
function replicasOf(core: Core, primary: ClusterRecord): string[] {
  return Object.values(core.reg.state.clusters)
    .filter((x) => x.instance !== undefined && (x.instance.replicaOfResourceId !== undefined ? x.instance.replicaOfResourceId === primary.resourceId : x.instance.replicaOf === primary.identifier))
    .map((x) => ((x.region ?? core.reg.state.region) === (primary.region ?? core.reg.state.region) ? x.identifier : instanceArn(core, x)));
}

/** A replica's primary as RDS names it (its current identifier, after renames; an ARN from another Region). */
function replicaSource(core: Core, replica: ClusterRecord): string {
  const i = replica.instance as DbInstanceSettings;
  const primary = Object.values(core.reg.state.clusters).find((c) => c.resourceId === i.replicaOfResourceId);
  if (!primary) return i.replicaOf ?? '';
  return (primary.region ?? core.reg.state.region) === (replica.region ?? core.reg.state.region) ? primary.identifier : instanceArn(core, primary);
}

function dbSnapshotShape(core: Core, s: SnapshotRecord): Record<string, unknown> {
  const { status, percent } = snapshotProgress(core, s);
  const i = s.dbSnapshot?.instance;
  return {
    DBSnapshotIdentifier: s.identifier, DBInstanceIdentifier: s.clusterIdentifier, DBSnapshotArn: arn.rds(core, 'snapshot', s.identifier),
    SnapshotCreateTime: new Date(s.createdAt), Engine: s.engine, EngineVersion: s.engineVersion, Status: status, PercentProgress: percent,
    Port: s.binlog ? 3306 : 5432, VpcId: 'vpc-0rehearsal', MasterUsername: s.clusterSettings.masterUsername, SnapshotType: 'manual', Encrypted: true,
    KmsKeyId: s.kmsKeyArn, AllocatedStorage: i?.allocatedStorage ?? 20, StorageType: i?.storageType ?? 'gp3', AvailabilityZone: i?.availabilityZone,
    OptionGroupName: i?.optionGroup, IAMDatabaseAuthenticationEnabled: s.clusterSettings.iamDatabaseAuthentication, TagList: s.tags,
    ...(s.dbSnapshot?.copiedFrom !== undefined ? { SourceDBSnapshotIdentifier: arn.rds(core, 'snapshot', s.dbSnapshot.copiedFrom), SourceRegion: core.region } : {}),
  };
}

async function createDbSnapshot(core: Core, input: Input): Promise<unknown> {
  const id = str(input, 'DBSnapshotIdentifier');
  const inst = mustDbInstance(core, str(input, 'DBInstanceIdentifier'));
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBSnapshotIdentifier is required');
  if (core.reg.state.snapshots[id]) throw awsFault('rds', 'DBSnapshotAlreadyExistsFault', `Cannot create the snapshot because one with the identifier ${id} already exists.`);
  requireAvailable(core, inst);
  // A MySQL read replica's snapshot continues its primary at the source coordinates the replica had executed.
  const replica = inst.instance.replicaOf !== undefined ? await stoppedReplicaPosition(core, inst) : undefined;
  const data = await snapshotData(core, inst, id, tagsOf(input));
  if (replica && formatBinlogPosition(await stoppedReplicaPosition(core, inst).then((r) => r.at)) !== formatBinlogPosition(replica.at)) {
    throw awsFault('rds', 'InvalidDBInstanceStateFault', `Replica ${inst.identifier} applied changes during the snapshot; stop replication first (CALL mysql.rds_stop_replication).`);
  }
  const snapshot: SnapshotRecord = {
    ...data, dbSnapshot: { instance: { ...inst.instance } },
    ...(replica ? { sourceBackend: replica.primary, binlog: binlogRecord(replica.at), lsn: formatBinlogPosition(replica.at) } : {}),
  };
  core.reg.state.snapshots[id] = snapshot;
  core.reg.event('db-snapshot', id, 'Creating manual snapshot', ['backup'], snapshot.createdAt);
  core.reg.event('db-snapshot', id, 'Manual snapshot created', ['backup'], snapshot.readyAt);
  core.reg.save();
  return { DBSnapshot: dbSnapshotShape(core, snapshot) };
}

/** The primary's backend and the source coordinates a stopped replica executed (Relay_Master_Log_File / Exec_Master_Log_Pos). */
async function stoppedReplicaPosition(core: Core, inst: ClusterRecord): Promise<{ primary: Backend; at: BinlogPosition }> {
  const all = Object.values(core.reg.state.clusters);
  const primary = all.find((c) => c.resourceId === inst.instance?.replicaOfResourceId) ?? all.find((c) => c.identifier === inst.instance?.replicaOf);
  if (!primary) throw awsFault('rds', 'InvalidDBInstanceStateFault', `The primary ${inst.instance?.replicaOf ?? '?'} of replica ${inst.identifier} is gone.`);
  const st = await withMy(myConfig(inst.backend, ''), slaveStatus);
  if (!st || st.sql === 'Yes') {
    throw awsFault('rds', 'InvalidDBInstanceStateFault', `The rehearsal cloud snapshots replica ${inst.identifier} only with replication stopped (CALL mysql.rds_stop_replication), so the snapshot has an exact source position.`);
  }
  return { primary: primary.backend, at: st.exec };
}

/** The server name (under the state directory) of a read replica, by its stable DbiResourceId. */
export function replicaServerName(dbiResourceId: string): string {
  return `my-replica-${dbiResourceId.toLowerCase()}`;
}

/** server-id of read replica servers (the source is 1, the target 2). */
export const REPLICA_SERVER_ID = 3;

/**
 * Why the rehearsal's servers cannot replicate from an adopted source (undefined: they can): a binary log that is
 * off or not ROW, or a server_id one of them has (a MariaDB replica refuses a source with its own server_id).
 */
async function adoptedSourceProblem(core: Core, source: Backend): Promise<string | undefined> {
  const where = `The adopted source ${source.host}:${source.port} (rehearsal.source.url)`;
  const [v] = await withMy(myConfig(source, ''), (c) => rows<{ logBin: number; format: string; id: number }>(c, 'SELECT @@GLOBAL.log_bin AS logBin, @@GLOBAL.binlog_format AS format, @@GLOBAL.server_id AS id'));
  if (!v || Number(v.logBin) !== 1) return `${where} has no binary log (log_bin is OFF): a read replica follows it, as DMS does. Restart it with --log-bin --binlog-format=ROW.`;
  if (v.format.toUpperCase() !== 'ROW') return `${where} has binlog_format ${v.format}; the rehearsal, like DMS, needs ROW: SET GLOBAL binlog_format = 'ROW' (and --binlog-format=ROW in its configuration).`;
  const [target] = await withMy(myConfig(serverBackend(core, 'target', ''), ''), (c) => rows<{ id: number }>(c, 'SELECT @@GLOBAL.server_id AS id'));
  const taken = new Map<number, string>([
    [REPLICA_SERVER_ID, "the rehearsal's read replica servers"], [Number(target?.id ?? 2), "the rehearsal's target server (the restore, which the DMS task replicates into)"],
  ]);
  const clash = taken.get(Number(v.id));
  if (clash === undefined) return undefined;
  return `${where} has server_id ${v.id}, the same as ${clash}: a MariaDB replica refuses a source with its own server_id. Give the adopted server another one: SET GLOBAL server_id = N (N not ${[...taken.keys()].join(' or ')}).`;
}

/**
 * CreateDBInstanceReadReplica (MySQL/MariaDB): a real MariaDB server loaded with a dump of the primary and
 * replicating from the dump's binlog position; it offers mysql.rds_stop_replication like RDS. An adopted primary
 * (rehearsal.source.url) is replicated as its own user, the rehearsal's servers as the replication account.
 */
async function createReadReplica(core: Core, input: Input): Promise<unknown> {
  const id = str(input, 'DBInstanceIdentifier');
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBInstanceIdentifier is required');
  const sourceRef = str(input, 'SourceDBInstanceIdentifier');
  const byArn = sourceRef !== undefined && sourceRef.startsWith('arn:') ? findInstanceByArn(core, sourceRef) : undefined;
  const primary = (byArn ?? mustDbInstance(core, sourceRef)) as ClusterRecord & { instance: DbInstanceSettings };
  if (core.reg.state.clusters[id]) throw awsFault('rds', 'DBInstanceAlreadyExistsFault', 'DB instance already exists');
  requireAvailable(core, primary);
  const crossRegion = !inRegion(core, primary);
  const kmsKeyArn = replicaKeyArn(core, input, primary, crossRegion);
  if (crossRegion || !isMysql(core)) return createRouteReplica(core, input, id, primary, kmsKeyArn);
  if (primary.backend.server === 'external') {
    const problem = await adoptedSourceProblem(core, primary.backend);
    if (problem !== undefined) throw awsFault('rds', 'InvalidDBInstanceStateFault', problem);
  }
  const dbi = `db-${resourceId()}`;
  const server = await core.startExtraServer(replicaServerName(dbi), REPLICA_SERVER_ID);
  const database = primary.backend.database;
  const backend: Backend = { server: 'replica', host: server.host, port: server.port, database, user: REHEARSAL_ADMIN };
  const dumpFile = join(core.snapshotDir, `${id}.replica-seed.dump`);
  const rolesFile = join(core.snapshotDir, `${id}.replica-seed.roles.json`);
  core.log(`rehearsal: read replica ${id} of ${primary.identifier}: loading a dump of ${database} and replicating from its position`);
  try {
    const from = await takeMyDump(primary.backend, dumpFile, rolesFile);
    await restoreMyDump(backend, dumpFile, rolesFile);
    await startReplica({ target: backend, sourceHost: primary.backend.host, sourcePort: primary.backend.port, ...replicationLogin(primary.backend), from, doTables: [`${database}.%`], ignoreTables: [] });
    const problem = await replicaStartProblem(backend);
    if (problem !== undefined) throw awsFault('rds', 'InvalidDBInstanceStateFault', `Read replica ${id} could not replicate from ${primary.identifier}: ${problem}`);
  } catch (error) {
    // No instance came of it, so its server stops (a retry starts another under a new DbiResourceId).
    await server.stop();
    core.extraServers.delete(replicaServerName(dbi));
    throw error;
  } finally {
    rmSync(dumpFile, { force: true });
    rmSync(rolesFile, { force: true });
  }
  await withMy(myConfig(backend, ''), async (c) => {
    await c.query('DROP PROCEDURE IF EXISTS mysql.rds_stop_replication');
    await c.query(`CREATE DEFINER = '${REHEARSAL_ADMIN}'@'%' PROCEDURE mysql.rds_stop_replication() SQL SECURITY DEFINER STOP SLAVE`);
    await c.query('DROP PROCEDURE IF EXISTS mysql.rds_start_replication');
    await c.query(`CREATE DEFINER = '${REHEARSAL_ADMIN}'@'%' PROCEDURE mysql.rds_start_replication() SQL SECURITY DEFINER START SLAVE`);
  });
  const now = core.now();
  const group = str(input, 'DBParameterGroupName');
  const record: ClusterRecord = {
    identifier: id, resourceId: dbi, engine: primary.engine, engineVersion: primary.engineVersion, backend, kmsKeyArn: primary.kmsKeyArn, createdAt: now,
    readyAt: now + ms(core.delays.restoreSeconds), settings: { ...primary.settings, parameterGroup: group ?? primary.settings.parameterGroup, backupRetentionPeriod: 0, deletionProtection: false },
    tags: tagsOf(input), instance: replicaSettings(core, input, primary, dbi),
  };
  core.reg.state.clusters[id] = record;
  await ensureProxy(core, id);
  core.proxies.point(id, { host: backend.host, port: backend.port });
  core.reg.event('db-instance', id, `Read replica of ${primary.identifier} created`, ['creation'], now);
  core.reg.save();
  return { DBInstance: dbInstanceShape(core, record) };
}

/**
 * The key of a new read replica, checked as RDS does. Same Region: the primary's (a KmsKeyId naming another key is
 * refused; AWS says not to give one). Cross-Region: KmsKeyId is required, must be a usable key of the replica's
 * Region, and the request must carry SourceRegion (the SDK turns it into the presigned URL) or PreSignedUrl.
 */
function replicaKeyArn(core: Core, input: Input, primary: ClusterRecord, crossRegion: boolean): string {
  const ref = str(input, 'KmsKeyId');
  if (!crossRegion) {
    if (ref !== undefined && findKey(core.reg.state, ref, core.region)?.arn !== primary.kmsKeyArn) {
      throw awsFault('rds', 'InvalidParameterCombination', `A read replica in the same Region is encrypted with its primary's key ${primary.kmsKeyArn}; do not give another KmsKeyId (${ref}).`);
    }
    return primary.kmsKeyArn;
  }
  if (str(input, 'SourceRegion') === undefined && str(input, 'PreSignedUrl') === undefined) {
    throw awsFault('rds', 'InvalidParameterCombination', 'A cross-Region read replica of an encrypted instance needs PreSignedUrl (the SDK computes it from SourceRegion).');
  }
  if (ref === undefined) throw awsFault('rds', 'InvalidParameterCombination', `An encrypted cross-Region read replica needs a KmsKeyId of the destination Region ${core.region}.`);
  const key = findKey(core.reg.state, ref, core.region);
  if (!key) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] does not exist in ${core.region}, is not enabled or you do not have permissions to access it.`);
  if (key.region !== core.region) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is in region ${key.region}; RDS in ${core.region} cannot use it.`);
  if (key.state !== 'Enabled') throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is ${key.state} and cannot be used (KMSInvalidStateException).`);
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is asymmetric (${key.keySpec}); RDS supports only symmetric encryption KMS keys.`);
  if (!key.grantsRds) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `RDS cannot create a grant on the specified KMS key [${ref}]: its key policy does not allow it.`);
  return key.arn;
}

/** The instance settings of a new replica: the primary's, with what the request gives (class, AZ, storage, groups). */
function replicaSettings(core: Core, input: Input, primary: ClusterRecord & { instance: DbInstanceSettings }, dbi: string): DbInstanceSettings {
  const group = str(input, 'DBParameterGroupName');
  const iops = num(input, 'Iops');
  const throughput = num(input, 'StorageThroughput');
  const max = num(input, 'MaxAllocatedStorage');
  const { iops: _i, storageThroughput: _t, maxAllocatedStorage: _m, ...base } = primary.instance;
  return {
    ...base, dbiResourceId: dbi, instanceClass: str(input, 'DBInstanceClass') ?? primary.instance.instanceClass, parameterGroup: group ?? primary.instance.parameterGroup,
    optionGroup: str(input, 'OptionGroupName') ?? primary.instance.optionGroup, storageType: str(input, 'StorageType') ?? primary.instance.storageType,
    allocatedStorage: num(input, 'AllocatedStorage') ?? primary.instance.allocatedStorage, ...(iops !== undefined ? { iops } : {}), ...(throughput !== undefined ? { storageThroughput: throughput } : {}),
    ...(max !== undefined ? { maxAllocatedStorage: max } : {}), availabilityZone: str(input, 'AvailabilityZone') ?? `${core.region}a`,
    multiAz: bool(input, 'MultiAZ') ?? false, publiclyAccessible: bool(input, 'PubliclyAccessible') ?? false, monitoringInterval: 0, performanceInsights: false,
    autoMinorVersionUpgrade: bool(input, 'AutoMinorVersionUpgrade') ?? true, replicaOf: primary.identifier, replicaOfResourceId: primary.resourceId,
  };
}

/**
 * CreateDBInstanceReadReplica as a read-only route (PostgreSQL, and every cross-Region replica): the replica's
 * endpoint proxy reaches its primary's data, so it lags by nothing; CloudWatch ReplicaLag reads 0 from when it is
 * ready. Its key is its own (the primary's in the same Region, the given one in another): what AWS reports.
 */
async function createRouteReplica(core: Core, input: Input, id: string, primary: ClusterRecord & { instance: DbInstanceSettings }, kmsKeyArn: string): Promise<unknown> {
  const group = str(input, 'DBParameterGroupName');
  if (group !== undefined && !core.reg.state.parameterGroups[group]) throw awsFault('rds', 'DBParameterGroupNotFoundFault', `DBParameterGroup not found: ${group}`, 404);
  const now = core.now();
  const dbi = `db-${resourceId()}`;
  const home = core.region === core.reg.state.region;
  const record: ClusterRecord = {
    identifier: id, resourceId: dbi, engine: primary.engine, engineVersion: primary.engineVersion, backend: { ...primary.backend }, kmsKeyArn, createdAt: now,
    readyAt: now + ms(core.delays.restoreSeconds), route: true, ...(home ? {} : { region: core.region }),
    settings: { ...primary.settings, parameterGroup: group ?? primary.settings.parameterGroup, subnetGroup: str(input, 'DBSubnetGroupName') ?? primary.settings.subnetGroup, backupRetentionPeriod: 0, deletionProtection: bool(input, 'DeletionProtection') ?? false },
    tags: tagsOf(input), instance: replicaSettings(core, input, primary, dbi),
  };
  core.reg.state.clusters[id] = record;
  await ensureProxy(core, id);
  core.proxies.point(id, { host: record.backend.host, port: record.backend.port });
  core.reg.addDatapoints([{ t: record.readyAt, ns: 'AWS/RDS', m: 'ReplicaLag', d: { DBInstanceIdentifier: id }, v: 0 }]);
  core.reg.event('db-instance', id, `Read replica of ${primary.identifier}${home ? '' : ` (${primary.region ?? core.reg.state.region})`} created`, ['creation'], now);
  core.reg.save();
  return { DBInstance: dbInstanceShape(core, record) };
}

/** A Performance Insights KMS key reference as its ARN; an unknown key is refused as RDS does. */
function piKeyArn(core: Core, ref: string): string {
  const key = findKey(core.reg.state, ref, core.region);
  if (!key) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] for Performance Insights does not exist or you do not have permissions to access it.`);
  return key.arn;
}

/** CopyDBSnapshot: a new snapshot (its own dump files) under the given key; PercentProgress rises over snapshotSeconds. */
function copyDbSnapshot(core: Core, input: Input): unknown {
  const source = mustDbSnapshot(core, str(input, 'SourceDBSnapshotIdentifier'));
  const id = str(input, 'TargetDBSnapshotIdentifier');
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'TargetDBSnapshotIdentifier is required');
  if (core.reg.state.snapshots[id]) throw awsFault('rds', 'DBSnapshotAlreadyExistsFault', `Cannot copy the snapshot because one with the identifier ${id} already exists.`);
  if (snapshotProgress(core, source).status !== 'available') throw awsFault('rds', 'InvalidDBSnapshotStateFault', `Snapshot ${source.identifier} is not available.`);
  const kmsKeyArn = restoreKeyArn(core, str(input, 'KmsKeyId'), source);
  const dumpFile = join(core.snapshotDir, `${id}.dump`);
  const rolesFile = join(core.snapshotDir, `${id}.roles.json`);
  copyFileSync(source.dumpFile, dumpFile);
  copyFileSync(source.rolesFile, rolesFile);
  const createdAt = core.now();
  const copy: SnapshotRecord = {
    ...structuredClone(source), identifier: id, kmsKeyArn, createdAt, readyAt: createdAt + ms(core.delays.snapshotSeconds), dumpFile, rolesFile,
    tags: [...(input.CopyTags === true ? source.tags : []), ...tagsOf(input)], dbSnapshot: { instance: { ...source.dbSnapshot.instance }, copiedFrom: source.identifier },
  };
  core.reg.state.snapshots[id] = copy;
  core.reg.event('db-snapshot', id, `Started copy of snapshot ${source.identifier} in progress`, ['backup'], createdAt);
  core.reg.event('db-snapshot', id, `Finished copy of snapshot ${source.identifier}`, ['backup'], copy.readyAt);
  core.reg.save();
  return { DBSnapshot: dbSnapshotShape(core, copy) };
}

const num = (input: Input, key: string): number | undefined => (typeof input[key] === 'number' ? input[key] : undefined);
const bool = (input: Input, key: string): boolean | undefined => (typeof input[key] === 'boolean' ? input[key] : undefined);

/** RestoreDBInstanceFromDBSnapshot: every setting the request carries is recorded; what it omits gets AWS defaults, not the source's. */
async function restoreDbInstance(core: Core, input: Input): Promise<unknown> {
  const id = str(input, 'DBInstanceIdentifier');
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBInstanceIdentifier is required');
  const snapshot = mustDbSnapshot(core, str(input, 'DBSnapshotIdentifier'));
  if (core.reg.state.clusters[id]) throw awsFault('rds', 'DBInstanceAlreadyExistsFault', 'DB instance already exists');
  if (snapshotProgress(core, snapshot).status !== 'available') throw awsFault('rds', 'InvalidDBSnapshotStateFault', `Snapshot ${snapshot.identifier} is not available.`);
  const paramGroup = str(input, 'DBParameterGroupName');
  if (paramGroup !== undefined && !core.reg.state.parameterGroups[paramGroup]) throw awsFault('rds', 'DBParameterGroupNotFoundFault', `DBParameterGroup not found: ${paramGroup}`, 404);
  const startedAt = core.now();
  const backend = await restoreData(core, snapshot, id, 'rds_tools');
  const engine = snapshot.engine;
  const prior = snapshot.dbSnapshot.instance;
  const settings: ClusterSettings = {
    ...snapshot.clusterSettings,
    parameterGroup: paramGroup ?? defaultDbParameterGroup(engine), subnetGroup: str(input, 'DBSubnetGroupName') ?? 'default',
    securityGroupIds: Array.isArray(input.VpcSecurityGroupIds) ? (input.VpcSecurityGroupIds as string[]) : ['sg-0default0000000000'],
    backupRetentionPeriod: 1, preferredBackupWindow: '07:00-07:30', preferredMaintenanceWindow: 'sun:05:00-sun:05:30',
    deletionProtection: bool(input, 'DeletionProtection') ?? false, copyTagsToSnapshot: bool(input, 'CopyTagsToSnapshot') ?? false,
    iamDatabaseAuthentication: bool(input, 'EnableIAMDatabaseAuthentication') ?? false,
    cloudwatchLogsExports: Array.isArray(input.EnableCloudwatchLogsExports) ? (input.EnableCloudwatchLogsExports as string[]) : [],
  };
  const multiAz = bool(input, 'MultiAZ') ?? false;
  const iops = num(input, 'Iops');
  const throughput = num(input, 'StorageThroughput');
  const instance: DbInstanceSettings = {
    dbiResourceId: `db-${resourceId()}`, instanceClass: str(input, 'DBInstanceClass') ?? prior.instanceClass, parameterGroup: settings.parameterGroup,
    optionGroup: str(input, 'OptionGroupName') ?? defaultOptionGroup(engine), multiAz, storageType: str(input, 'StorageType') ?? prior.storageType,
    allocatedStorage: num(input, 'AllocatedStorage') ?? prior.allocatedStorage, ...(iops !== undefined ? { iops } : {}), ...(throughput !== undefined ? { storageThroughput: throughput } : {}),
    publiclyAccessible: bool(input, 'PubliclyAccessible') ?? false, availabilityZone: str(input, 'AvailabilityZone') ?? `${core.region}a`,
    monitoringInterval: 0, performanceInsights: false, autoMinorVersionUpgrade: bool(input, 'AutoMinorVersionUpgrade') ?? true,
  };
  const record: ClusterRecord = {
    identifier: id, resourceId: instance.dbiResourceId, engine, engineVersion: snapshot.engineVersion, backend, kmsKeyArn: snapshot.kmsKeyArn,
    createdAt: startedAt, readyAt: Math.max(core.now(), startedAt + ms(core.delays.restoreSeconds)), restoredFrom: snapshot.identifier,
    restoreInput: Object.fromEntries(Object.entries(input).filter(([k]) => !/password/i.test(k))), settings, tags: tagsOf(input), instance,
  };
  core.reg.state.clusters[id] = record;
  await ensureProxy(core, id);
  core.proxies.point(id, { host: backend.host, port: backend.port });
  core.reg.event('db-instance', id, `Restored from snapshot ${snapshot.identifier}`, ['creation'], startedAt);
  core.reg.save();
  return { DBInstance: dbInstanceShape(core, record) };
}

/** ModifyDBInstance with ApplyImmediately: settings take effect at once; NewDBInstanceIdentifier renames like RDS. */
async function modifyDbInstance(core: Core, input: Input): Promise<unknown> {
  const inst = mustDbInstance(core, str(input, 'DBInstanceIdentifier'));
  requireAvailable(core, inst);
  const s = inst.settings;
  const i = inst.instance;
  const group = str(input, 'DBParameterGroupName');
  if (group !== undefined && !core.reg.state.parameterGroups[group]) throw awsFault('rds', 'DBParameterGroupNotFoundFault', `DBParameterGroup not found: ${group}`, 404);
  s.backupRetentionPeriod = num(input, 'BackupRetentionPeriod') ?? s.backupRetentionPeriod;
  s.preferredBackupWindow = str(input, 'PreferredBackupWindow') ?? s.preferredBackupWindow;
  s.preferredMaintenanceWindow = str(input, 'PreferredMaintenanceWindow') ?? s.preferredMaintenanceWindow;
  s.deletionProtection = bool(input, 'DeletionProtection') ?? s.deletionProtection;
  s.copyTagsToSnapshot = bool(input, 'CopyTagsToSnapshot') ?? s.copyTagsToSnapshot;
  i.parameterGroup = group ?? i.parameterGroup;
  s.parameterGroup = i.parameterGroup;
  i.monitoringInterval = num(input, 'MonitoringInterval') ?? i.monitoringInterval;
  const role = str(input, 'MonitoringRoleArn');
  if (role !== undefined) i.monitoringRoleArn = role;
  i.performanceInsights = bool(input, 'EnablePerformanceInsights') ?? i.performanceInsights;
  const piKey = str(input, 'PerformanceInsightsKMSKeyId');
  if (i.performanceInsights && i.performanceInsightsKmsKeyArn === undefined) {
    // As RDS: the key is chosen when PI is first enabled (default: the storage key) and cannot change afterwards.
    i.performanceInsightsKmsKeyArn = piKey !== undefined ? piKeyArn(core, piKey) : inst.kmsKeyArn;
  } else if (piKey !== undefined && i.performanceInsightsKmsKeyArn !== undefined && piKeyArn(core, piKey) !== i.performanceInsightsKmsKeyArn) {
    throw awsFault('rds', 'InvalidParameterCombination', 'You cannot change the KMS key of Performance Insights once it is set.');
  }
  const max = num(input, 'MaxAllocatedStorage');
  if (max !== undefined) i.maxAllocatedStorage = max;
  const newId = str(input, 'NewDBInstanceIdentifier');
  if (newId !== undefined && newId.toLowerCase() !== inst.identifier) {
    await renameRecord(core, inst, newId);
    i.dbiResourceId = inst.resourceId;
  }
  core.reg.save();
  await rdsTick(core);
  return { DBInstance: dbInstanceShape(core, inst) };
}

async function deleteDbInstance(core: Core, inst: ClusterRecord, input: Input): Promise<unknown> {
  if (inst.settings.deletionProtection) throw awsFault('rds', 'InvalidParameterCombination', 'Cannot delete protected DB Instance, please disable deletion protection and try again.');
  if (input.SkipFinalSnapshot !== true && str(input, 'FinalDBSnapshotIdentifier') === undefined) {
    throw awsFault('rds', 'InvalidParameterCombination', 'FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.');
  }
  if (inst.restoredFrom === undefined && inst.instance?.replicaOf === undefined) {
    throw awsFault('rds', 'InvalidParameterCombination', `The rehearsal cloud never deletes the source instance ${inst.identifier}.`);
  }
  const shape = { ...dbInstanceShape(core, inst), DBInstanceStatus: 'deleting' };
  if (inst.route === true) {
    // A read-only route has no data of its own: it stops answering, the primary's data stays.
    delete core.reg.state.clusters[inst.identifier];
    core.proxies.point(inst.identifier, undefined);
  } else if (inst.backend.server === 'replica') {
    // A read replica has its own server: it stops, and its name stops resolving.
    const name = replicaServerName(inst.resourceId);
    await core.extraServers.get(name)?.stop();
    core.extraServers.delete(name);
    delete core.reg.state.clusters[inst.identifier];
    core.proxies.point(inst.identifier, undefined);
  } else {
    await dropRecord(core, inst);
  }
  core.reg.event('db-instance', inst.identifier, 'DB instance deleted', ['deletion']);
  core.reg.save();
  return { DBInstance: shape };
}

/** The default DB parameter group of an instance engine. */
export function defaultDbParameterGroup(engine: string): string {
  return engine === 'postgres' ? 'default.postgres15' : engine === 'mariadb' ? 'default.mariadb10.11' : 'default.mysql8.0';
}

/** The default option group of an instance engine. */
export function defaultOptionGroup(engine: string): string {
  return engine === 'postgres' ? 'default:postgres-15' : engine === 'mariadb' ? 'default:mariadb-10-11' : 'default:mysql-8-0';
}

/** DB instance commands of the fake RDS; undefined when `name` is not one of them (or names an Aurora member). */
export async function instanceSend(core: Core, name: string, input: Input): Promise<unknown> {
  const st = core.reg.state;
  switch (name) {
    case 'CreateDBInstanceReadReplica':
      return createReadReplica(core, input);
    case 'CreateDBSnapshot':
      return createDbSnapshot(core, input);
    case 'CopyDBSnapshot':
      return copyDbSnapshot(core, input);
    case 'DescribeDBSnapshots': {
      const id = str(input, 'DBSnapshotIdentifier');
      const of = str(input, 'DBInstanceIdentifier');
      const list = id !== undefined ? [mustDbSnapshot(core, id)] : Object.values(st.snapshots).filter((s) => s.dbSnapshot && (of === undefined || s.clusterIdentifier === of));
      const { page, Marker } = paginate(list.map((s) => dbSnapshotShape(core, s)), input);
      return { DBSnapshots: page, ...(Marker !== undefined ? { Marker } : {}) };
    }
    case 'DeleteDBSnapshot': {
      const snapshot = mustDbSnapshot(core, str(input, 'DBSnapshotIdentifier'));
      const shape = { ...dbSnapshotShape(core, snapshot), Status: 'deleted' };
      await deleteSnapshotData(core, snapshot, 'InvalidDBSnapshotStateFault');
      return { DBSnapshot: shape };
    }
    case 'RestoreDBInstanceFromDBSnapshot':
      return restoreDbInstance(core, input);
    case 'ModifyDBInstance':
      return modifyDbInstance(core, input);
    case 'DeleteDBInstance': {
      const inst = findDbInstance(core, str(input, 'DBInstanceIdentifier'));
      return inst ? deleteDbInstance(core, inst, input) : undefined;
    }
    default:
      return undefined;
  }
}
