// RDS lookups (NotFound -> undefined) and waits (bounded polling with pure classifiers).
import {
  DescribeDBClusterParametersCommand,
  DescribeDBClustersCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBInstancesCommand,
  DescribeDBParametersCommand,
  DescribeDBSnapshotsCommand,
  DescribeEventsCommand,
} from '@aws-sdk/client-rds';
import type { DBCluster, DBClusterSnapshot, DBInstance, DBSnapshot, Event, SourceType } from '@aws-sdk/client-rds';
import type { Cloud } from './cloud.js';
import { lookup, call } from './errors.js';
import { poll } from './poll.js';
import type { PollClock, Verdict } from './poll.js';

/** Where and how long to wait; built from the step context. */
export interface WaitEnv {
  clock: PollClock;
  signal: AbortSignal;
  /** First delay between polls. */
  pollMs: number;
  /** Give up after this long. */
  timeoutMs: number;
  /** Longest delay between polls (default 4 x pollMs); the cutover path keeps it at pollMs. */
  maxPollMs?: number;
  /** Progress for people (percent when known). */
  progress?(message: string, percent?: number, etaSeconds?: number): void;
}

/** Statuses from which a cluster/instance/snapshot never becomes available by waiting. */
export const TERMINAL_STATUSES = new Set([
  'deleted',
  'deleting',
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'inaccessible-encryption-credentials',
  'inaccessible-encryption-credentials-recoverable',
]);

export async function findCluster(cloud: Cloud, id: string): Promise<DBCluster | undefined> {
  return lookup(`rds:DescribeDBClusters ${id}`, async () => {
    const out = await cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: id }));
    return out.DBClusters?.find((c) => c.DBClusterIdentifier?.toLowerCase() === id.toLowerCase());
  });
}

export async function findInstance(cloud: Cloud, id: string): Promise<DBInstance | undefined> {
  return lookup(`rds:DescribeDBInstances ${id}`, async () => {
    const out = await cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
    return out.DBInstances?.find((i) => i.DBInstanceIdentifier?.toLowerCase() === id.toLowerCase());
  });
}

export async function findClusterSnapshot(cloud: Cloud, id: string): Promise<DBClusterSnapshot | undefined> {
  return lookup(`rds:DescribeDBClusterSnapshots ${id}`, async () => {
    const out = await cloud.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: id }));
    return out.DBClusterSnapshots?.find((s) => s.DBClusterSnapshotIdentifier?.toLowerCase() === id.toLowerCase());
  });
}

export async function findDBSnapshot(cloud: Cloud, id: string): Promise<DBSnapshot | undefined> {
  return lookup(`rds:DescribeDBSnapshots ${id}`, async () => {
    const out = await cloud.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: id }));
    return out.DBSnapshots?.find((s) => s.DBSnapshotIdentifier?.toLowerCase() === id.toLowerCase());
  });
}

/** Values of some parameters of a DB (instance) parameter group, in one pass over its Marker pages. */
export async function instanceParameters(cloud: Cloud, group: string, names: readonly string[]): Promise<Map<string, string | undefined>> {
  const found = new Map<string, string | undefined>();
  let marker: string | undefined;
  do {
    const out = await call(`rds:DescribeDBParameters ${group}`, () =>
      cloud.rds.send(new DescribeDBParametersCommand({ DBParameterGroupName: group, Marker: marker })),
    );
    for (const p of out.Parameters ?? []) {
      if (p.ParameterName && names.includes(p.ParameterName)) found.set(p.ParameterName, p.ParameterValue);
    }
    marker = out.Marker;
  } while (marker && found.size < names.length);
  return found;
}

/**
 * Values of some parameters of a cluster parameter group, in one pass over its Marker pages (stops once all
 * are found). A name is missing from the map when the group does not list it; its value is undefined when unset.
 */
export async function clusterParameters(cloud: Cloud, group: string, names: readonly string[]): Promise<Map<string, string | undefined>> {
  const found = new Map<string, string | undefined>();
  let marker: string | undefined;
  do {
    const out = await call(`rds:DescribeDBClusterParameters ${group}`, () =>
      cloud.rds.send(new DescribeDBClusterParametersCommand({ DBClusterParameterGroupName: group, Marker: marker })),
    );
    for (const p of out.Parameters ?? []) {
      if (p.ParameterName && names.includes(p.ParameterName)) found.set(p.ParameterName, p.ParameterValue);
    }
    marker = out.Marker;
  } while (marker && found.size < names.length);
  return found;
}

/** Value of one parameter in a cluster parameter group (follows Marker pages); undefined when unset/absent. */
export async function clusterParameter(cloud: Cloud, group: string, name: string): Promise<string | undefined> {
  return (await clusterParameters(cloud, group, [name])).get(name);
}

/**
 * Every event of one source since `startTime`, oldest first, following Marker pages. StartTime is always
 * given: without it RDS answers only the last 60 minutes.
 */
export async function listEvents(cloud: Cloud, sourceType: SourceType, sourceId: string, startTime: Date): Promise<Event[]> {
  const events: Event[] = [];
  let marker: string | undefined;
  do {
    const out = await call(`rds:DescribeEvents ${sourceId}`, () =>
      cloud.rds.send(new DescribeEventsCommand({ SourceIdentifier: sourceId, SourceType: sourceType, StartTime: startTime, ...(marker ? { Marker: marker } : {}) })),
    );
    events.push(...(out.Events ?? []));
    marker = out.Marker;
  } while (marker);
  const time = (e: Event) => (e.Date ? new Date(e.Date).getTime() : 0);
  return events.sort((a, b) => time(a) - time(b));
}

/** Available-waiter classifier for clusters and instances (missing = still appearing). */
export function classifyAvailable(status: string | undefined): Verdict {
  if (status === undefined) return { state: 'retry', note: 'not found yet' };
  if (status === 'available') return { state: 'success' };
  if (TERMINAL_STATUSES.has(status)) return { state: 'failure', reason: `status is ${status}` };
  return { state: 'retry', note: `status ${status}` };
}

export async function waitClusterAvailable(cloud: Cloud, id: string, env: WaitEnv): Promise<DBCluster> {
  const found = await poll({
    what: `cluster ${id} available`,
    observe: () => findCluster(cloud, id),
    classify: (c) => classifyAvailable(c?.Status),
    onRetry: (c) => env.progress?.(`cluster ${id}: ${c?.Status ?? 'not visible yet'}`),
    ...pollTiming(env),
  });
  return found as DBCluster;
}

export async function waitInstanceAvailable(cloud: Cloud, id: string, env: WaitEnv): Promise<DBInstance> {
  const found = await poll({
    what: `instance ${id} available`,
    observe: () => findInstance(cloud, id),
    classify: (i) => classifyAvailable(i?.DBInstanceStatus),
    onRetry: (i) => env.progress?.(`instance ${id}: ${i?.DBInstanceStatus ?? 'not visible yet'}`),
    ...pollTiming(env),
  });
  return found as DBInstance;
}

export async function waitClusterSnapshotAvailable(cloud: Cloud, id: string, env: WaitEnv): Promise<DBClusterSnapshot> {
  const found = await poll({
    what: `snapshot ${id} available`,
    observe: () => findClusterSnapshot(cloud, id),
    classify: (s) => classifyAvailable(s?.Status),
    onRetry: (s) => env.progress?.(`snapshot ${id}: ${s?.Status ?? 'not visible yet'}`, s?.PercentProgress),
    ...pollTiming(env),
  });
  return found as DBClusterSnapshot;
}

/**
 * Whether a snapshot may be deleted now: AWS deletes only an `available` one (a `creating` or copying snapshot is
 * refused with InvalidDBSnapshotStateFault / InvalidDBClusterSnapshotStateFault); `failed` ends the wait too (nothing
 * more will happen to it), and one gone or being deleted needs no deletion. Anything else: wait.
 */
export function classifyDeletable(status: string | undefined): Verdict {
  if (status === undefined || status === 'available' || status === 'failed' || status === 'deleting' || status === 'deleted') return { state: 'success' };
  return { state: 'retry', note: `status ${status}` };
}

/** Waits until cluster snapshot `id` may be deleted (classifyDeletable); undefined when it is gone. */
export async function waitClusterSnapshotDeletable(cloud: Cloud, id: string, env: WaitEnv): Promise<DBClusterSnapshot | undefined> {
  return poll({
    what: `snapshot ${id} available to delete`,
    observe: () => findClusterSnapshot(cloud, id),
    classify: (s) => classifyDeletable(s?.Status),
    onRetry: (s) => env.progress?.(`snapshot ${id}: ${s?.Status ?? '?'}, deleted once it is available`, s?.PercentProgress),
    ...pollTiming(env),
  });
}

/** Waits until DB snapshot `id` may be deleted (classifyDeletable); undefined when it is gone. */
export async function waitDBSnapshotDeletable(cloud: Cloud, id: string, env: WaitEnv): Promise<DBSnapshot | undefined> {
  return poll({
    what: `snapshot ${id} available to delete`,
    observe: () => findDBSnapshot(cloud, id),
    classify: (s) => classifyDeletable(s?.Status),
    onRetry: (s) => env.progress?.(`snapshot ${id}: ${s?.Status ?? '?'}, deleted once it is available`, s?.PercentProgress),
    ...pollTiming(env),
  });
}

/** Seconds left, from the progress made since the wait started (undefined until there is some). */
export function etaSeconds(startedMs: number, nowMs: number, startPercent: number, percent: number): number | undefined {
  const done = percent - startPercent;
  if (done <= 0 || percent >= 100) return undefined;
  return Math.round((((nowMs - startedMs) / done) * (100 - percent)) / 1000);
}

/** Waits for a DB snapshot (or snapshot copy) to be available, reporting PercentProgress with an ETA. */
export async function waitDBSnapshotAvailable(cloud: Cloud, id: string, env: WaitEnv): Promise<DBSnapshot> {
  const started = env.clock.now();
  let first: number | undefined;
  const found = await poll({
    what: `snapshot ${id} available`,
    observe: () => findDBSnapshot(cloud, id),
    classify: (s) => classifyAvailable(s?.Status),
    onRetry: (s) => {
      const p = s?.PercentProgress;
      if (p !== undefined && first === undefined) first = p;
      const eta = p !== undefined && first !== undefined ? etaSeconds(started, env.clock.now(), first, p) : undefined;
      env.progress?.(`snapshot ${id}: ${s?.Status ?? 'not visible yet'}${p !== undefined ? ` ${p}%` : ''}`, p, eta);
    },
    ...pollTiming(env),
  });
  return found as DBSnapshot;
}

/** What one poll after an instance rename saw. */
export interface InstanceRenameObservation {
  instance: DBInstance | undefined;
  /** A status other than `available` was seen at some poll. */
  sawTransition: boolean;
  /** Milliseconds since the rename was requested. */
  elapsedMs: number;
}

/**
 * Instance rename classifier: do not trust the stock waiter. The new id must exist, a non-available status
 * (`renaming`, `rebooting`) must have been seen or the guard time passed, the status must be available and the
 * endpoint address must start with the new identifier. `checkAddress` is false only against the rehearsal cloud, whose
 * instances all answer on 127.0.0.1 (a per-name DNS address would not resolve locally); AWS is always checked.
 */
export function classifyInstanceRenamed(o: InstanceRenameObservation, newId: string, guardMs: number, checkAddress = true): Verdict {
  const i = o.instance;
  if (!i) return { state: 'retry', note: 'new name not visible yet' };
  const status = i.DBInstanceStatus;
  if (status !== undefined && TERMINAL_STATUSES.has(status)) return { state: 'failure', reason: `status is ${status}` };
  if (!o.sawTransition && o.elapsedMs < guardMs) return { state: 'retry', note: 'rename not started yet' };
  if (status !== 'available') return { state: 'retry', note: `status ${status ?? 'unknown'}` };
  const address = i.Endpoint?.Address?.toLowerCase() ?? '';
  if (checkAddress && !address.startsWith(`${newId.toLowerCase()}.`)) return { state: 'retry', note: `endpoint ${address || 'none'} not renamed yet` };
  return { state: 'success' };
}

/** Polls the NEW identifier after a ModifyDBInstance rename until it is really done. */
export async function waitInstanceRenamed(cloud: Cloud, newId: string, env: WaitEnv): Promise<DBInstance> {
  const started = env.clock.now();
  const guardMs = Math.min(60_000, env.pollMs * 4);
  let sawTransition = false;
  const found = await poll<InstanceRenameObservation>({
    what: `rename to ${newId}`,
    observe: async () => {
      const instance = await findInstance(cloud, newId);
      if (instance?.DBInstanceStatus !== undefined && instance.DBInstanceStatus !== 'available') sawTransition = true;
      return { instance, sawTransition, elapsedMs: env.clock.now() - started };
    },
    classify: (o) => classifyInstanceRenamed(o, newId, guardMs, cloud.provider !== 'rehearsal'),
    onRetry: (_o, v) => env.progress?.(`rename to ${newId}: ${v.state === 'retry' ? (v.note ?? '') : ''}`.trim()),
    ...pollTiming(env),
  });
  return found.instance as DBInstance;
}

/** What one poll after a rename saw. */
export interface RenameObservation {
  cluster: DBCluster | undefined;
  /** A status other than `available` was seen at some poll. */
  sawTransition: boolean;
  /** Milliseconds since the rename was requested. */
  elapsedMs: number;
}

/**
 * Rename classifier: the stock waiter can succeed before the rename even starts, so demand that the new id
 * exists, a non-available status was seen or the guard time passed, the status is available and the endpoint
 * is no longer the one from before the rename.
 */
export function classifyRenamed(o: RenameObservation, previousEndpoint: string, guardMs: number): Verdict {
  const c = o.cluster;
  if (!c) return { state: 'retry', note: 'new name not visible yet' };
  const status = c.Status;
  if (status !== undefined && TERMINAL_STATUSES.has(status)) return { state: 'failure', reason: `status is ${status}` };
  // A changed endpoint is itself proof the rename took effect; otherwise wait for a transition or the guard.
  const moved = endpointOf(c) !== previousEndpoint;
  if (!o.sawTransition && !moved && o.elapsedMs < guardMs) return { state: 'retry', note: 'rename not started yet' };
  if (status !== 'available') return { state: 'retry', note: `status ${status ?? 'unknown'}` };
  if (!moved) return { state: 'retry', note: 'endpoint not changed yet' };
  return { state: 'success' };
}

/** `host:port` of a cluster's writer endpoint. */
export function endpointOf(c: DBCluster): string {
  return `${c.Endpoint ?? ''}:${c.Port ?? ''}`;
}

/** Polls the NEW identifier after a ModifyDBCluster rename until it is really done. */
export async function waitClusterRenamed(cloud: Cloud, newId: string, previousEndpoint: string, env: WaitEnv): Promise<DBCluster> {
  const started = env.clock.now();
  const guardMs = Math.min(30_000, env.pollMs * 2);
  let sawTransition = false;
  const found = await poll<RenameObservation>({
    what: `rename to ${newId}`,
    observe: async () => {
      const cluster = await findCluster(cloud, newId);
      if (cluster?.Status !== undefined && cluster.Status !== 'available') sawTransition = true;
      return { cluster, sawTransition, elapsedMs: env.clock.now() - started };
    },
    classify: (o) => classifyRenamed(o, previousEndpoint, guardMs),
    onRetry: (o, v) => env.progress?.(`rename to ${newId}: ${v.state === 'retry' ? (v.note ?? '') : ''}`.trim()),
    ...pollTiming(env),
  });
  return found.cluster as DBCluster;
}

export function pollTiming(env: WaitEnv) {
  return {
    clock: env.clock,
    signal: env.signal,
    minDelayMs: env.pollMs,
    maxDelayMs: env.maxPollMs ?? env.pollMs * 4,
    timeoutMs: env.timeoutMs,
  };
}
