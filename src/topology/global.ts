// Aurora Global Database: what preflight finds when the source cluster is the primary of a global database (each
// secondary cluster read in its own Region: settings and instances), the names the run gives the new global cluster
// and secondaries, and the requests that put the new cluster at the head of a global database and add each secondary
// Region under that Region's key. Facts (Amazon RDS API Reference): CreateGlobalCluster with SourceDBClusterIdentifier
// (the ARN of an existing cluster) makes that cluster the primary, its engine, version and database taken from it;
// a secondary is CreateDBCluster in its Region with GlobalClusterIdentifier and, for an encrypted global database, a
// KmsKeyId valid in that Region (KMS keys are regional; without one RDS uses the Region's default key); SourceRegion /
// PreSignedUrl belong to ReplicationSourceIdentifier (cross-Region read replica clusters), not to global secondaries.
// ModifyGlobalCluster NewGlobalClusterIdentifier renames a global cluster (1-63 letters, digits, hyphens).
import { DescribeGlobalClustersCommand } from '@aws-sdk/client-rds';
import type { CreateDBClusterCommandInput, CreateDBInstanceCommandInput, CreateGlobalClusterCommandInput, DBCluster, GlobalCluster, Tag } from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';
import { awsErrorName, lookup } from '../aws/errors.js';
import { findCluster, findInstance } from '../aws/rds.js';
import type { Runbook } from '../runbook/schema.js';
import type { Check, RegionKey } from './replicas.js';
import { checkRegionKey, regionCloud, regionKeyRef } from './replicas.js';

/** One instance of a secondary cluster (a secondary has readers only), as the new secondary gets it again. */
export interface SecondaryInstanceInfo {
  /** DBInstanceIdentifier of the old secondary's instance. */
  identifier: string;
  instanceClass: string;
  availabilityZone?: string;
  parameterGroup?: string;
  promotionTier?: number;
}

/** A secondary cluster of the source's global database, read in its own Region. */
export interface GlobalSecondaryInfo {
  /** DBClusterIdentifier in its Region. */
  identifier: string;
  region: string;
  arn: string;
  /** Its key today (a key of its Region). */
  kmsKeyId?: string;
  engine?: string;
  engineVersion?: string;
  subnetGroup?: string;
  parameterGroup?: string;
  securityGroupIds?: string[];
  /** Its instances (count and class mirrored on the new secondary). */
  instances: SecondaryInstanceInfo[];
}

/** The source's global database as preflight found it, and what the run does with it. */
export interface GlobalPlan {
  /** GlobalClusterIdentifier. */
  identifier: string;
  secondaries: GlobalSecondaryInfo[];
  /** Secondary Regions, sorted. */
  regions: string[];
  /** Each secondary Region's key as checked there (target.regionKeys). */
  regionKeys: RegionKey[];
  /** What happens to the global cluster and each secondary (plan, report). */
  actions: string[];
}

const MAX_IDENTIFIER = 63;

function withSuffix(identifier: string, suffix: string): string {
  return `${identifier.toLowerCase().slice(0, MAX_IDENTIFIER - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** The names a run gives the global database's parts. With a switch the new ones take the old names (the old ones parked). */
export interface GlobalNames {
  /** The global cluster the new cluster heads. */
  global: string;
  /** Where the old global cluster is parked (renames only). */
  oldGlobal?: string;
  /** The new secondary cluster of a Region's old one. */
  secondary(old: string): string;
  /** Where an old secondary is parked (renames only). */
  oldSecondary(old: string): string | undefined;
  /** The n-th (1-based) instance of a new secondary. */
  instance(old: string, n: number): string;
}

export function globalNames(globalId: string, runId: string, renames: boolean): GlobalNames {
  return {
    global: renames ? globalId.toLowerCase() : withSuffix(globalId, `-rekey-${runId}`),
    ...(renames ? { oldGlobal: withSuffix(globalId, `-old-${runId}`) } : {}),
    secondary: (old) => (renames ? old.toLowerCase() : withSuffix(old, `-rekey-${runId}`)),
    oldSecondary: (old) => (renames ? withSuffix(old, `-old-${runId}`) : undefined),
    instance: (old, n) => withSuffix(old, `-rekey-${runId}-${n}`),
  };
}

/** The region and identifier of a cluster ARN. */
export function parseClusterArn(arn: string): { region: string; identifier: string } | undefined {
  const m = /^arn:[a-z-]+:rds:([a-z0-9-]+):\d{12}:cluster:(.+)$/.exec(arn);
  return m?.[1] && m[2] ? { region: m[1], identifier: m[2] } : undefined;
}

/** The global cluster whose writer member is `clusterArn`, if any (every page of DescribeGlobalClusters). */
export async function globalOfPrimary(cloud: Cloud, clusterArn: string | undefined): Promise<GlobalCluster | undefined> {
  if (!clusterArn) return undefined;
  let marker: string | undefined;
  do {
    const out = await lookup('rds:DescribeGlobalClusters', () => cloud.rds.send(new DescribeGlobalClustersCommand({ ...(marker ? { Marker: marker } : {}) })));
    const found = (out?.GlobalClusters ?? []).find((g) => (g.GlobalClusterMembers ?? []).some((m) => m.DBClusterArn === clusterArn && m.IsWriter !== false));
    if (found) return found;
    marker = out?.Marker;
  } while (marker);
  return undefined;
}

/** A global cluster by identifier, or undefined. */
export async function findGlobal(cloud: Cloud, id: string): Promise<GlobalCluster | undefined> {
  const out = await lookup(`rds:DescribeGlobalClusters ${id}`, () => cloud.rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: id })));
  return out?.GlobalClusters?.find((g) => g.GlobalClusterIdentifier?.toLowerCase() === id.toLowerCase());
}

async function secondaryInfo(there: Cloud, c: DBCluster, region: string): Promise<GlobalSecondaryInfo> {
  const instances: SecondaryInstanceInfo[] = [];
  for (const m of [...(c.DBClusterMembers ?? [])].sort((a, b) => (a.DBInstanceIdentifier ?? '').localeCompare(b.DBInstanceIdentifier ?? ''))) {
    if (!m.DBInstanceIdentifier) continue;
    const i = await findInstance(there, m.DBInstanceIdentifier);
    if (!i) continue;
    instances.push({
      identifier: m.DBInstanceIdentifier, instanceClass: i.DBInstanceClass ?? '',
      ...(i.AvailabilityZone ? { availabilityZone: i.AvailabilityZone } : {}),
      ...(i.DBParameterGroups?.[0]?.DBParameterGroupName ? { parameterGroup: i.DBParameterGroups[0].DBParameterGroupName } : {}),
      ...(i.PromotionTier !== undefined ? { promotionTier: i.PromotionTier } : {}),
    });
  }
  const groups = (c.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId ? [g.VpcSecurityGroupId] : []));
  return {
    identifier: c.DBClusterIdentifier ?? '?', region, arn: c.DBClusterArn ?? '',
    ...(c.KmsKeyId ? { kmsKeyId: c.KmsKeyId } : {}),
    ...(c.Engine ? { engine: c.Engine } : {}),
    ...(c.EngineVersion ? { engineVersion: c.EngineVersion } : {}),
    ...(c.DBSubnetGroup ? { subnetGroup: c.DBSubnetGroup } : {}),
    ...(c.DBClusterParameterGroup ? { parameterGroup: c.DBClusterParameterGroup } : {}),
    ...(groups.length > 0 ? { securityGroupIds: groups } : {}),
    instances,
  };
}

/**
 * Preflight's part for an Aurora source that is the primary of a global database: each secondary read in its Region
 * (a Region rekey cannot reach, or a secondary it cannot read, is a problem), each secondary Region's key checked
 * there (a Region without a target.regionKeys entry is a problem: its secondary could not be re-added), and the plan.
 */
export async function globalClusterPreflight(
  cloud: Cloud,
  rb: Runbook,
  cluster: Pick<DBCluster, 'DBClusterArn' | 'DBClusterIdentifier'>,
  runId: string,
): Promise<{ checks: Check[]; plan?: GlobalPlan }> {
  const checks: Check[] = [];
  const add = (id: string, ok: boolean, severity: Check['severity'], message: string): void => void checks.push({ id, ok, severity, message });
  const global = await globalOfPrimary(cloud, cluster.DBClusterArn);
  if (!global) return { checks };
  const identifier = global.GlobalClusterIdentifier ?? '?';
  const secondaries: GlobalSecondaryInfo[] = [];
  for (const m of global.GlobalClusterMembers ?? []) {
    if (m.DBClusterArn === cluster.DBClusterArn || !m.DBClusterArn) continue;
    const ref = parseClusterArn(m.DBClusterArn);
    const there = ref ? regionCloud(cloud, ref.region) : undefined;
    if (!ref || !there) {
      add(`global.readable.${ref?.region ?? '?'}`, false, 'error', `secondary ${m.DBClusterArn} of global database ${identifier}: rekey cannot reach ${ref?.region ?? 'its Region'} from here`);
      continue;
    }
    try {
      const c = await findCluster(there, ref.identifier);
      if (!c) add(`global.readable.${ref.region}`, false, 'error', `secondary ${ref.identifier} in ${ref.region} of global database ${identifier}: listed but not found`);
      else secondaries.push(await secondaryInfo(there, c, ref.region));
    } catch (error) {
      add(`global.readable.${ref.region}`, false, 'error', `secondary ${ref.identifier} in ${ref.region}: ${error instanceof Error ? `${awsErrorName(error)}: ${error.message}` : String(error)}`);
    }
  }
  const regions = [...new Set(secondaries.map((s) => s.region))].sort();
  const regionKeys: RegionKey[] = [];
  for (const region of regions) {
    const ref = regionKeyRef(rb, region);
    if (ref === undefined) {
      add(`global.key.${region}`, false, 'error', `global database ${identifier} has a secondary in ${region}, but target.regionKeys has no key for ${region}: add {${region}: alias/...} (a key of that Region) so rekey can add the Region again under it`);
      continue;
    }
    const found = await checkRegionKey(cloud, region, ref);
    checks.push(...found.checks);
    regionKeys.push(found.key);
  }
  const renames = rb.cutover.switch === 'rename';
  const names = globalNames(identifier, runId, renames);
  const actions = [
    renames
      ? `global database ${identifier}: renamed to ${names.oldGlobal ?? '?'} (it keeps the old cluster and the old secondaries, for rollback); a new ${identifier} is created with the new cluster as its primary`
      : `global database ${identifier}: kept; a new global database ${names.global} is created with the new cluster as its primary`,
    ...secondaries.map((s) => {
      const key = regionKeyRef(rb, s.region) ?? '(no key: add it to target.regionKeys)';
      const inst = `${s.instances.length} instance${s.instances.length === 1 ? '' : 's'}${s.instances.length > 0 ? ` (${[...new Set(s.instances.map((i) => i.instanceClass))].join(', ')})` : ''}`;
      return renames
        ? `secondary ${s.identifier} in ${s.region}: renamed to ${names.oldSecondary(s.identifier) ?? '?'} (stays in the old global database), then added again as ${s.identifier} in ${identifier} under ${key} with ${inst}`
        : `secondary ${s.identifier} in ${s.region}: kept; ${names.secondary(s.identifier)} is added to ${names.global} under ${key} with ${inst}`;
    }),
  ];
  add('global.secondaries', true, 'warning', `${cluster.DBClusterIdentifier ?? 'the source'} is the primary of Aurora global database ${identifier} (secondary Regions: ${regions.join(', ') || 'none'}); after the switch: ${actions.join('; ')}; each Region is without a secondary of the new cluster until its secondary is available`);
  return { checks, plan: { identifier, secondaries, regions, regionKeys, actions } };
}

/** CreateGlobalCluster with the new cluster (by ARN) as its primary: engine, version and database come from it. */
export function globalClusterRequest(globalId: string, primaryArn: string, tags: Tag[]): CreateGlobalClusterCommandInput {
  return { GlobalClusterIdentifier: globalId, SourceDBClusterIdentifier: primaryArn, Tags: tags };
}

/** CreateDBCluster of a secondary in its Region: in the global cluster, under that Region's key, the old secondary's settings. */
export function secondaryClusterRequest(
  s: GlobalSecondaryInfo,
  name: string,
  globalId: string,
  primary: Pick<DBCluster, 'Engine' | 'EngineVersion'>,
  keyArn: string,
  tags: Tag[],
): CreateDBClusterCommandInput {
  return {
    DBClusterIdentifier: name,
    GlobalClusterIdentifier: globalId,
    Engine: primary.Engine ?? s.engine,
    EngineVersion: primary.EngineVersion ?? s.engineVersion,
    KmsKeyId: keyArn,
    StorageEncrypted: true,
    ...(s.subnetGroup ? { DBSubnetGroupName: s.subnetGroup } : {}),
    ...(s.parameterGroup ? { DBClusterParameterGroupName: s.parameterGroup } : {}),
    ...(s.securityGroupIds ? { VpcSecurityGroupIds: s.securityGroupIds } : {}),
    Tags: tags,
  };
}

/** CreateDBInstance of a new secondary's instance, mirroring the old secondary's instance. */
export function secondaryInstanceRequest(i: SecondaryInstanceInfo, name: string, clusterId: string, engine: string, tags: Tag[]): CreateDBInstanceCommandInput {
  return {
    DBInstanceIdentifier: name,
    DBClusterIdentifier: clusterId,
    Engine: engine,
    DBInstanceClass: i.instanceClass,
    ...(i.availabilityZone ? { AvailabilityZone: i.availabilityZone } : {}),
    ...(i.parameterGroup ? { DBParameterGroupName: i.parameterGroup } : {}),
    ...(i.promotionTier !== undefined ? { PromotionTier: i.promotionTier } : {}),
    Tags: tags,
  };
}
