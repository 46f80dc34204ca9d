// `rekey inventory`: everything in the given Regions that a KMS key encrypts, grouped by key, and the retirement
// guard (`--retire-check`): what still blocks retiring a key, and when each blocker stops blocking. Read-only: rekey
// never disables a key nor schedules its deletion. Every list is paginated; what cannot be read is reported.
import { DescribeKeyCommand, ListAliasesCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { GrantListEntry } from '@aws-sdk/client-kms';
import {
  DescribeBlueGreenDeploymentsCommand, DescribeDBClusterAutomatedBackupsCommand, DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand,
  DescribeDBInstanceAutomatedBackupsCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, DescribeGlobalClustersCommand,
} from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';

/** What kind of thing sits on a key. */
export type EstateKind =
  | 'cluster' | 'instance' | 'read-replica' | 'performance-insights' | 'cluster-snapshot' | 'snapshot'
  | 'instance-automated-backup' | 'cluster-automated-backup' | 'blue-green-deployment' | 'global-cluster';

/** One resource of the estate. */
export interface EstateResource {
  /** What it is. */
  kind: EstateKind;
  /** Its identifier. */
  id: string;
  /** Its ARN, when AWS gives one. */
  arn?: string;
  /** Region it lives in. */
  region: string;
  /** Whether it is encrypted at all. */
  encrypted: boolean;
  /** Key ARN that encrypts it. */
  kmsKeyId?: string;
  /** Status as AWS reports it. */
  status?: string;
  /** manual / automated (snapshots), active / retained (automated backups). */
  type?: string;
  /** Facts the retirement guard uses (creation time, PITR window, retention, members...). ISO times. */
  facts: Record<string, string | number | boolean | string[]>;
}

/** A KMS key as DescribeKey and ListAliases show it. */
export interface KeyInfo {
  /** Key ARN. */
  arn: string;
  /** Aliases (alias/...). */
  aliases: string[];
  /** AWS (an AWS managed key such as aws/rds) or CUSTOMER. */
  keyManager?: string;
  /** Whether it is a multi-Region key. */
  multiRegion?: boolean;
  /** KeyState. */
  state?: string;
  /** Why it could not be described. */
  error?: string;
}

/** A Region or a permission that could not be read: reported, never skipped silently. */
export interface EstateProblem {
  /** Region. */
  region: string;
  /** The API call. */
  action: string;
  /** Error name and message. */
  error: string;
}

/** The inventory. */
export interface Inventory {
  /** Regions read. */
  regions: string[];
  /** Resources grouped by the key that encrypts them. */
  keys: { key: KeyInfo; resources: EstateResource[] }[];
  /** Resources with no encryption. */
  unencrypted: EstateResource[];
  /** What could not be read. */
  problems: EstateProblem[];
}

type Rds = Cloud['rds'];

const iso = (d: Date | undefined): string | undefined => (d instanceof Date ? d.toISOString() : undefined);
const errorText = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** Follows `Marker` until the last page. */
async function pages<T>(fetch: (marker: string | undefined) => Promise<{ items: T[]; marker?: string | undefined }>): Promise<T[]> {
  const all: T[] = [];
  let marker: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const page = await fetch(marker);
    all.push(...page.items);
    if (!page.marker) return all;
    marker = page.marker;
  }
  throw new Error('pagination did not end after 10000 pages');
}

function facts(entries: Record<string, string | number | boolean | string[] | undefined>): EstateResource['facts'] {
  return Object.fromEntries(Object.entries(entries).filter((e): e is [string, string | number | boolean | string[]] => e[1] !== undefined));
}

/** Everything in one Region; each list that cannot be read becomes a problem. */
export async function readRegion(rds: Rds, region: string): Promise<{ resources: EstateResource[]; problems: EstateProblem[] }> {
  const resources: EstateResource[] = [];
  const problems: EstateProblem[] = [];
  const read = async (action: string, work: () => Promise<void>): Promise<void> => {
    try {
      await work();
    } catch (error) {
      problems.push({ region, action, error: errorText(error) });
    }
  };
  const add = (r: Omit<EstateResource, 'region'>): void => {
    resources.push({ ...r, region });
  };
  await read('rds:DescribeDBClusters', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeDBClustersCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.DBClusters ?? [], marker: o.Marker };
    });
    for (const c of list) {
      add({
        kind: 'cluster', id: c.DBClusterIdentifier ?? '?', ...(c.DBClusterArn ? { arn: c.DBClusterArn } : {}), encrypted: c.StorageEncrypted === true,
        ...(c.KmsKeyId ? { kmsKeyId: c.KmsKeyId } : {}), ...(c.Status ? { status: c.Status } : {}),
        facts: facts({
          createdAt: iso(c.ClusterCreateTime), earliestRestorableTime: iso(c.EarliestRestorableTime), latestRestorableTime: iso(c.LatestRestorableTime),
          backupRetentionPeriod: c.BackupRetentionPeriod, globalCluster: c.GlobalClusterIdentifier, engine: c.Engine,
        }),
      });
    }
  });
  await read('rds:DescribeDBInstances', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeDBInstancesCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.DBInstances ?? [], marker: o.Marker };
    });
    for (const i of list) {
      const replicaOf = i.ReadReplicaSourceDBInstanceIdentifier ?? i.ReadReplicaSourceDBClusterIdentifier;
      add({
        kind: replicaOf ? 'read-replica' : 'instance', id: i.DBInstanceIdentifier ?? '?', ...(i.DBInstanceArn ? { arn: i.DBInstanceArn } : {}),
        encrypted: i.StorageEncrypted === true, ...(i.KmsKeyId ? { kmsKeyId: i.KmsKeyId } : {}), ...(i.DBInstanceStatus ? { status: i.DBInstanceStatus } : {}),
        facts: facts({
          createdAt: iso(i.InstanceCreateTime), cluster: i.DBClusterIdentifier, replicaOf, latestRestorableTime: iso(i.LatestRestorableTime),
          backupRetentionPeriod: i.DBClusterIdentifier ? undefined : i.BackupRetentionPeriod, engine: i.Engine,
        }),
      });
      // Performance Insights data has a key of its own (set when first enabled, never changed).
      if (i.PerformanceInsightsEnabled && i.PerformanceInsightsKMSKeyId) {
        add({ kind: 'performance-insights', id: i.DBInstanceIdentifier ?? '?', encrypted: true, kmsKeyId: i.PerformanceInsightsKMSKeyId, facts: facts({ instance: i.DBInstanceIdentifier }) });
      }
    }
  });
  await read('rds:DescribeDBClusterSnapshots', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeDBClusterSnapshotsCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.DBClusterSnapshots ?? [], marker: o.Marker };
    });
    for (const s of list) {
      add({
        kind: 'cluster-snapshot', id: s.DBClusterSnapshotIdentifier ?? '?', ...(s.DBClusterSnapshotArn ? { arn: s.DBClusterSnapshotArn } : {}), encrypted: s.StorageEncrypted === true,
        ...(s.KmsKeyId ? { kmsKeyId: s.KmsKeyId } : {}), ...(s.Status ? { status: s.Status } : {}), ...(s.SnapshotType ? { type: s.SnapshotType } : {}),
        facts: facts({ createdAt: iso(s.SnapshotCreateTime), of: s.DBClusterIdentifier, copiedFrom: s.SourceDBClusterSnapshotArn }),
      });
    }
  });
  await read('rds:DescribeDBSnapshots', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeDBSnapshotsCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.DBSnapshots ?? [], marker: o.Marker };
    });
    for (const s of list) {
      add({
        kind: 'snapshot', id: s.DBSnapshotIdentifier ?? '?', ...(s.DBSnapshotArn ? { arn: s.DBSnapshotArn } : {}), encrypted: s.Encrypted === true,
        ...(s.KmsKeyId ? { kmsKeyId: s.KmsKeyId } : {}), ...(s.Status ? { status: s.Status } : {}), ...(s.SnapshotType ? { type: s.SnapshotType } : {}),
        facts: facts({ createdAt: iso(s.SnapshotCreateTime), of: s.DBInstanceIdentifier, copiedFrom: s.SourceDBSnapshotIdentifier }),
      });
    }
  });
  await read('rds:DescribeDBInstanceAutomatedBackups', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeDBInstanceAutomatedBackupsCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.DBInstanceAutomatedBackups ?? [], marker: o.Marker };
    });
    for (const b of list) {
      add({
        kind: 'instance-automated-backup', id: b.DBInstanceIdentifier ?? b.DbiResourceId ?? '?', ...(b.DBInstanceAutomatedBackupsArn ? { arn: b.DBInstanceAutomatedBackupsArn } : {}),
        encrypted: b.Encrypted === true, ...(b.KmsKeyId ? { kmsKeyId: b.KmsKeyId } : {}), ...(b.Status ? { status: b.Status, type: b.Status } : {}),
        facts: facts({
          earliestRestorableTime: iso(b.RestoreWindow?.EarliestTime), latestRestorableTime: iso(b.RestoreWindow?.LatestTime), backupRetentionPeriod: b.BackupRetentionPeriod,
          sourceRegion: b.Region, replicatedTo: (b.DBInstanceAutomatedBackupsReplications ?? []).map((r) => r.DBInstanceAutomatedBackupsArn ?? '?'),
        }),
      });
    }
  });
  await read('rds:DescribeDBClusterAutomatedBackups', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeDBClusterAutomatedBackupsCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.DBClusterAutomatedBackups ?? [], marker: o.Marker };
    });
    for (const b of list) {
      add({
        kind: 'cluster-automated-backup', id: b.DBClusterIdentifier ?? b.DbClusterResourceId ?? '?', ...(b.DBClusterAutomatedBackupsArn ? { arn: b.DBClusterAutomatedBackupsArn } : {}),
        encrypted: b.StorageEncrypted === true, ...(b.KmsKeyId ? { kmsKeyId: b.KmsKeyId } : {}), ...(b.Status ? { status: b.Status, type: b.Status } : {}),
        facts: facts({ earliestRestorableTime: iso(b.RestoreWindow?.EarliestTime), latestRestorableTime: iso(b.RestoreWindow?.LatestTime), backupRetentionPeriod: b.BackupRetentionPeriod }),
      });
    }
  });
  await read('rds:DescribeBlueGreenDeployments', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeBlueGreenDeploymentsCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.BlueGreenDeployments ?? [], marker: o.Marker };
    });
    for (const d of list) {
      // A deployment has no key of its own: it is filed under the keys of its blue and green databases (below).
      add({
        kind: 'blue-green-deployment', id: d.BlueGreenDeploymentIdentifier ?? '?', encrypted: true, ...(d.Status ? { status: d.Status } : {}),
        facts: facts({ source: d.Source, target: d.Target, createdAt: iso(d.CreateTime) }),
      });
    }
  });
  await read('rds:DescribeGlobalClusters', async () => {
    const list = await pages(async (Marker) => {
      const o = await rds.send(new DescribeGlobalClustersCommand({ ...(Marker ? { Marker } : {}), MaxRecords: 100 }));
      return { items: o.GlobalClusters ?? [], marker: o.Marker };
    });
    for (const g of list) {
      add({
        kind: 'global-cluster', id: g.GlobalClusterIdentifier ?? '?', ...(g.GlobalClusterArn ? { arn: g.GlobalClusterArn } : {}), encrypted: g.StorageEncrypted === true,
        ...(g.Status ? { status: g.Status } : {}), facts: facts({ members: (g.GlobalClusterMembers ?? []).map((m) => m.DBClusterArn ?? '?') }),
      });
    }
  });
  return { resources, problems };
}

/** Describe a key (and its aliases) in the Region of its ARN. */
export async function describeKey(cloud: Cloud, ref: string): Promise<KeyInfo> {
  const region = ref.startsWith('arn:') ? (ref.split(':')[3] ?? cloud.region) : cloud.region;
  const kms = (region === cloud.region ? cloud : cloud.inRegion?.(region) ?? cloud).kms;
  try {
    const meta = (await kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata;
    const arn = meta?.Arn ?? ref;
    const aliases = await kms.send(new ListAliasesCommand({ KeyId: meta?.KeyId ?? ref })).then(
      (o) => (o.Aliases ?? []).map((a) => a.AliasName ?? '?'),
      () => [] as string[],
    );
    return { arn, aliases, ...(meta?.KeyManager ? { keyManager: meta.KeyManager } : {}), multiRegion: meta?.MultiRegion === true, ...(meta?.KeyState ? { state: meta.KeyState } : {}) };
  } catch (error) {
    return { arn: ref, aliases: [], error: errorText(error) };
  }
}

/** Key id of an ARN (multi-Region replicas share it). */
const keyIdOf = (arn: string): string => arn.slice(arn.lastIndexOf('/') + 1);

/** Whether a resource's key is the key asked about (a multi-Region key matches its replicas in other Regions). */
export function sameKey(resourceKey: string | undefined, key: KeyInfo): boolean {
  if (resourceKey === undefined) return false;
  if (resourceKey === key.arn) return true;
  return key.multiRegion === true && keyIdOf(resourceKey) === keyIdOf(key.arn) && keyIdOf(key.arn).startsWith('mrk-');
}

/** Reads every Region and groups by key; with `key`, keeps only what that key encrypts. */
export async function inventory(clouds: Cloud[], opts: { key?: string } = {}): Promise<Inventory & { asked?: KeyInfo }> {
  const home = clouds[0];
  if (!home) throw new Error('inventory needs at least one Region');
  const read = await Promise.all(clouds.map((c) => readRegion(c.rds, c.region)));
  const resources = read.flatMap((r) => r.resources);
  const problems = read.flatMap((r) => r.problems);
  // Blue/Green deployments and global clusters are filed under the keys of the databases they join.
  const byArn = new Map(resources.filter((r) => r.arn).map((r) => [r.arn!, r]));
  for (const r of resources) {
    if (r.kind === 'blue-green-deployment') {
      const keys = [r.facts.source, r.facts.target].map((a) => (typeof a === 'string' ? byArn.get(a)?.kmsKeyId : undefined)).filter((k): k is string => k !== undefined);
      if (keys[0]) r.kmsKeyId = keys[0];
      if (keys[1] && keys[1] !== keys[0]) r.facts.targetKmsKeyId = keys[1];
    }
    if (r.kind === 'global-cluster' && Array.isArray(r.facts.members)) {
      const key = r.facts.members.map((a) => byArn.get(a)?.kmsKeyId).find((k) => k !== undefined);
      if (key) r.kmsKeyId = key;
    }
  }
  const asked = opts.key !== undefined ? await describeKey(home, opts.key) : undefined;
  if (asked?.error) problems.push({ region: home.region, action: 'kms:DescribeKey', error: `${opts.key ?? ''}: ${asked.error}` });
  const encrypted = resources.filter((r) => r.encrypted || r.kmsKeyId !== undefined);
  const groups = new Map<string, EstateResource[]>();
  for (const r of encrypted) {
    if (r.kmsKeyId === undefined) continue;
    if (asked && !sameKey(r.kmsKeyId, asked) && !(r.kind === 'blue-green-deployment' && typeof r.facts.targetKmsKeyId === 'string' && sameKey(r.facts.targetKmsKeyId, asked))) continue;
    const list = groups.get(r.kmsKeyId) ?? [];
    list.push(r);
    groups.set(r.kmsKeyId, list);
  }
  const keys = await Promise.all([...groups.entries()].map(async ([arn, list]) => ({ key: asked && arn === asked.arn ? asked : await describeKey(home, arn), resources: list })));
  if (asked && !groups.has(asked.arn)) keys.unshift({ key: asked, resources: [] });
  const unencrypted = asked ? [] : resources.filter((r) => !r.encrypted && r.kmsKeyId === undefined && r.kind !== 'blue-green-deployment');
  return { regions: clouds.map((c) => c.region), keys, unencrypted, problems, ...(asked ? { asked } : {}) };
}

/** One thing that keeps a key from being retired. */
export interface RetireBlocker {
  /** Kind and identifier of what depends on the key. */
  resource: string;
  /** Region. */
  region: string;
  /** Why it blocks. */
  why: string;
  /** When it stops blocking: an ISO date, or the action the owner must take. */
  until: string;
}

/** The retirement guard's verdict. */
export interface RetireCheck {
  /** Key asked about. */
  key: KeyInfo;
  /** True only when nothing depends on the key and everything could be read. */
  safeToRetire: boolean;
  /** Every blocker. */
  blockers: RetireBlocker[];
  /** Always said: rekey never disables a key nor schedules its deletion. */
  note: string;
}

const addDays = (isoTime: string | number | boolean | string[] | undefined, days: number | string | boolean | string[] | undefined): string | undefined =>
  typeof isoTime === 'string' && typeof days === 'number' ? new Date(Date.parse(isoTime) + days * 86400_000).toISOString() : undefined;

/** Why each resource on the key blocks its retirement, and until when. */
export function blockersOf(resources: EstateResource[]): RetireBlocker[] {
  return resources.map((r): RetireBlocker => {
    const base = { resource: `${r.kind} ${r.id}`, region: r.region };
    const f = r.facts;
    switch (r.kind) {
      case 'cluster':
      case 'instance':
        return {
          ...base, why: `the database is encrypted with this key (point-in-time recovery window ${String(f.earliestRestorableTime ?? '?')} .. ${String(f.latestRestorableTime ?? 'now')})`,
          until: 'it is deleted; its automated backups then stay on the key for their retention period',
        };
      case 'read-replica':
        return { ...base, why: `a read replica of ${String(f.replicaOf)} encrypted with this key`, until: 'the replica is deleted or replaced by one under another key' };
      case 'performance-insights':
        return { ...base, why: 'Performance Insights data of the instance is encrypted with this key (its PI key cannot be changed)', until: 'the instance is deleted or Performance Insights is turned off' };
      case 'cluster-snapshot':
      case 'snapshot':
        return r.type === 'automated'
          ? { ...base, why: 'an automated snapshot on this key', until: 'it expires with its database\'s backup retention (or the database is deleted without retained backups)' }
          : { ...base, why: `a ${r.type ?? 'manual'} snapshot on this key${f.of ? ` (of ${String(f.of)})` : ''}`, until: 'owner action: copy it under another key (rekey copy-snapshot) and delete it, or delete it' };
      case 'instance-automated-backup':
      case 'cluster-automated-backup':
        if (r.status === 'retained') {
          const end = addDays(f.latestRestorableTime, f.backupRetentionPeriod);
          return { ...base, why: 'retained automated backups of a deleted database, on this key', until: end ? `${end} (end of retention), or delete them` : 'end of retention, or delete them' };
        }
        if (Array.isArray(f.replicatedTo) && f.replicatedTo.length > 0) {
          return { ...base, why: `automated backups on this key, replicated to ${f.replicatedTo.join(', ')}`, until: 'owner action: stop the replication and delete the replicated backups' };
        }
        return { ...base, why: `automated backups (restore window ${String(f.earliestRestorableTime ?? '?')} .. ${String(f.latestRestorableTime ?? 'now')})`, until: 'the database is deleted and its backups expire' };
      case 'blue-green-deployment':
        return { ...base, why: 'a Blue/Green deployment joins a database on this key', until: 'owner action: switch over or delete the deployment' };
      case 'global-cluster':
        return { ...base, why: 'a global cluster with a member on this key', until: 'owner action: remove the member or delete the global cluster' };
      default:
        return { ...base, why: 'depends on this key', until: 'it is deleted' };
    }
  });
}

/** Grants that RDS holds on the key (it retires them when nothing it manages uses the key any more). */
export async function rdsGrants(cloud: Cloud, key: KeyInfo): Promise<{ grants: GrantListEntry[]; error?: string }> {
  const region = key.arn.startsWith('arn:') ? (key.arn.split(':')[3] ?? cloud.region) : cloud.region;
  const kms = (region === cloud.region ? cloud : cloud.inRegion?.(region) ?? cloud).kms;
  try {
    const grants = await pages(async (Marker) => {
      const o = await kms.send(new ListGrantsCommand({ KeyId: key.arn, ...(Marker ? { Marker } : {}), Limit: 100 }));
      return { items: o.Grants ?? [], marker: o.Truncated ? o.NextMarker : undefined };
    });
    return { grants: grants.filter((g) => /(^|\.)rds(\.[a-z0-9-]+)?\.amazonaws\.com$/.test(g.GranteePrincipal ?? '')) };
  } catch (error) {
    return { grants: [], error: errorText(error) };
  }
}

/** The retirement guard: every blocker of `inv.asked`, or safe. */
export async function retireCheck(home: Cloud, inv: Inventory & { asked?: KeyInfo }): Promise<RetireCheck> {
  const key = inv.asked;
  if (!key) throw new Error('--retire-check needs --key');
  const resources = inv.keys.flatMap((g) => g.resources);
  const blockers = blockersOf(resources);
  const grants = await rdsGrants(home, key);
  for (const g of grants.grants) {
    blockers.push({
      resource: `kms grant ${g.GrantId ?? '?'}${g.Name ? ` (${g.Name})` : ''}`, region: key.arn.split(':')[3] ?? home.region,
      why: `RDS (${g.GranteePrincipal ?? '?'}) still holds a grant on the key (${(g.Operations ?? []).join(', ')})`,
      until: 'RDS retires it once nothing it manages uses the key',
    });
  }
  if (grants.error) blockers.push({ resource: 'kms grants', region: home.region, why: `the key's grants could not be listed: ${grants.error}`, until: 'kms:ListGrants is allowed' });
  for (const p of inv.problems) blockers.push({ resource: p.action, region: p.region, why: `could not be read (${p.error}): something on the key may be hidden there`, until: 'the Region and permission can be read' });
  if (key.keyManager === 'AWS') blockers.push({ resource: `key ${key.arn}`, region: home.region, why: 'an AWS managed key (aws/rds) cannot be disabled or deleted by anyone', until: 'never: leave it; nothing needs to retire it' });
  return { key, safeToRetire: blockers.length === 0, blockers, note: 'rekey never disables a key nor schedules its deletion; this is advice for the key owner' };
}
