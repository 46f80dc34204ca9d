// The Aurora topology around the writer: the source cluster's readers (each one's settings as CreateDBInstance takes
// them), its custom endpoints (members by instance), and Aurora Auto Scaling of its readers (Application Auto
// Scaling on `rds:cluster:ReadReplicaCount`). Read through the Cloud seam; what the new cluster gets is mapped here
// too (which new reader stands for which source reader), so steps, plan and report agree on one mapping.
import {
  DescribeScalableTargetsCommand,
  DescribeScalingPoliciesCommand,
} from '@aws-sdk/client-application-auto-scaling';
import type { ScalingPolicy } from '@aws-sdk/client-application-auto-scaling';
import { DescribeDBClusterEndpointsCommand, ListTagsForResourceCommand } from '@aws-sdk/client-rds';
import type { DBCluster, DBClusterEndpoint, DBInstance, Tag } from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';
import { awsErrorName, call, lookup } from '../aws/errors.js';
import { findInstance } from '../aws/rds.js';
import { globalOfPrimary, parseClusterArn } from './global.js';

/** Application Auto Scaling's dimension for the number of Aurora replicas. */
export const READ_REPLICA_COUNT = 'rds:cluster:ReadReplicaCount';
/** Readers Aurora Auto Scaling adds are named with this prefix; the policy, not rekey, makes them on the new cluster. */
export const AUTOSCALING_READER_PREFIX = 'application-autoscaling-';

/** One source reader and the reader rekey gives the new cluster, with every setting CreateDBInstance carries over. */
export interface ReaderSpec {
  /** The source reader's identifier. */
  source: string;
  /** The new cluster's reader that stands for it (`<target cluster>-r<n>`). */
  target: string;
  /** DBInstanceClass. */
  instanceClass: string;
  /** AvailabilityZone. */
  availabilityZone?: string;
  /** PromotionTier (failover order). */
  promotionTier?: number;
  /** DBParameterGroupName. */
  parameterGroup?: string;
  /** Enhanced Monitoring interval in seconds (0: off) and its role. */
  monitoringInterval?: number;
  monitoringRoleArn?: string;
  /** Performance Insights: on or off, the key its data is under at the source, retention in days. */
  performanceInsights?: boolean;
  performanceInsightsKmsKeyId?: string;
  performanceInsightsRetentionPeriod?: number;
  /** AutoMinorVersionUpgrade. */
  autoMinorVersionUpgrade?: boolean;
  /** PubliclyAccessible. */
  publiclyAccessible?: boolean;
  /** The source reader's user tags (aws:* excluded). */
  tags: { Key: string; Value: string }[];
}

/** A custom endpoint of the source cluster and its counterpart on the new cluster. */
export interface CustomEndpointSpec {
  /** DBClusterEndpointIdentifier: the name clients use; at the switch it moves to the new cluster. */
  name: string;
  /** The name it has on the new cluster before the switch (custom endpoints cannot be renamed). */
  temporary: string;
  /** CustomEndpointType: READER or ANY. */
  type: string;
  /** StaticMembers and ExcludedMembers on the source cluster. */
  staticMembers: string[];
  excludedMembers: string[];
  /** The same lists with each source instance replaced by its counterpart on the new cluster. */
  newStaticMembers: string[];
  newExcludedMembers: string[];
  /** Members that have no counterpart (readers Aurora Auto Scaling made): left out of the new lists. */
  unmapped: string[];
}

/** One scaling policy on the cluster's replica count, as PutScalingPolicy takes it back. */
export interface ScalingPolicySpec {
  /** PolicyName. */
  name: string;
  /** TargetTrackingScaling or StepScaling. */
  type: string;
  /** The policy's configuration (TargetTrackingScalingPolicyConfiguration or StepScalingPolicyConfiguration), as read. */
  configuration: Record<string, unknown>;
}

/** Aurora Auto Scaling of the cluster's readers. */
export interface AutoScalingSpec {
  /** `cluster:<source identifier>`: after the switch the new cluster answers to it. */
  resourceId: string;
  minCapacity: number;
  maxCapacity: number;
  /** SuspendedState as read (re-registered as it was). */
  suspended?: { DynamicScalingInSuspended?: boolean; DynamicScalingOutSuspended?: boolean; ScheduledScalingSuspended?: boolean };
  policies: ScalingPolicySpec[];
}

/** What the source cluster has around its writer, and what the new cluster gets. */
export interface AuroraTopology {
  /** The source writer and the new cluster's writer. */
  writer?: { source: string; target: string };
  /** Readers rekey recreates, in the order of their new names. */
  readers: ReaderSpec[];
  /** Readers left to Aurora Auto Scaling (it makes its own on the new cluster), with why. */
  skippedReaders: { source: string; why: string }[];
  customEndpoints: CustomEndpointSpec[];
  /** Aurora Auto Scaling of the readers, when registered. */
  autoScaling?: AutoScalingSpec;
  /** Why Auto Scaling could not be read (then it is not re-registered; the plan and the report say so). */
  autoScalingError?: string;
  /**
   * Aurora MySQL read replica clusters (binlog replication, usually in another Region: the source cluster's
   * ReadReplicaIdentifiers, global-database secondaries excluded). rekey does not recreate them: the plan, preflight
   * and the summary say so (absent in journals of an older rekey).
   */
  replicaClusters?: ReplicaClusterSpec[];
}

/** A read replica cluster of the source (binlog replication), as ReadReplicaIdentifiers names it. */
export interface ReplicaClusterSpec {
  /** Its identifier (from the ARN when it is in another Region). */
  identifier: string;
  region: string;
  /** As ReadReplicaIdentifiers lists it (an ARN, or an identifier in the source's Region). */
  ref: string;
}

/** How the new cluster's members are named. */
export interface TopologyNames {
  /** The new cluster's writer. */
  targetWriter: string;
  /** The n-th (1-based) reader of the new cluster. */
  reader(n: number): string;
  /** The pre-switch name of a custom endpoint on the new cluster. */
  temporaryEndpoint(name: string): string;
}

/** The reader settings CreateDBInstance takes (pure: the request is built from this). */
export function readerSpec(instance: DBInstance, target: string, tags: Tag[]): ReaderSpec {
  const i = instance;
  return {
    source: i.DBInstanceIdentifier ?? '?',
    target,
    instanceClass: i.DBInstanceClass ?? '',
    ...(i.AvailabilityZone ? { availabilityZone: i.AvailabilityZone } : {}),
    ...(i.PromotionTier !== undefined ? { promotionTier: i.PromotionTier } : {}),
    ...(i.DBParameterGroups?.[0]?.DBParameterGroupName ? { parameterGroup: i.DBParameterGroups[0].DBParameterGroupName } : {}),
    ...(i.MonitoringInterval !== undefined ? { monitoringInterval: i.MonitoringInterval } : {}),
    ...(i.MonitoringRoleArn ? { monitoringRoleArn: i.MonitoringRoleArn } : {}),
    ...(i.PerformanceInsightsEnabled !== undefined ? { performanceInsights: i.PerformanceInsightsEnabled } : {}),
    ...(i.PerformanceInsightsKMSKeyId ? { performanceInsightsKmsKeyId: i.PerformanceInsightsKMSKeyId } : {}),
    ...(i.PerformanceInsightsRetentionPeriod !== undefined ? { performanceInsightsRetentionPeriod: i.PerformanceInsightsRetentionPeriod } : {}),
    ...(i.AutoMinorVersionUpgrade !== undefined ? { autoMinorVersionUpgrade: i.AutoMinorVersionUpgrade } : {}),
    ...(i.PubliclyAccessible !== undefined ? { publiclyAccessible: i.PubliclyAccessible } : {}),
    tags: tags.flatMap((t) => (t.Key && !t.Key.startsWith('aws:') && !t.Key.startsWith('rekey:') ? [{ Key: t.Key, Value: t.Value ?? '' }] : [])),
  };
}

/** A source member list mapped onto the new cluster's members; members without a counterpart are returned apart. */
function mapMembers(members: string[], map: Map<string, string>): { mapped: string[]; unmapped: string[] } {
  const mapped: string[] = [];
  const unmapped: string[] = [];
  for (const m of members) {
    const to = map.get(m.toLowerCase());
    if (to) mapped.push(to);
    else unmapped.push(m);
  }
  return { mapped, unmapped };
}

/** The custom endpoints of a cluster (every page). */
export async function customEndpoints(cloud: Cloud, clusterId: string): Promise<DBClusterEndpoint[]> {
  const all: DBClusterEndpoint[] = [];
  let marker: string | undefined;
  do {
    const out = await call(`rds:DescribeDBClusterEndpoints ${clusterId}`, () =>
      cloud.rds.send(new DescribeDBClusterEndpointsCommand({ DBClusterIdentifier: clusterId, Filters: [{ Name: 'db-cluster-endpoint-type', Values: ['custom'] }], ...(marker ? { Marker: marker } : {}) })),
    );
    all.push(...(out.DBClusterEndpoints ?? []).filter((e) => e.EndpointType === 'CUSTOM'));
    marker = out.Marker;
  } while (marker);
  return all;
}

/** The custom endpoint of that name, on whichever cluster, or undefined. */
export async function findCustomEndpoint(cloud: Cloud, name: string): Promise<DBClusterEndpoint | undefined> {
  return lookup(`rds:DescribeDBClusterEndpoints ${name}`, async () => {
    const out = await cloud.rds.send(new DescribeDBClusterEndpointsCommand({ DBClusterEndpointIdentifier: name }));
    return out.DBClusterEndpoints?.find((e) => e.DBClusterEndpointIdentifier?.toLowerCase() === name.toLowerCase());
  });
}

/** Aurora Auto Scaling of a cluster's readers, or undefined when none is registered. */
export async function readAutoScaling(cloud: Cloud, clusterId: string): Promise<AutoScalingSpec | undefined> {
  const resourceId = `cluster:${clusterId}`;
  const targets = await call('application-autoscaling:DescribeScalableTargets', () =>
    cloud.autoscaling.send(new DescribeScalableTargetsCommand({ ServiceNamespace: 'rds', ResourceIds: [resourceId], ScalableDimension: READ_REPLICA_COUNT })),
  );
  const target = targets.ScalableTargets?.find((t) => t.ResourceId === resourceId);
  if (!target) return undefined;
  const policies: ScalingPolicy[] = [];
  let next: string | undefined;
  do {
    const out = await call('application-autoscaling:DescribeScalingPolicies', () =>
      cloud.autoscaling.send(new DescribeScalingPoliciesCommand({ ServiceNamespace: 'rds', ResourceId: resourceId, ScalableDimension: READ_REPLICA_COUNT, ...(next ? { NextToken: next } : {}) })),
    );
    policies.push(...(out.ScalingPolicies ?? []));
    next = out.NextToken;
  } while (next);
  return {
    resourceId,
    minCapacity: target.MinCapacity ?? 0,
    maxCapacity: target.MaxCapacity ?? 0,
    ...(target.SuspendedState ? { suspended: { ...target.SuspendedState } } : {}),
    policies: policies.flatMap((p) => {
      const configuration = p.TargetTrackingScalingPolicyConfiguration ?? p.StepScalingPolicyConfiguration;
      return p.PolicyName && p.PolicyType && configuration ? [{ name: p.PolicyName, type: p.PolicyType, configuration: structuredClone(configuration) as Record<string, unknown> }] : [];
    }),
  };
}

/**
 * The source's read replica clusters (binlog replication). A global database's secondaries are moved by
 * topology-global, so any of them listed here too is left out.
 */
export async function replicaClustersOf(cloud: Cloud, source: DBCluster, homeRegion: string): Promise<ReplicaClusterSpec[]> {
  const refs = source.ReadReplicaIdentifiers ?? [];
  if (refs.length === 0) return [];
  const global = await globalOfPrimary(cloud, source.DBClusterArn);
  const secondaries = new Set((global?.GlobalClusterMembers ?? []).flatMap((m) => (m.DBClusterArn ? [m.DBClusterArn] : [])));
  return refs
    .filter((ref) => !secondaries.has(ref))
    .map((ref) => {
      const arn = parseClusterArn(ref);
      return { identifier: arn?.identifier ?? ref, region: arn?.region ?? homeRegion, ref };
    })
    .sort((a, b) => a.region.localeCompare(b.region) || a.identifier.localeCompare(b.identifier));
}

/** Reads the source cluster's topology and maps it onto the new cluster's names. */
export async function discoverAurora(cloud: Cloud, source: DBCluster, names: TopologyNames, homeRegion: string): Promise<AuroraTopology> {
  const members = source.DBClusterMembers ?? [];
  const writerId = members.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
  const readerIds = members.filter((m) => !m.IsClusterWriter).flatMap((m) => (m.DBInstanceIdentifier ? [m.DBInstanceIdentifier] : [])).sort();
  const skippedReaders = readerIds.filter((id) => id.startsWith(AUTOSCALING_READER_PREFIX)).map((id) => ({ source: id, why: 'made by Aurora Auto Scaling: its policy makes readers on the new cluster' }));
  const recreated = readerIds.filter((id) => !id.startsWith(AUTOSCALING_READER_PREFIX));
  const readers: ReaderSpec[] = [];
  for (const [i, id] of recreated.entries()) {
    const instance = await findInstance(cloud, id);
    if (!instance) continue;
    const tags = instance.TagList ?? (instance.DBInstanceArn
      ? (await call('rds:ListTagsForResource', () => cloud.rds.send(new ListTagsForResourceCommand({ ResourceName: instance.DBInstanceArn })))).TagList ?? []
      : []);
    readers.push(readerSpec(instance, names.reader(i + 1), tags));
  }
  const map = new Map<string, string>([...(writerId ? [[writerId.toLowerCase(), names.targetWriter] as [string, string]] : []), ...readers.map((r) => [r.source.toLowerCase(), r.target] as [string, string])]);
  const endpoints = source.DBClusterIdentifier ? await customEndpoints(cloud, source.DBClusterIdentifier) : [];
  const customs = endpoints.flatMap((e): CustomEndpointSpec[] => {
    const name = e.DBClusterEndpointIdentifier;
    if (!name) return [];
    const staticMembers = e.StaticMembers ?? [];
    const excludedMembers = e.ExcludedMembers ?? [];
    const s = mapMembers(staticMembers, map);
    const x = mapMembers(excludedMembers, map);
    return [{ name, temporary: names.temporaryEndpoint(name), type: e.CustomEndpointType ?? 'ANY', staticMembers, excludedMembers, newStaticMembers: s.mapped, newExcludedMembers: x.mapped, unmapped: [...s.unmapped, ...x.unmapped] }];
  });
  let autoScaling: AutoScalingSpec | undefined;
  let autoScalingError: string | undefined;
  try {
    autoScaling = source.DBClusterIdentifier ? await readAutoScaling(cloud, source.DBClusterIdentifier) : undefined;
  } catch (error) {
    // Without the permission (or the service) the rest of the topology still moves; the plan and report say so.
    autoScalingError = `${awsErrorName((error as { cause?: unknown }).cause ?? error)}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const replicaClusters = await replicaClustersOf(cloud, source, homeRegion);
  return {
    ...(writerId ? { writer: { source: writerId, target: names.targetWriter } } : {}),
    readers,
    skippedReaders,
    customEndpoints: customs.sort((a, b) => a.name.localeCompare(b.name)),
    ...(autoScaling ? { autoScaling } : {}),
    ...(autoScalingError ? { autoScalingError } : {}),
    ...(replicaClusters.length > 0 ? { replicaClusters } : {}),
  };
}

/** What becomes of a read replica cluster of the source (plan, preflight, report). */
export const REPLICA_CLUSTER_LEFT =
  'NOT recreated by rekey: it keeps replicating from the old cluster, whose writers stay fenced after the switch, so it stops receiving changes; after the switch create it again from the new cluster under a key of its Region (CreateDBCluster with ReplicationSourceIdentifier and KmsKeyId) and delete the old one, or make it a global-database secondary first (rekey moves those)';

/** One line per part of the topology: what it is and what rekey does with it (preflight, plan, report). */
export function describeTopology(t: AuroraTopology, sourceId: string, keepNames = false): string[] {
  const lines: string[] = [];
  // cutover.renameInstances: the new instance takes the name after the switch (src/steps/topology-instances.ts).
  const name = (id: string): string => (keepNames ? `after the switch it takes the name ${id} (the old one is renamed away)` : 'the instance name changes');
  if (t.writer) lines.push(`writer ${t.writer.source}: restored as ${t.writer.target}; ${keepNames ? name(t.writer.source) : 'the instance name changes (its instance endpoint stays with the old cluster)'}`);
  for (const r of t.readers) {
    lines.push(`reader ${r.source} (${r.instanceClass}${r.availabilityZone ? `, ${r.availabilityZone}` : ''}${r.promotionTier !== undefined ? `, tier ${r.promotionTier}` : ''}): recreated as ${r.target} before the cutover gate; ${name(r.source)}`);
  }
  for (const s of t.skippedReaders) lines.push(`reader ${s.source}: not recreated (${s.why})`);
  for (const e of t.customEndpoints) {
    const members = e.staticMembers.length > 0 ? `static ${e.staticMembers.join(', ')}` : e.excludedMembers.length > 0 ? `all but ${e.excludedMembers.join(', ')}` : 'all eligible instances';
    lines.push(`custom endpoint ${e.name} (${e.type}, ${members}): made as ${e.temporary} on the new cluster before the gate; at the switch the old one is deleted and ${e.name} is created on the new cluster${e.unmapped.length > 0 ? ` (left out, no counterpart: ${e.unmapped.join(', ')})` : ''}`);
  }
  if (t.autoScaling) {
    lines.push(`Aurora Auto Scaling ${t.autoScaling.resourceId} (${t.autoScaling.minCapacity}-${t.autoScaling.maxCapacity} readers, ${t.autoScaling.policies.length} polic${t.autoScaling.policies.length === 1 ? 'y' : 'ies'}): registered again for ${sourceId} after the switch`);
  } else if (t.autoScalingError) {
    lines.push(`Aurora Auto Scaling: could not be read (${t.autoScalingError}); not re-registered`);
  } else {
    lines.push('Aurora Auto Scaling: none registered');
  }
  for (const r of t.replicaClusters ?? []) lines.push(`read replica cluster ${r.identifier} (${r.region}, binlog replication): ${REPLICA_CLUSTER_LEFT}`);
  return lines;
}
