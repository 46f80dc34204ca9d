// Cross-Region snapshot copy under a destination key: CopyDBClusterSnapshot / CopyDBSnapshot sent in the destination
// Region with the source's ARN and KmsKeyId, tags copied, waited on with progress. SDK v3 has no SourceRegion input:
// its RDS middleware sees a source ARN of another Region and adds the PreSignedUrl, signed for that Region. Finds an
// earlier copy of the same name instead of copying twice.
import {
  CopyDBClusterSnapshotCommand, CopyDBSnapshotCommand, DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, ListTagsForResourceCommand,
} from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';

/** A snapshot as both kinds show it. */
interface SnapshotView {
  kind: 'cluster-snapshot' | 'snapshot';
  identifier: string;
  arn: string;
  status: string;
  percent: number;
  kmsKeyId?: string;
  tags: { Key?: string; Value?: string }[];
}

async function findSnapshot(cloud: Cloud, ref: string, kind?: SnapshotView['kind']): Promise<SnapshotView | undefined> {
  const notFound = (e: unknown): undefined => {
    if (e instanceof Error && /NotFound/.test(e.name)) return undefined;
    throw e;
  };
  if (kind !== 'snapshot') {
    const s = await cloud.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: ref })).then((o) => o.DBClusterSnapshots?.[0], notFound);
    if (s) return { kind: 'cluster-snapshot', identifier: s.DBClusterSnapshotIdentifier ?? ref, arn: s.DBClusterSnapshotArn ?? ref, status: s.Status ?? '?', percent: s.PercentProgress ?? 0, ...(s.KmsKeyId ? { kmsKeyId: s.KmsKeyId } : {}), tags: s.TagList ?? [] };
  }
  if (kind !== 'cluster-snapshot') {
    const s = await cloud.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: ref })).then((o) => o.DBSnapshots?.[0], notFound);
    if (s) return { kind: 'snapshot', identifier: s.DBSnapshotIdentifier ?? ref, arn: s.DBSnapshotArn ?? ref, status: s.Status ?? '?', percent: s.PercentProgress ?? 0, ...(s.KmsKeyId ? { kmsKeyId: s.KmsKeyId } : {}), tags: s.TagList ?? [] };
  }
  return undefined;
}

export interface CopyOptions {
  /** Snapshot identifier or ARN in the home Region of `cloud`. */
  snapshot: string;
  /** Destination Region. */
  toRegion: string;
  /** Key of the destination Region. */
  kmsKeyId: string;
  /** Name of the copy; default: the source's name. */
  targetIdentifier?: string;
  /** Extra tags on the copy (the source's are copied). */
  tags?: { Key: string; Value: string }[];
  /** Progress lines. */
  onProgress?: (message: string, percent?: number) => void;
  /** Polling. */
  pollMs: number;
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** What was copied. */
export interface CopyResult {
  kind: 'cluster-snapshot' | 'snapshot';
  source: { arn: string; region: string; kmsKeyId?: string };
  copy: { identifier: string; arn: string; region: string; kmsKeyId?: string; status: string; tags: { Key?: string; Value?: string }[] };
  /** Whether this call made the copy (false: an earlier copy of that name was found). */
  created: boolean;
}

export async function copySnapshotToRegion(cloud: Cloud, o: CopyOptions): Promise<CopyResult> {
  if (!cloud.inRegion) throw new Error('this cloud reaches one Region only');
  const source = await findSnapshot(cloud, o.snapshot);
  if (!source) throw new Error(`snapshot ${o.snapshot} not found in ${cloud.region}`);
  if (source.status !== 'available') throw new Error(`snapshot ${source.identifier} is ${source.status}, not available`);
  const dest = cloud.inRegion(o.toRegion);
  const target = o.targetIdentifier ?? source.identifier;
  let copy = await findSnapshot(dest, target, source.kind);
  const created = copy === undefined;
  if (!copy) {
    const common = { KmsKeyId: o.kmsKeyId, CopyTags: true, Tags: [{ Key: 'rekey:copied-from', Value: source.arn }, ...(o.tags ?? [])] };
    if (source.kind === 'cluster-snapshot') {
      await dest.rds.send(new CopyDBClusterSnapshotCommand({ SourceDBClusterSnapshotIdentifier: source.arn, TargetDBClusterSnapshotIdentifier: target, ...common }));
    } else {
      await dest.rds.send(new CopyDBSnapshotCommand({ SourceDBSnapshotIdentifier: source.arn, TargetDBSnapshotIdentifier: target, ...common }));
    }
    o.onProgress?.(`copying ${source.identifier} to ${o.toRegion} as ${target} under ${o.kmsKeyId}`, 0);
  }
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    copy = await findSnapshot(dest, target, source.kind);
    if (!copy) throw new Error(`the copy ${target} disappeared from ${o.toRegion}`);
    if (copy.status === 'available') break;
    if (/fail|error|deleted/.test(copy.status)) throw new Error(`the copy ${target} in ${o.toRegion} is ${copy.status}`);
    o.onProgress?.(`copy ${target} in ${o.toRegion}: ${copy.status} ${copy.percent}%`, copy.percent);
    if (Date.now() > deadline) throw new Error(`the copy ${target} in ${o.toRegion} was not available after ${Math.round(o.timeoutMs / 1000)} s`);
    await o.sleep(o.pollMs);
  }
  const tags = (await dest.rds.send(new ListTagsForResourceCommand({ ResourceName: copy.arn }))).TagList ?? copy.tags;
  o.onProgress?.(`copy ${target} in ${o.toRegion} is available`, 100);
  return {
    kind: source.kind,
    source: { arn: source.arn, region: cloud.region, ...(source.kmsKeyId ? { kmsKeyId: source.kmsKeyId } : {}) },
    copy: { identifier: copy.identifier, arn: copy.arn, region: o.toRegion, ...(copy.kmsKeyId ? { kmsKeyId: copy.kmsKeyId } : {}), status: copy.status, tags },
    created,
  };
}
