// The read replicas of an RDS DB instance, as rekey must recreate them under the new key: discovery (same-Region by
// identifier, cross-Region by ARN, read in their own Region), the checks of each secondary Region's key, and the
// requests that recreate them (CreateDBInstanceReadReplica); Aurora Global Database secondaries are in global.ts.
// Facts: a same-Region replica always has the primary's key (KmsKeyId must not be given); a cross-Region one needs a key of its own Region (KmsKeyId)
// and, through the SDK, SourceRegion (the SDK computes the presigned URL from it).
import { DescribeKeyCommand, GetKeyPolicyCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { KeyMetadata } from '@aws-sdk/client-kms';
import type { CreateDBInstanceReadReplicaCommandInput, DBCluster, DBInstance, Tag } from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';
import { awsErrorName } from '../aws/errors.js';
import { findInstance } from '../aws/rds.js';
import type { Runbook } from '../runbook/schema.js';
import { evaluateKeyPolicy } from '../aws/key-policy.js';

/** A preflight check, the shape preflight's own checks have (src/db/types.ts Check; src/topology opens no database module). */
export interface Check {
  id: string;
  ok: boolean;
  severity: 'error' | 'warning';
  message: string;
}

/** A read replica of the source as found before the run, with what its recreation carries over. */
export interface ReplicaInfo {
  /** DBInstanceIdentifier (in its own Region). */
  identifier: string;
  /** Its Region. */
  region: string;
  /** Whether it lives in another Region than the source. */
  crossRegion: boolean;
  /** DBInstanceArn. */
  arn?: string;
  /** Its key today (the old key, or for a cross-Region replica a key of its Region). */
  kmsKeyId?: string;
  /** Settings the new replica gets. */
  instanceClass?: string;
  availabilityZone?: string;
  storageType?: string;
  allocatedStorage?: number;
  iops?: number;
  storageThroughput?: number;
  maxAllocatedStorage?: number;
  parameterGroup?: string;
  optionGroup?: string;
  subnetGroup?: string;
  securityGroupIds?: string[];
  multiAz?: boolean;
  publiclyAccessible?: boolean;
  deletionProtection?: boolean;
  autoMinorVersionUpgrade?: boolean;
}

/** A replica reference as DescribeDBInstances lists it: an identifier (same Region) or an ARN (another Region). */
export function parseReplicaRef(ref: string, homeRegion: string): { identifier: string; region: string } {
  const m = /^arn:[a-z-]+:rds:([a-z0-9-]+):\d{12}:db:(.+)$/.exec(ref);
  if (m) return { region: m[1] ?? homeRegion, identifier: m[2] ?? ref };
  return { region: homeRegion, identifier: ref };
}

/** The cloud of a Region: the home one, or `inRegion` (a cloud without it reaches one Region only). */
export function regionCloud(cloud: Cloud, region: string): Cloud | undefined {
  if (region === cloud.region) return cloud;
  return cloud.inRegion?.(region);
}

function replicaInfo(i: DBInstance, region: string, home: string): ReplicaInfo {
  const groups = (i.VpcSecurityGroups ?? []).flatMap((g) => (g.VpcSecurityGroupId ? [g.VpcSecurityGroupId] : []));
  return {
    identifier: i.DBInstanceIdentifier ?? '',
    region,
    crossRegion: region !== home,
    ...(i.DBInstanceArn ? { arn: i.DBInstanceArn } : {}),
    ...(i.KmsKeyId ? { kmsKeyId: i.KmsKeyId } : {}),
    ...(i.DBInstanceClass ? { instanceClass: i.DBInstanceClass } : {}),
    ...(i.AvailabilityZone ? { availabilityZone: i.AvailabilityZone } : {}),
    ...(i.StorageType ? { storageType: i.StorageType } : {}),
    ...(i.AllocatedStorage !== undefined ? { allocatedStorage: i.AllocatedStorage } : {}),
    ...(i.Iops !== undefined ? { iops: i.Iops } : {}),
    ...(i.StorageThroughput !== undefined ? { storageThroughput: i.StorageThroughput } : {}),
    ...(i.MaxAllocatedStorage !== undefined ? { maxAllocatedStorage: i.MaxAllocatedStorage } : {}),
    ...(i.DBParameterGroups?.[0]?.DBParameterGroupName ? { parameterGroup: i.DBParameterGroups[0].DBParameterGroupName } : {}),
    ...(i.OptionGroupMemberships?.[0]?.OptionGroupName ? { optionGroup: i.OptionGroupMemberships[0].OptionGroupName } : {}),
    ...(i.DBSubnetGroup?.DBSubnetGroupName ? { subnetGroup: i.DBSubnetGroup.DBSubnetGroupName } : {}),
    ...(groups.length > 0 ? { securityGroupIds: groups } : {}),
    ...(i.MultiAZ !== undefined ? { multiAz: i.MultiAZ } : {}),
    ...(i.PubliclyAccessible !== undefined ? { publiclyAccessible: i.PubliclyAccessible } : {}),
    ...(i.DeletionProtection !== undefined ? { deletionProtection: i.DeletionProtection } : {}),
    ...(i.AutoMinorVersionUpgrade !== undefined ? { autoMinorVersionUpgrade: i.AutoMinorVersionUpgrade } : {}),
  };
}

/** What discovery found: the replicas, and those it could not read (named, with why). */
export interface ReplicaDiscovery {
  replicas: ReplicaInfo[];
  unreadable: { identifier: string; region: string; reason: string }[];
}

/** The source instance's read replicas (ReadReplicaDBInstanceIdentifiers), each described in its own Region. */
export async function discoverReplicas(cloud: Cloud, source: DBInstance): Promise<ReplicaDiscovery> {
  const out: ReplicaDiscovery = { replicas: [], unreadable: [] };
  for (const ref of source.ReadReplicaDBInstanceIdentifiers ?? []) {
    const { identifier, region } = parseReplicaRef(ref, cloud.region);
    const there = regionCloud(cloud, region);
    if (!there) {
      out.unreadable.push({ identifier, region, reason: `rekey cannot reach ${region} from here` });
      continue;
    }
    try {
      const i = await findInstance(there, identifier);
      if (!i) out.unreadable.push({ identifier, region, reason: 'listed by the source but not found' });
      else out.replicas.push(replicaInfo(i, region, cloud.region));
    } catch (error) {
      out.unreadable.push({ identifier, region, reason: error instanceof Error ? `${awsErrorName(error)}: ${error.message}` : String(error) });
    }
  }
  return out;
}

/** The Regions of cross-Region replicas, sorted. */
export function secondaryRegions(replicas: readonly ReplicaInfo[]): string[] {
  return [...new Set(replicas.filter((r) => r.crossRegion).map((r) => r.region))].sort();
}

/** The runbook's key for a secondary Region (target.regionKeys), if any. */
export function regionKeyRef(rb: Runbook, region: string): string | undefined {
  return rb.target.regionKeys[region];
}

const MAX_IDENTIFIER = 63;

/** `<identifier><suffix>` cut to a valid RDS identifier (<= 63 characters, no trailing hyphen before the suffix). */
function withSuffix(identifier: string, suffix: string): string {
  return `${identifier.slice(0, MAX_IDENTIFIER - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** Where an old replica is renamed to at the switch: a name that says it is old, freeing its name for the new one. */
export function oldReplicaName(identifier: string, runId: string): string {
  return withSuffix(identifier.toLowerCase(), `-old-${runId}`);
}

/** The new replica's name when the run does not rename (cutover.switch none): beside the old one. */
export function newReplicaNameBeside(identifier: string, runId: string): string {
  return withSuffix(identifier.toLowerCase(), `-rekey-${runId}`);
}

/** The source's read replicas as preflight found them, the keys of their Regions, and the plan for each. */
export interface ReplicaPlan {
  found: ReplicaInfo[];
  /** Regions of cross-Region replicas (sorted). */
  regions: string[];
  /** Each secondary Region's key as checked there (target.regionKeys). */
  regionKeys: RegionKey[];
  /** Expected seconds the new primary serves without replicas after the switch (renames + creation + first sync). */
  withoutReplicasSeconds: number;
  /** Per replica, what the run will do (for the plan and the report). */
  actions: string[];
}

/** A secondary Region's key as checked by preflight. */
export interface RegionKey {
  region: string;
  /** As the runbook names it. */
  ref: string;
  /** Key ARN (from DescribeKey in that Region). */
  arn?: string;
  /** A multi-Region key (allowed; reported). */
  multiRegion?: boolean;
}

/**
 * Checks a secondary Region's key in that Region: exists, enabled, symmetric, ENCRYPT_DECRYPT, lives in that Region
 * (a multi-Region key's replica there counts), and its policy lets RDS there use it. Every problem is returned.
 */
export async function checkRegionKey(cloud: Cloud, region: string, ref: string): Promise<{ key: RegionKey; checks: Check[] }> {
  const checks: Check[] = [];
  const id = `replicas.key.${region}`;
  const add = (ok: boolean, severity: Check['severity'], message: string, suffix = ''): void => void checks.push({ id: `${id}${suffix}`, ok, severity, message });
  const key: RegionKey = { region, ref };
  const there = regionCloud(cloud, region);
  if (!there) {
    add(false, 'error', `cannot reach ${region} to check its key ${ref}`);
    return { key, checks };
  }
  let meta: KeyMetadata | undefined;
  try {
    meta = (await there.kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata;
  } catch (error) {
    add(false, 'error', `key ${ref} for ${region}: cannot describe it there (${error instanceof Error ? `${awsErrorName(error)}: ${error.message}` : String(error)})`);
    return { key, checks };
  }
  if (!meta?.Arn || !meta.KeyId) {
    add(false, 'error', `key ${ref} for ${region}: kms:DescribeKey returned no metadata`);
    return { key, checks };
  }
  key.arn = meta.Arn;
  if (meta.MultiRegion) key.multiRegion = true;
  const keyRegion = meta.Arn.split(':')[3];
  const enabled = meta.Enabled === true && meta.KeyState === 'Enabled';
  const spec = meta.KeySpec ?? meta.CustomerMasterKeySpec;
  const problems: string[] = [];
  if (keyRegion !== region) problems.push(`it is in ${keyRegion ?? '?'}, not ${region} (KMS keys are regional: RDS in ${region} cannot use it)`);
  if (!enabled) problems.push(`it is ${meta.KeyState ?? 'not enabled'}; it must be Enabled`);
  if (spec !== 'SYMMETRIC_DEFAULT') problems.push(`it is asymmetric (${spec ?? 'unknown spec'}); RDS needs SYMMETRIC_DEFAULT`);
  if (meta.KeyUsage !== 'ENCRYPT_DECRYPT') problems.push(`its usage is ${meta.KeyUsage ?? 'unknown'} (must be ENCRYPT_DECRYPT)`);
  for (const p of problems) add(false, 'error', `key ${ref} for ${region}: ${p}`);
  if (problems.length === 0) add(true, 'error', `key ${meta.Arn} for ${region}: enabled, symmetric, in ${region}${meta.MultiRegion ? ' (a multi-Region key)' : ''}`);
  try {
    const policy = await there.kms.send(new GetKeyPolicyCommand({ KeyId: meta.KeyId, PolicyName: 'default' }));
    const grants = await there.kms.send(new ListGrantsCommand({ KeyId: meta.KeyId })).then((g) => g.Grants ?? [], () => []);
    const v = evaluateKeyPolicy(policy.Policy ?? '{}', region, grants);
    if (v.verdict === 'denied') add(false, 'error', `key ${ref} for ${region}: ${v.reason}`, '.rds_access');
    else if (v.verdict === 'uncertain') add(false, 'warning', `UNCERTAIN whether RDS in ${region} can use key ${ref}: ${v.reason}`, '.rds_access');
    else add(true, 'error', `key ${ref} for ${region}: ${v.reason}`, '.rds_access');
  } catch (error) {
    add(false, 'warning', `UNCERTAIN whether RDS in ${region} can use key ${ref}: ${error instanceof Error ? awsErrorName(error) : String(error)}`, '.rds_access');
  }
  return { key, checks };
}

/** AWS: a read replica starts from a snapshot of the primary: fixed waits, then its storage at restore speed. */
export const AWS_REPLICA_FIXED_SECONDS = 15 * 60;
const AWS_REPLICA_BYTES_PER_SECOND = 100e6;

/**
 * Preflight's part for read replicas: discovery, each secondary Region's key checked there (a Region with a
 * replica but no target.regionKeys entry is a problem), and the plan per replica with the expected time the new
 * primary serves without replicas (`replicaSeconds`: per replica, known in the rehearsal; else AWS's estimate).
 */
export async function replicaPreflight(
  cloud: Cloud,
  rb: Runbook,
  source: DBInstance,
  opts: { runId: string; newPrimaryName: string; replicaSeconds?: number },
): Promise<{ checks: Check[]; plan?: ReplicaPlan }> {
  const checks: Check[] = [];
  const add = (id: string, ok: boolean, severity: Check['severity'], message: string): void => void checks.push({ id, ok, severity, message });
  const { replicas, unreadable } = await discoverReplicas(cloud, source);
  for (const u of unreadable) add('replicas.readable', false, 'error', `read replica ${u.identifier} in ${u.region}: ${u.reason}`);
  const regions = secondaryRegions(replicas);
  const regionKeys: RegionKey[] = [];
  for (const region of regions) {
    const ref = regionKeyRef(rb, region);
    if (ref === undefined) {
      add(`replicas.key.${region}`, false, 'error', `a read replica lives in ${region}, but target.regionKeys has no key for ${region}: add {${region}: alias/...} (a key of that Region)`);
      continue;
    }
    const found = await checkRegionKey(cloud, region, ref);
    checks.push(...found.checks);
    regionKeys.push(found.key);
  }
  for (const region of Object.keys(rb.target.regionKeys)) {
    if (!regions.includes(region)) add(`replicas.key.${region}.unused`, false, 'warning', `target.regionKeys names ${region}, but the source has no read replica there: that key is not used`);
  }
  if (replicas.length === 0) return { checks };
  const switched = rb.cutover.switch === 'rename';
  const seconds = (r: ReplicaInfo): number => opts.replicaSeconds ?? AWS_REPLICA_FIXED_SECONDS + Math.round(((r.allocatedStorage ?? 0) * 1024 ** 3) / AWS_REPLICA_BYTES_PER_SECOND);
  const withoutReplicasSeconds = Math.max(...replicas.map(seconds));
  const actions = replicas.map((r) => {
    const where = r.crossRegion ? `in ${r.region} under ${regionKeyRef(rb, r.region) ?? '(no key: add it to target.regionKeys)'}` : 'in the same Region under the new key (a same-Region replica has its primary\'s key)';
    return switched
      ? `${r.identifier}: renamed to ${oldReplicaName(r.identifier, opts.runId)} (stays attached to the old primary), then recreated as ${r.identifier} from the new primary ${where}`
      : `${r.identifier}: kept; a new replica ${newReplicaNameBeside(r.identifier, opts.runId)} of ${opts.newPrimaryName} is created ${where}`;
  });
  const names = replicas.map((r) => `${r.identifier}${r.crossRegion ? ` in ${r.region}` : ''}`).join(', ');
  add('replicas.recreated', false, 'warning', `${replicas.length} read replica${replicas.length === 1 ? '' : 's'} (${names}) recreated from the new primary after the switch: the new primary serves without replicas for about ${withoutReplicasSeconds} s${regions.length > 0 ? `; ${regions.join(', ')} without a replica until then` : ''}`);
  return { checks, plan: { found: replicas, regions, regionKeys, withoutReplicasSeconds, actions } };
}

/**
 * The request that recreates a replica from the new primary (named `primaryId`, with ARN `primaryArn`). Same Region:
 * no KmsKeyId (the replica has the primary's key). Cross-Region: the primary by ARN, the Region's key, SourceRegion.
 */
export function replicaRequest(
  replica: ReplicaInfo,
  name: string,
  primary: { id: string; arn: string; region: string },
  regionKeyArn: string | undefined,
  tags: Tag[],
): CreateDBInstanceReadReplicaCommandInput {
  return {
    DBInstanceIdentifier: name,
    SourceDBInstanceIdentifier: replica.crossRegion ? primary.arn : primary.id,
    ...(replica.instanceClass ? { DBInstanceClass: replica.instanceClass } : {}),
    ...(replica.availabilityZone && !replica.multiAz ? { AvailabilityZone: replica.availabilityZone } : {}),
    ...(replica.multiAz !== undefined ? { MultiAZ: replica.multiAz } : {}),
    ...(replica.storageType ? { StorageType: replica.storageType } : {}),
    ...(replica.allocatedStorage !== undefined ? { AllocatedStorage: replica.allocatedStorage } : {}),
    ...(replica.iops !== undefined ? { Iops: replica.iops } : {}),
    ...(replica.storageThroughput !== undefined ? { StorageThroughput: replica.storageThroughput } : {}),
    ...(replica.maxAllocatedStorage !== undefined ? { MaxAllocatedStorage: replica.maxAllocatedStorage } : {}),
    ...(replica.parameterGroup ? { DBParameterGroupName: replica.parameterGroup } : {}),
    ...(replica.optionGroup ? { OptionGroupName: replica.optionGroup } : {}),
    ...(replica.crossRegion && replica.subnetGroup ? { DBSubnetGroupName: replica.subnetGroup } : {}),
    ...(replica.securityGroupIds ? { VpcSecurityGroupIds: replica.securityGroupIds } : {}),
    ...(replica.publiclyAccessible !== undefined ? { PubliclyAccessible: replica.publiclyAccessible } : {}),
    ...(replica.deletionProtection !== undefined ? { DeletionProtection: replica.deletionProtection } : {}),
    ...(replica.autoMinorVersionUpgrade !== undefined ? { AutoMinorVersionUpgrade: replica.autoMinorVersionUpgrade } : {}),
    ...(replica.crossRegion ? { KmsKeyId: regionKeyArn, SourceRegion: primary.region } : {}),
    Tags: tags,
  };
}

/** Whether an instance carries rekey's tag of this run (made by it, so a re-run finds instead of creating again). */
export function madeByRun(i: DBInstance | DBCluster | undefined, runId: string): boolean {
  return (i?.TagList ?? []).some((t) => t.Key === 'rekey:run-id' && t.Value === runId);
}
