// restore: RestoreDBClusterFromSnapshot under the new key with every setting carried over explicitly,
// then the writer instance; check the key; PostgreSQL: drop the copy of the slot that came along in the snapshot.
import {
  CreateDBInstanceCommand,
  DeleteDBClusterCommand,
  DeleteDBInstanceCommand,
  ListTagsForResourceCommand,
  ModifyDBClusterCommand,
  RestoreDBClusterFromSnapshotCommand,
} from '@aws-sdk/client-rds';
import type { CreateDBInstanceCommandInput, DBCluster, DBInstance, Tag } from '@aws-sdk/client-rds';
import { awsErrorName, awsStepError, call } from '../aws/errors.js';
import { poll } from '../aws/poll.js';
import { findCluster, findInstance, pollTiming, waitClusterAvailable, waitInstanceAvailable } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { madeByThisRun, mustFindCluster, newKeyArn, output, rekeyTags, required, waitEnv, withTarget } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import { performanceInsightsKey, restoreInstance, undoRestoreInstance } from './instance.js';
import type { RekeyServices } from './services.js';
import type { RestoreOutput } from './outputs.js';

export type { RestoreOutput } from './outputs.js';

/** The source's user tags (aws:* tags cannot be set) followed by rekey's own. */
async function restoreTags(ctx: Ctx, source: DBCluster): Promise<Tag[]> {
  const own = rekeyTags(ctx);
  let inherited: Tag[] = [];
  if (source.DBClusterArn) {
    const out = await call('rds:ListTagsForResource', () =>
      ctx.services.cloud.rds.send(new ListTagsForResourceCommand({ ResourceName: source.DBClusterArn })),
    );
    inherited = (out.TagList ?? []).filter((t) => t.Key && !t.Key.startsWith('aws:') && !own.some((o) => o.Key === t.Key));
  }
  return [...inherited, ...own];
}

/** The restore request: every setting of the source passed explicitly (defaults are dangerous). */
export function restoreRequest(source: DBCluster, targetId: string, snapshotId: string, keyArn: string, tags: Tag[], engine: string) {
  return {
    DBClusterIdentifier: targetId,
    SnapshotIdentifier: snapshotId,
    Engine: source.Engine ?? engine,
    EngineVersion: source.EngineVersion,
    KmsKeyId: keyArn,
    DBSubnetGroupName: source.DBSubnetGroup,
    VpcSecurityGroupIds: (source.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId ? [g.VpcSecurityGroupId] : [])),
    DBClusterParameterGroupName: source.DBClusterParameterGroup,
    Port: source.Port,
    DeletionProtection: source.DeletionProtection ?? false,
    EnableIAMDatabaseAuthentication: source.IAMDatabaseAuthenticationEnabled ?? false,
    EnableCloudwatchLogsExports: source.EnabledCloudwatchLogsExports ?? [],
    CopyTagsToSnapshot: source.CopyTagsToSnapshot ?? false,
    BackupRetentionPeriod: source.BackupRetentionPeriod,
    PreferredBackupWindow: source.PreferredBackupWindow,
    Tags: tags,
  };
}

/** The source writer's Enhanced Monitoring and Performance Insights, for the new writer (PI data on the new key). */
function writerInsights(writer: DBInstance | undefined, oldKey: string | undefined, newKey: string): Partial<CreateDBInstanceCommandInput> {
  if (!writer) return {};
  const monitoring = writer.MonitoringInterval ?? 0;
  const pi = writer.PerformanceInsightsEnabled === true;
  const piKey = performanceInsightsKey(writer.PerformanceInsightsKMSKeyId, oldKey, newKey);
  return {
    ...(monitoring > 0 && writer.MonitoringRoleArn ? { MonitoringInterval: monitoring, MonitoringRoleArn: writer.MonitoringRoleArn } : {}),
    ...(pi ? { EnablePerformanceInsights: true, ...(piKey ? { PerformanceInsightsKMSKeyId: piKey } : {}), ...(writer.PerformanceInsightsRetentionPeriod !== undefined ? { PerformanceInsightsRetentionPeriod: writer.PerformanceInsightsRetentionPeriod } : {}) } : {}),
  };
}

/**
 * Lifts the deletion protection the restored cluster copied from the source, so a discarding rollback can delete it
 * (only called for the cluster this run made). A cluster still coming up is waited for when it has instances; one
 * without any (a runner killed before the writer was created) may stay `creating`, so AWS's refusal is not waited
 * out: the cluster is left, named, with the command that lifts it. Returns whether it was lifted.
 */
async function liftDeletionProtection(ctx: Ctx, cluster: DBCluster): Promise<boolean> {
  const { cloud, names } = ctx.services;
  const id = names.targetCluster;
  if ((cluster.DBClusterMembers ?? []).length > 0 && cluster.Status !== 'available') await waitClusterAvailable(cloud, id, waitEnv(ctx));
  try {
    await cloud.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: id, DeletionProtection: false, ApplyImmediately: true }));
  } catch (error) {
    if (awsErrorName(error) !== 'InvalidDBClusterStateFault') throw awsStepError('rds:ModifyDBCluster', error);
    ctx.report.log('warn', `${id} has deletion protection (copied from the source) and is ${cluster.Status ?? 'not available'}, so it cannot be changed yet; leaving it for you to delete: aws rds modify-db-cluster --db-cluster-identifier ${id} --no-deletion-protection --apply-immediately, then delete it`);
    return false;
  }
  ctx.report.log('info', `lifted the deletion protection ${id} copied from the source (made by this run: rekey:run-id ${ctx.runId}) to delete it`);
  return true;
}

export const restore: Step<RekeyServices, RestoreOutput> = {
  id: 'restore',
  title: 'Restore the snapshot under the new key',
  describe(ctx) {
    const { names, runbook } = ctx.services;
    if (profile(runbook).instance) {
      const instanceActions: PlannedAction[] = [
        { kind: 'aws', target: 'rds:ListTagsForResource', summary: `tags of ${runbook.source.identifier}` },
        {
          kind: 'aws',
          target: 'rds:RestoreDBInstanceFromDBSnapshot',
          summary: `restore ${names.snapshotCopy} as ${names.targetCluster}`,
          detail: 'DBInstanceClass, DBSubnetGroupName, VpcSecurityGroupIds, DBParameterGroupName, OptionGroupName, MultiAZ, StorageType, Iops, StorageThroughput, Port, PubliclyAccessible, DeletionProtection, EnableIAMDatabaseAuthentication, EnableCloudwatchLogsExports, CopyTagsToSnapshot, Tags, AutoMinorVersionUpgrade, CACertificateIdentifier, NetworkType, AvailabilityZone (single-AZ), LicenseModel copied from the source',
        },
        { kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until ${names.targetCluster} is available` },
        {
          kind: 'aws',
          target: 'rds:ModifyDBInstance',
          summary: `what a restore cannot set, on ${names.targetCluster}`,
          detail: 'ApplyImmediately=true BackupRetentionPeriod, PreferredBackupWindow, PreferredMaintenanceWindow, MonitoringInterval+MonitoringRoleArn, EnablePerformanceInsights+PerformanceInsightsKMSKeyId+PerformanceInsightsRetentionPeriod, MaxAllocatedStorage',
        },
        { kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until the settings show as applied; KmsKeyId must be the new key ARN` },
      ];
      if (profile(runbook).usesSlot) {
        instanceActions.push({ kind: 'sql', target: 'target', summary: `drop the copy of slot ${names.slot}`, detail: `SELECT pg_drop_replication_slot('${names.slot}')` });
      }
      return instanceActions;
    }
    const actions: PlannedAction[] = [
      { kind: 'aws', target: 'rds:ListTagsForResource', summary: `tags of ${runbook.source.identifier}` },
      {
        kind: 'aws',
        target: 'rds:RestoreDBClusterFromSnapshot',
        summary: `restore ${names.snapshot} as ${names.targetCluster} under ${runbook.target.kmsKeyId}`,
        detail: 'KmsKeyId, EngineVersion, DBSubnetGroupName, VpcSecurityGroupIds, DBClusterParameterGroupName, Port, DeletionProtection, EnableIAMDatabaseAuthentication, EnableCloudwatchLogsExports, CopyTagsToSnapshot, BackupRetentionPeriod, Tags copied from the source',
      },
      { kind: 'aws', target: 'rds:CreateDBInstance', summary: `writer ${names.targetWriter} (${runbook.target.instanceClass ?? 'source writer class'}, source writer parameter group)` },
      { kind: 'wait', target: 'rds:DescribeDBClusters', summary: `until ${names.targetCluster} and ${names.targetWriter} are available; KmsKeyId must be the new key ARN` },
    ];
    if (profile(runbook).usesSlot) {
      actions.push({ kind: 'sql', target: 'target', summary: `drop the copy of slot ${names.slot}`, detail: `SELECT pg_drop_replication_slot('${names.slot}')` });
    }
    return actions;
  },
  async run(ctx) {
    const { cloud, names, runbook, clock } = ctx.services;
    const engine = profile(runbook);
    if (engine.instance) return restoreInstance(ctx);
    const snap = required(ctx, 'snapshot', 'restore');
    const keyArn = await newKeyArn(ctx);
    const source = await mustFindCluster(ctx, runbook.source.identifier, 'source');
    const writerId = source.DBClusterMembers?.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
    const sourceWriter = writerId ? await findInstance(cloud, writerId) : undefined;

    let startedAt: number;
    const existing = await findCluster(cloud, names.targetCluster);
    if (existing) {
      ctx.report.log('info', `cluster ${names.targetCluster} already exists; not restoring again`);
      // Without a creation time, look back as far as any wait of the interrupted attempt could have lasted.
      startedAt = existing.ClusterCreateTime ? new Date(existing.ClusterCreateTime).getTime() : clock.now() - ctx.services.timing.waitMaxSeconds * 1000;
    } else {
      const tags = await restoreTags(ctx, source);
      startedAt = clock.now();
      await call('rds:RestoreDBClusterFromSnapshot', () =>
        cloud.rds.send(new RestoreDBClusterFromSnapshotCommand(restoreRequest(source, names.targetCluster, snap.snapshotId, keyArn, tags, engine.clusterEngine))),
      );
      crashPoint('restore:after-restore-call');
    }
    if (await findInstance(cloud, names.targetWriter)) {
      ctx.report.log('info', `instance ${names.targetWriter} already exists; not creating another`);
    } else {
      const instanceClass = runbook.target.instanceClass ?? sourceWriter?.DBInstanceClass;
      if (!instanceClass) throw new StepError('cannot tell the writer class: set target.instanceClass', 'rejected');
      const group = sourceWriter?.DBParameterGroups?.[0]?.DBParameterGroupName;
      await call('rds:CreateDBInstance', () =>
        cloud.rds.send(
          new CreateDBInstanceCommand({
            DBInstanceIdentifier: names.targetWriter,
            DBClusterIdentifier: names.targetCluster,
            Engine: source.Engine ?? engine.clusterEngine,
            DBInstanceClass: instanceClass,
            ...(group ? { DBParameterGroupName: group } : {}),
            ...(sourceWriter?.PubliclyAccessible !== undefined ? { PubliclyAccessible: sourceWriter.PubliclyAccessible } : {}),
            ...(sourceWriter?.PromotionTier !== undefined ? { PromotionTier: sourceWriter.PromotionTier } : {}),
            ...writerInsights(sourceWriter, source.KmsKeyId, keyArn),
            Tags: rekeyTags(ctx),
          }),
        ),
      );
    }
    const cluster = await waitClusterAvailable(cloud, names.targetCluster, waitEnv(ctx));
    await waitInstanceAvailable(cloud, names.targetWriter, waitEnv(ctx));
    if (cluster.KmsKeyId !== keyArn) {
      throw new StepError(`restored cluster ${names.targetCluster} reports KmsKeyId ${cluster.KmsKeyId ?? 'none'}, expected ${keyArn}`, 'fatal');
    }
    const droppedSlotCopy = engine.usesSlot ? await withTarget(ctx, (db) => db.dropSlotIfExists(names.slot)) : false;
    return {
      clusterId: names.targetCluster,
      ...(cluster.DBClusterArn ? { clusterArn: cluster.DBClusterArn } : {}),
      writerId: names.targetWriter,
      kmsKeyId: keyArn,
      droppedSlotCopy,
      startedAt: new Date(startedAt).toISOString(),
    };
  },
  keepOnRollback: 'the restored database under the new key',
  async undo(ctx) {
    // Only a target that was never switched to is deleted; after a switch the switch's undo renames back first.
    const { cloud, names } = ctx.services;
    if (output(ctx, 'switch') !== undefined) return;
    if (profile(ctx.services.runbook).instance) return undoRestoreInstance(ctx);
    const cluster = await findCluster(cloud, names.targetCluster);
    if (!cluster) return;
    if (cluster.DeletionProtection) {
      // Copied from the source by the restore (or clone): on the database this run made (its run-id tag says so), a
      // discard lifts it to delete it; anything else with the name is left alone.
      if (!madeByThisRun(ctx, cluster.TagList)) {
        ctx.report.log('warn', `${names.targetCluster} has deletion protection and no rekey:run-id tag of run ${ctx.runId}; leaving it for you to delete`);
        return;
      }
      if (!(await liftDeletionProtection(ctx, cluster))) return;
    }
    if (await findInstance(cloud, names.targetWriter)) {
      await call('rds:DeleteDBInstance', () => cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: names.targetWriter, SkipFinalSnapshot: true })));
      // A cluster cannot be deleted while it still has members.
      await poll({
        what: `instance ${names.targetWriter} deleted`,
        observe: () => findInstance(cloud, names.targetWriter),
        classify: (i) => (i ? { state: 'retry', note: `status ${i.DBInstanceStatus ?? '?'}` } : { state: 'success' }),
        ...pollTiming(waitEnv(ctx)),
      });
    }
    await call('rds:DeleteDBCluster', () => cloud.rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: names.targetCluster, SkipFinalSnapshot: true })));
  },
};
