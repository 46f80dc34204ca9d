// topology-readers (Aurora, before the cutover gate): read the source cluster's readers, custom endpoints and Auto
// Scaling once (src/topology/aurora.ts), and give the new cluster the same readers: one CreateDBInstance per source
// reader with its class, AZ, promotion tier, parameter group, monitoring, Performance Insights, minor-version
// upgrades and tags, each under a deterministic name so a resumed run finds what it made; then wait until all are
// available. The gate shows them.
import { CreateDBInstanceCommand, DeleteDBInstanceCommand } from '@aws-sdk/client-rds';
import type { CreateDBInstanceCommandInput, Tag } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { poll } from '../aws/poll.js';
import { findInstance, pollTiming, waitInstanceAvailable } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { describeTopology, discoverAurora } from '../topology/aurora.js';
import type { AuroraTopology, ReaderSpec } from '../topology/aurora.js';
import { checkAborted, mustFindCluster, newKeyArn, output, rekeyTags, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import { performanceInsightsKey } from './instance.js';
import { topologyNames } from './names.js';
import type { RekeyServices } from './services.js';
import type { TopologyReadersOutput } from './outputs.js';

/** The CreateDBInstance request of a new reader: every setting of the source reader, Performance Insights on the new key. */
export function readerRequest(r: ReaderSpec, clusterId: string, engine: string, oldKey: string | undefined, newKey: string, tags: Tag[]): CreateDBInstanceCommandInput {
  const piKey = r.performanceInsights ? performanceInsightsKey(r.performanceInsightsKmsKeyId, oldKey, newKey) : undefined;
  const own = new Set(tags.map((t) => t.Key ?? ''));
  return {
    DBInstanceIdentifier: r.target,
    DBClusterIdentifier: clusterId,
    Engine: engine,
    DBInstanceClass: r.instanceClass,
    ...(r.availabilityZone ? { AvailabilityZone: r.availabilityZone } : {}),
    ...(r.promotionTier !== undefined ? { PromotionTier: r.promotionTier } : {}),
    ...(r.parameterGroup ? { DBParameterGroupName: r.parameterGroup } : {}),
    ...((r.monitoringInterval ?? 0) > 0 && r.monitoringRoleArn ? { MonitoringInterval: r.monitoringInterval, MonitoringRoleArn: r.monitoringRoleArn } : {}),
    ...(r.performanceInsights
      ? { EnablePerformanceInsights: true, ...(piKey ? { PerformanceInsightsKMSKeyId: piKey } : {}), ...(r.performanceInsightsRetentionPeriod !== undefined ? { PerformanceInsightsRetentionPeriod: r.performanceInsightsRetentionPeriod } : {}) }
      : {}),
    ...(r.autoMinorVersionUpgrade !== undefined ? { AutoMinorVersionUpgrade: r.autoMinorVersionUpgrade } : {}),
    ...(r.publiclyAccessible !== undefined ? { PubliclyAccessible: r.publiclyAccessible } : {}),
    Tags: [...r.tags.filter((t) => !own.has(t.Key)), ...tags],
  };
}

/** The topology as this run read it (topology-readers), or as preflight found it (for the plan). */
export function runTopology(ctx: Ctx): AuroraTopology | undefined {
  return output(ctx, 'topology-readers')?.topology ?? output(ctx, 'preflight')?.topology?.found;
}

/** Reads the source cluster's topology, mapped onto this run's names. */
export async function readTopology(ctx: Ctx): Promise<AuroraTopology> {
  const source = await mustFindCluster(ctx, ctx.services.runbook.source.identifier, 'source');
  return discoverAurora(ctx.services.cloud, source, topologyNames(ctx.services.runbook, ctx.runId), ctx.services.runbook.region);
}

/** Deletes the new readers that exist and waits until they are gone (a cluster cannot be deleted with members). */
export async function deleteReaders(ctx: Ctx, targets: string[]): Promise<void> {
  const { cloud } = ctx.services;
  const present: string[] = [];
  for (const id of targets) if (await findInstance(cloud, id)) present.push(id);
  for (const id of present) {
    await call(`rds:DeleteDBInstance ${id}`, () => cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id, SkipFinalSnapshot: true })));
  }
  for (const id of present) {
    await poll({
      what: `reader ${id} deleted`,
      observe: () => findInstance(cloud, id),
      classify: (i) => (i ? { state: 'retry', note: `status ${i.DBInstanceStatus ?? '?'}` } : { state: 'success' }),
      ...pollTiming(waitEnv(ctx)),
    });
  }
}

export const topologyReaders: Step<RekeyServices, TopologyReadersOutput> = {
  id: 'topology-readers',
  title: 'Recreate the readers on the new cluster',
  describe(ctx) {
    const { names, runbook } = ctx.services;
    const t = runTopology(ctx);
    const actions: PlannedAction[] = [
      { kind: 'aws', target: 'rds:DescribeDBClusters', summary: `members of ${runbook.source.identifier}: the writer and every reader` },
      { kind: 'aws', target: 'rds:DescribeDBInstances', summary: 'each reader: class, AZ, promotion tier, parameter group, monitoring, Performance Insights, minor-version upgrades, tags' },
      { kind: 'aws', target: 'rds:DescribeDBClusterEndpoints', summary: `custom endpoints of ${runbook.source.identifier}` },
      { kind: 'aws', target: 'application-autoscaling:DescribeScalableTargets', summary: `Aurora Auto Scaling of cluster:${runbook.source.identifier} (rds:cluster:ReadReplicaCount) and its policies` },
    ];
    if (!t) {
      actions.push({ kind: 'aws', target: 'rds:CreateDBInstance', summary: `one reader of ${names.targetCluster} per source reader (${names.targetCluster}-r1, -r2, ...), same settings; none if the source has none` });
    } else {
      for (const r of t.readers) {
        actions.push({ kind: 'aws', target: 'rds:CreateDBInstance', summary: `reader ${r.target} in ${names.targetCluster} for ${r.source}`, detail: `DBInstanceClass=${r.instanceClass}${r.availabilityZone ? ` AvailabilityZone=${r.availabilityZone}` : ''}${r.promotionTier !== undefined ? ` PromotionTier=${r.promotionTier}` : ''}${r.parameterGroup ? ` DBParameterGroupName=${r.parameterGroup}` : ''}` });
      }
      if (t.readers.length === 0) actions.push({ kind: 'note', target: 'readers', summary: `${runbook.source.identifier} has no reader to recreate` });
      for (const line of describeTopology(t, runbook.source.identifier, runbook.cutover.renameInstances && runbook.cutover.switch === 'rename')) actions.push({ kind: 'note', target: 'topology', summary: line });
    }
    actions.push({ kind: 'wait', target: 'rds:DescribeDBInstances', summary: 'until every new reader is available (the cutover gate lists them)' });
    return actions;
  },
  async run(ctx) {
    const { cloud, names, runbook } = ctx.services;
    // Read once: a re-entered step acts on the same mapping (the names are deterministic either way).
    const topology = (ctx.checkpoints?.['topology-readers']?.topology as AuroraTopology | undefined) ?? (await readTopology(ctx));
    await ctx.checkpoint?.('topology', topology);
    const newKey = await newKeyArn(ctx);
    const oldKey = output(ctx, 'preflight')?.source?.kmsKeyId;
    for (const r of topology.readers) {
      checkAborted(ctx);
      if (await findInstance(cloud, r.target)) {
        ctx.report.log('info', `reader ${r.target} already exists; not creating another`);
        continue;
      }
      await call(`rds:CreateDBInstance ${r.target}`, () =>
        cloud.rds.send(new CreateDBInstanceCommand(readerRequest(r, names.targetCluster, profile(runbook).clusterEngine, oldKey, newKey, rekeyTags(ctx)))),
      );
      crashPoint('topology-readers:after-create');
      ctx.report.log('info', `creating reader ${r.target} (${r.instanceClass}) for ${r.source}`);
    }
    const available: string[] = [];
    for (const r of topology.readers) {
      await waitInstanceAvailable(cloud, r.target, waitEnv(ctx));
      available.push(r.target);
    }
    if (topology.readers.length > 0) ctx.report.progress(`readers available on ${names.targetCluster}: ${available.join(', ')}`);
    return { topology, available };
  },
  async undo(ctx) {
    // After a switch the new readers serve the source identifier: the switch's undo renames back first, and the
    // readers go with the new cluster (restore's undo deletes only a cluster that was never switched to).
    if (output(ctx, 'switch') !== undefined) return;
    const topology = runTopology(ctx) ?? (ctx.checkpoints?.['topology-readers']?.topology as AuroraTopology | undefined);
    const names = topologyNames(ctx.services.runbook, ctx.runId);
    // Without the recorded topology (the step never finished reading it) look for the names it would have used.
    const targets = topology ? topology.readers.map((r) => r.target) : Array.from({ length: 15 }, (_, i) => names.reader(i + 1));
    await deleteReaders(ctx, targets);
  },
};
