// RDS DB instances (postgres, mysql, mariadb): the key change by snapshot copy. MySQL/MariaDB first take the
// position from a stopped read replica (replica-position), the snapshot is of that replica; then copy-snapshot
// re-encrypts under the new key and the restore carries every setting over, with a follow-up ModifyDBInstance
// for what a restore cannot set.
import {
  CopyDBSnapshotCommand,
  CreateDBInstanceReadReplicaCommand,
  CreateDBSnapshotCommand,
  DeleteDBInstanceCommand,
  DeleteDBSnapshotCommand,
  ListTagsForResourceCommand,
  ModifyDBInstanceCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import type { DBInstance, ModifyDBInstanceMessage, RestoreDBInstanceFromDBSnapshotMessage, Tag } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { poll } from '../aws/poll.js';
import { findDBSnapshot, findInstance, pollTiming, waitDBSnapshotAvailable, waitDBSnapshotDeletable, waitInstanceAvailable } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { clusterEndpoint, madeByThisRun, newKeyArn, output, rekeyTags, required, waitEnv, withEndpoint, withSource, withTarget } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import type { RekeyServices } from './services.js';
import type { CopySnapshotOutput, ReplicaPositionOutput, RestoreOutput, SnapshotOutput } from './outputs.js';

export type { ReplicaPositionOutput, CopySnapshotOutput } from './outputs.js';

async function mustFindInstance(ctx: Ctx, id: string, role: string): Promise<DBInstance> {
  const i = await findInstance(ctx.services.cloud, id);
  if (!i) throw new StepError(`${role} instance ${id} not found`, 'fatal');
  return i;
}

/** Binlog retention the run needs: twice what preflight expected snapshot + restore + catch-up to take, at least 24 h. */
export function neededRetentionHours(ctx: Ctx): number {
  const expected = output(ctx, 'preflight')?.binlog?.expectedHours ?? 12;
  return Math.max(24, Math.ceil(expected * 2));
}

export const replicaPosition: Step<RekeyServices, ReplicaPositionOutput> = {
  id: 'replica-position',
  title: 'Read the position from a stopped read replica',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    return [
      { kind: 'sql', target: 'source', summary: 'set and read back binlog retention hours', detail: `CALL mysql.rds_set_configuration('binlog retention hours', ${neededRetentionHours(ctx)}); CALL mysql.rds_show_configuration` },
      { kind: 'aws', target: 'rds:CreateDBInstanceReadReplica', summary: `temporary replica ${names.readReplica} of ${rb.source.identifier} (same class, subnet group, parameter group)` },
      { kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until ${names.readReplica} is available` },
      { kind: 'sql', target: names.readReplica, summary: 'stop replication and read the executed source coordinates', detail: 'CALL mysql.rds_stop_replication; SHOW REPLICA STATUS (or SHOW SLAVE STATUS)' },
    ];
  },
  async run(ctx) {
    const { cloud, names, runbook: rb } = ctx.services;
    const wanted = neededRetentionHours(ctx);
    const retentionHours = await withSource(ctx, async (db) => {
      if (!db.binlogRetentionHours || !db.setBinlogRetentionHours) throw new StepError('the source adapter cannot set binlog retention', 'fatal');
      const before = await db.binlogRetentionHours();
      if (before !== null && before < wanted) await db.setBinlogRetentionHours(wanted);
      const after = await db.binlogRetentionHours();
      if (after !== null && after < wanted) {
        throw new StepError(`binlog retention on the source reads ${after} h after setting ${wanted} h`, 'preflight', [`set it by hand: CALL mysql.rds_set_configuration('binlog retention hours', ${wanted});`]);
      }
      return after;
    });
    if (await findInstance(cloud, names.readReplica)) {
      ctx.report.log('info', `replica ${names.readReplica} already exists; not creating another`);
    } else {
      const source = await mustFindInstance(ctx, rb.source.identifier, 'source');
      const group = source.DBParameterGroups?.[0]?.DBParameterGroupName;
      await call('rds:CreateDBInstanceReadReplica', () =>
        cloud.rds.send(
          new CreateDBInstanceReadReplicaCommand({
            DBInstanceIdentifier: names.readReplica,
            SourceDBInstanceIdentifier: rb.source.identifier,
            DBInstanceClass: source.DBInstanceClass,
            ...(source.DBSubnetGroup?.DBSubnetGroupName ? { DBSubnetGroupName: source.DBSubnetGroup.DBSubnetGroupName } : {}),
            ...(group ? { DBParameterGroupName: group } : {}),
            VpcSecurityGroupIds: (source.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId ? [g.VpcSecurityGroupId] : [])),
            MultiAZ: false,
            PubliclyAccessible: source.PubliclyAccessible ?? false,
            Tags: rekeyTags(ctx),
          }),
        ),
      );
    }
    await waitInstanceAvailable(cloud, names.readReplica, waitEnv(ctx));
    const pos = await withEndpoint(ctx, await clusterEndpoint(ctx, names.readReplica, false), async (db) => {
      if (!db.stopReplication || !db.replicaExecutedPosition) throw new StepError('the adapter cannot stop replication or read replica status', 'fatal');
      await db.stopReplication();
      return db.replicaExecutedPosition();
    });
    const position = `${pos.file}:${pos.position}`;
    ctx.report.log('info', `replica ${names.readReplica} stopped at source position ${position}`);
    return { replicaId: names.readReplica, position, retentionHours };
  },
  keepOnRollback: 'the temporary read replica',
  async undo(ctx) {
    await deleteReplica(ctx);
  },
};

/** Deletes the temporary read replica (no final snapshot) if it is still there. */
export async function deleteReplica(ctx: Ctx): Promise<boolean> {
  const { cloud, names } = ctx.services;
  const replica = await findInstance(cloud, names.readReplica);
  if (!replica || replica.DBInstanceStatus === 'deleting') return false;
  await call('rds:DeleteDBInstance', () => cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: names.readReplica, SkipFinalSnapshot: true })));
  ctx.report.log('info', `deleting temporary replica ${names.readReplica}`);
  return true;
}

/** Deletes a DB snapshot rekey made (the snapshot or its copy), if it is still there. */
export async function deleteInstanceSnapshot(ctx: Ctx, id: string): Promise<void> {
  const { cloud } = ctx.services;
  // A snapshot or copy still in progress (a runner killed inside its step) cannot be deleted yet: AWS refuses it.
  const existing = await waitDBSnapshotDeletable(cloud, id, waitEnv(ctx));
  if (!existing || existing.Status === 'deleting' || existing.Status === 'deleted') return;
  await call('rds:DeleteDBSnapshot', () => cloud.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: id })));
  ctx.report.log('info', `deleted snapshot ${id}`);
}

/** CreateDBSnapshot of the source instance (MySQL/MariaDB: of the stopped replica), wait; then drop the replica. */
export async function snapshotInstance(ctx: Ctx): Promise<SnapshotOutput> {
  const { cloud, names, runbook: rb } = ctx.services;
  const of = profile(rb).family === 'mysql' ? required(ctx, 'replica-position', 'snapshot').replicaId : rb.source.identifier;
  const existing = await findDBSnapshot(cloud, names.snapshot);
  if (existing) {
    if (existing.DBInstanceIdentifier && existing.DBInstanceIdentifier !== of) throw new StepError(`snapshot ${names.snapshot} exists but is of ${existing.DBInstanceIdentifier}`, 'fatal');
    ctx.report.log('info', `snapshot ${names.snapshot} already exists (${existing.Status ?? '?'}); not creating another`);
  } else {
    await call('rds:CreateDBSnapshot', () =>
      cloud.rds.send(new CreateDBSnapshotCommand({ DBSnapshotIdentifier: names.snapshot, DBInstanceIdentifier: of, Tags: rekeyTags(ctx) })),
    );
    crashPoint('snapshot:after-create-call');
  }
  const done = await waitDBSnapshotAvailable(cloud, names.snapshot, waitEnv(ctx));
  if (profile(rb).family === 'mysql') await deleteReplica(ctx);
  return { snapshotId: names.snapshot, ...(done.DBSnapshotArn ? { snapshotArn: done.DBSnapshotArn } : {}) };
}

export const copySnapshot: Step<RekeyServices, CopySnapshotOutput> = {
  id: 'copy-snapshot',
  title: 'Copy the snapshot under the new key',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    return [
      { kind: 'aws', target: 'rds:CopyDBSnapshot', summary: `copy ${names.snapshot} to ${names.snapshotCopy} under ${rb.target.kmsKeyId}`, detail: `SourceDBSnapshotIdentifier=${names.snapshot} TargetDBSnapshotIdentifier=${names.snapshotCopy} KmsKeyId=<new key ARN> CopyTags=true` },
      { kind: 'wait', target: 'rds:DescribeDBSnapshots', summary: `until ${names.snapshotCopy} is available (PercentProgress, ETA); KmsKeyId must be the new key` },
    ];
  },
  async run(ctx) {
    const { cloud, names } = ctx.services;
    required(ctx, 'snapshot', 'copy-snapshot');
    const keyArn = await newKeyArn(ctx);
    if (await findDBSnapshot(cloud, names.snapshotCopy)) {
      ctx.report.log('info', `snapshot copy ${names.snapshotCopy} already exists; not copying again`);
    } else {
      await call('rds:CopyDBSnapshot', () =>
        cloud.rds.send(new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: names.snapshot, TargetDBSnapshotIdentifier: names.snapshotCopy, KmsKeyId: keyArn, CopyTags: true })),
      );
      crashPoint('copy-snapshot:after-copy-call');
    }
    const done = await waitDBSnapshotAvailable(cloud, names.snapshotCopy, waitEnv(ctx));
    if (done.KmsKeyId !== keyArn) throw new StepError(`snapshot copy ${names.snapshotCopy} reports KmsKeyId ${done.KmsKeyId ?? 'none'}, expected ${keyArn}`, 'fatal');
    return { snapshotId: names.snapshotCopy, ...(done.DBSnapshotArn ? { snapshotArn: done.DBSnapshotArn } : {}), kmsKeyId: keyArn };
  },
  keepOnRollback: 'the snapshot copy under the new key',
  async undo(ctx) {
    await deleteInstanceSnapshot(ctx, ctx.services.names.snapshotCopy);
  },
};

/** The restore request: every setting of the source instance passed explicitly (defaults are dangerous). */
export function instanceRestoreRequest(source: DBInstance, targetId: string, snapshotId: string, tags: Tag[], instanceClass?: string): RestoreDBInstanceFromDBSnapshotMessage {
  const multiAz = source.MultiAZ ?? false;
  return {
    DBInstanceIdentifier: targetId,
    DBSnapshotIdentifier: snapshotId,
    DBInstanceClass: instanceClass ?? source.DBInstanceClass,
    DBSubnetGroupName: source.DBSubnetGroup?.DBSubnetGroupName,
    VpcSecurityGroupIds: (source.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId ? [g.VpcSecurityGroupId] : [])),
    DBParameterGroupName: source.DBParameterGroups?.[0]?.DBParameterGroupName,
    OptionGroupName: source.OptionGroupMemberships?.[0]?.OptionGroupName,
    MultiAZ: multiAz,
    StorageType: source.StorageType,
    ...(source.Iops !== undefined ? { Iops: source.Iops } : {}),
    ...(source.StorageThroughput !== undefined ? { StorageThroughput: source.StorageThroughput } : {}),
    Port: source.Endpoint?.Port ?? source.DbInstancePort,
    PubliclyAccessible: source.PubliclyAccessible ?? false,
    DeletionProtection: source.DeletionProtection ?? false,
    EnableIAMDatabaseAuthentication: source.IAMDatabaseAuthenticationEnabled ?? false,
    EnableCloudwatchLogsExports: source.EnabledCloudwatchLogsExports ?? [],
    CopyTagsToSnapshot: source.CopyTagsToSnapshot ?? false,
    Tags: tags,
    AutoMinorVersionUpgrade: source.AutoMinorVersionUpgrade ?? false,
    ...(source.CACertificateIdentifier ? { CACertificateIdentifier: source.CACertificateIdentifier } : {}),
    ...(source.NetworkType ? { NetworkType: source.NetworkType } : {}),
    ...(!multiAz && source.AvailabilityZone ? { AvailabilityZone: source.AvailabilityZone } : {}),
    ...(source.LicenseModel ? { LicenseModel: source.LicenseModel } : {}),
  };
}

/**
 * The key for Performance Insights data on the new database: the new key where the source used its storage key
 * (the old key) for it, so nothing of the new database stays on the old key; any other key is kept.
 */
export function performanceInsightsKey(piKey: string | undefined, oldStorageKey: string | undefined, newKeyArn: string | undefined): string | undefined {
  return piKey !== undefined && newKeyArn !== undefined && piKey === oldStorageKey ? newKeyArn : piKey;
}

/** What a restore cannot set, as a ModifyDBInstance for the restored instance (`newKeyArn`: see performanceInsightsKey). */
export function instanceFollowUp(source: DBInstance, targetId: string, newKeyArn?: string): ModifyDBInstanceMessage {
  const monitoring = source.MonitoringInterval ?? 0;
  const pi = source.PerformanceInsightsEnabled ?? false;
  const piKey = performanceInsightsKey(source.PerformanceInsightsKMSKeyId, source.KmsKeyId, newKeyArn);
  return {
    DBInstanceIdentifier: targetId,
    ApplyImmediately: true,
    BackupRetentionPeriod: source.BackupRetentionPeriod,
    PreferredBackupWindow: source.PreferredBackupWindow,
    PreferredMaintenanceWindow: source.PreferredMaintenanceWindow,
    MonitoringInterval: monitoring,
    ...(monitoring > 0 && source.MonitoringRoleArn ? { MonitoringRoleArn: source.MonitoringRoleArn } : {}),
    EnablePerformanceInsights: pi,
    ...(pi && piKey ? { PerformanceInsightsKMSKeyId: piKey } : {}),
    ...(pi && source.PerformanceInsightsRetentionPeriod !== undefined ? { PerformanceInsightsRetentionPeriod: source.PerformanceInsightsRetentionPeriod } : {}),
    ...(source.MaxAllocatedStorage !== undefined ? { MaxAllocatedStorage: source.MaxAllocatedStorage } : {}),
  };
}

/** Settings of the follow-up that the instance does not show yet (empty: applied). */
export function followUpPending(want: ModifyDBInstanceMessage, i: DBInstance): string[] {
  const differ: string[] = [];
  const check = (name: string, wanted: unknown, actual: unknown) => {
    if (wanted !== undefined && wanted !== actual) differ.push(name);
  };
  check('BackupRetentionPeriod', want.BackupRetentionPeriod, i.BackupRetentionPeriod);
  check('PreferredBackupWindow', want.PreferredBackupWindow, i.PreferredBackupWindow);
  check('PreferredMaintenanceWindow', want.PreferredMaintenanceWindow, i.PreferredMaintenanceWindow);
  check('MonitoringInterval', want.MonitoringInterval, i.MonitoringInterval ?? 0);
  check('EnablePerformanceInsights', want.EnablePerformanceInsights, i.PerformanceInsightsEnabled ?? false);
  check('MaxAllocatedStorage', want.MaxAllocatedStorage, i.MaxAllocatedStorage);
  if (i.PendingModifiedValues && Object.values(i.PendingModifiedValues).some((v) => v !== undefined)) differ.push('PendingModifiedValues');
  return differ;
}

/** The source instance's user tags (aws:* cannot be set) followed by rekey's own. */
async function instanceTags(ctx: Ctx, source: DBInstance): Promise<Tag[]> {
  const own = rekeyTags(ctx);
  if (!source.DBInstanceArn) return own;
  const out = await call('rds:ListTagsForResource', () => ctx.services.cloud.rds.send(new ListTagsForResourceCommand({ ResourceName: source.DBInstanceArn })));
  const inherited = (out.TagList ?? []).filter((t) => t.Key && !t.Key.startsWith('aws:') && !own.some((o) => o.Key === t.Key));
  return [...inherited, ...own];
}

/** The restore step for instances: restore the copy, apply the follow-up, check the key, drop the slot copy. */
export async function restoreInstance(ctx: Ctx): Promise<RestoreOutput> {
  const { cloud, names, runbook: rb, clock } = ctx.services;
  const copy = required(ctx, 'copy-snapshot', 'restore');
  const keyArn = await newKeyArn(ctx);
  const source = await mustFindInstance(ctx, rb.source.identifier, 'source');
  let startedAt: number;
  const existing = await findInstance(cloud, names.targetCluster);
  if (existing) {
    ctx.report.log('info', `instance ${names.targetCluster} already exists; not restoring again`);
    startedAt = existing.InstanceCreateTime ? new Date(existing.InstanceCreateTime).getTime() : clock.now() - ctx.services.timing.waitMaxSeconds * 1000;
  } else {
    const tags = await instanceTags(ctx, source);
    startedAt = clock.now();
    await call('rds:RestoreDBInstanceFromDBSnapshot', () =>
      cloud.rds.send(new RestoreDBInstanceFromDBSnapshotCommand(instanceRestoreRequest(source, names.targetCluster, copy.snapshotId, tags, rb.target.instanceClass))),
    );
    crashPoint('restore:after-restore-call');
  }
  let restored = await waitInstanceAvailable(cloud, names.targetCluster, waitEnv(ctx));
  const followUp = instanceFollowUp(source, names.targetCluster, keyArn);
  if (followUpPending(followUp, restored).length > 0) {
    await call('rds:ModifyDBInstance', () => cloud.rds.send(new ModifyDBInstanceCommand(followUp)));
    restored = await poll({
      what: `settings applied to ${names.targetCluster}`,
      observe: () => findInstance(cloud, names.targetCluster),
      classify: (i) => {
        if (!i) return { state: 'retry', note: 'not visible' };
        if (i.DBInstanceStatus !== 'available') return { state: 'retry', note: `status ${i.DBInstanceStatus ?? '?'}` };
        const pending = followUpPending(followUp, i);
        return pending.length === 0 ? { state: 'success' } : { state: 'retry', note: `not applied yet: ${pending.join(', ')}` };
      },
      onRetry: (_i, v) => ctx.report.progress(`${names.targetCluster}: ${v.state === 'retry' ? (v.note ?? '') : ''}`),
      ...pollTiming(waitEnv(ctx)),
    }) as DBInstance;
  }
  if (restored.KmsKeyId !== keyArn) {
    throw new StepError(`restored instance ${names.targetCluster} reports KmsKeyId ${restored.KmsKeyId ?? 'none'}, expected ${keyArn}`, 'fatal');
  }
  const droppedSlotCopy = profile(rb).usesSlot ? await withTarget(ctx, (db) => db.dropSlotIfExists(names.slot)) : false;
  return {
    clusterId: names.targetCluster,
    ...(restored.DBInstanceArn ? { clusterArn: restored.DBInstanceArn } : {}),
    writerId: names.targetCluster,
    kmsKeyId: keyArn,
    droppedSlotCopy,
    startedAt: new Date(startedAt).toISOString(),
  };
}

/** Deletes the restored instance unless deletion protection is on (restore's undo for instances). */
export async function undoRestoreInstance(ctx: Ctx): Promise<void> {
  const { cloud, names } = ctx.services;
  const i = await findInstance(cloud, names.targetCluster);
  if (!i || i.DBInstanceStatus === 'deleting') return;
  if (i.DeletionProtection) {
    // Copied from the source by the restore: on the instance this run made (its run-id tag), a discard lifts it.
    if (!madeByThisRun(ctx, i.TagList)) {
      ctx.report.log('warn', `${names.targetCluster} has deletion protection and no rekey:run-id tag of run ${ctx.runId}; leaving it for you to delete`);
      return;
    }
    // An instance still coming up (a runner killed inside the restore) cannot be modified yet; it becomes available.
    if (i.DBInstanceStatus !== 'available') await waitInstanceAvailable(cloud, names.targetCluster, waitEnv(ctx));
    await call('rds:ModifyDBInstance', () => cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: names.targetCluster, DeletionProtection: false, ApplyImmediately: true })));
    ctx.report.log('info', `lifted the deletion protection ${names.targetCluster} copied from the source (made by this run: rekey:run-id ${ctx.runId}) to delete it`);
  }
  await call('rds:DeleteDBInstance', () => cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: names.targetCluster, SkipFinalSnapshot: true })));
}
