// What the fake RDS does to a cluster or DB instance record alike, for rds.ts (Aurora clusters) and rds-instance.ts
// (single DB instances): status, pagination, snapshot data (a real dump), restore data, renames, drops, due transitions.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Core, Input } from '../core.js';
import { before, ensureProxy, isMysql, ms, readerProxy, serverBackend, str } from '../core.js';
import { awsFault } from './faults.js';
import { findKey } from './kms.js';
import { dropMyDatabase, restoreMyDump, takeMyDump } from '../engines/my-ops.js';
import { dropDatabase, dropSlotWhenFree, ident, pgConfig, restoreSnapshot, takeSnapshot, withPg } from '../engines/pg-ops.js';
import type { Backend, ClusterRecord, GlobalClusterRecord, SnapshotRecord, TagRecord } from '../registry.js';
import { binlogRecord, resourceId } from '../registry.js';
import { formatBinlogPosition } from '../../db/position.js';

/** The global cluster a cluster is a member of (by resource id), if any. */
export function globalOf(core: Core, c: ClusterRecord): GlobalClusterRecord | undefined {
  return Object.values(core.reg.state.globalClusters ?? {}).find((g) => g.members.some((m) => m.clusterResourceId === c.resourceId));
}

/** Default page size of Describe* calls. */
export const PAGE = 100;

export function clusterStatus(core: Core, c: ClusterRecord): string {
  if (c.rename && before(core, c.rename.until)) return 'renaming';
  if (before(core, c.readyAt)) return 'creating';
  if (c.instance === undefined && c.restoredFrom !== undefined && !Object.values(core.reg.state.instances).some((i) => i.clusterIdentifier === c.identifier)) return 'creating';
  if (Object.values(core.reg.state.snapshots).some((s) => s.clusterIdentifier === c.identifier && s.dbSnapshot?.copiedFrom === undefined && before(core, s.readyAt))) return 'backing-up';
  return 'available';
}

export function snapshotProgress(core: Core, s: SnapshotRecord): { status: string; percent: number } {
  if (!before(core, s.readyAt)) return { status: 'available', percent: 100 };
  const span = Math.max(1, s.readyAt - s.createdAt);
  return { status: 'creating', percent: Math.min(99, Math.max(0, Math.floor(((core.now() - s.createdAt) / span) * 100))) };
}

/**
 * DeleteDBClusterSnapshot / DeleteDBSnapshot: AWS deletes only an `available` snapshot; one still being created or
 * copied is refused with `fault` (InvalidDBClusterSnapshotStateFault / InvalidDBSnapshotStateFault). Then its dumps
 * go and, on PostgreSQL, its internal slot and publications when no other snapshot or task needs them.
 */
export async function deleteSnapshotData(core: Core, snapshot: SnapshotRecord, fault: 'InvalidDBClusterSnapshotStateFault' | 'InvalidDBSnapshotStateFault'): Promise<void> {
  const { status } = snapshotProgress(core, snapshot);
  if (status !== 'available') throw awsFault('rds', fault, `Snapshot ${snapshot.identifier} is ${status}: only a snapshot in the available state can be deleted.`);
  const shared = Object.values(core.reg.state.snapshots).some((x) => x !== snapshot && x.internalSlot === snapshot.internalSlot);
  if (!snapshot.binlog && !shared && !Object.values(core.reg.state.tasks).some((t) => t.cdc?.internalSlot === snapshot.internalSlot)) {
    await withPg(pgConfig(snapshot.sourceBackend), async (c) => {
      await dropSlotWhenFree(c, snapshot.internalSlot);
      for (const p of snapshot.publications) await c.query(`DROP PUBLICATION IF EXISTS ${ident(p)}`);
    }).catch((e: unknown) => core.log(`rehearsal: could not drop ${snapshot.internalSlot}: ${String(e)}`));
  }
  rmSync(snapshot.dumpFile, { force: true });
  rmSync(snapshot.rolesFile, { force: true });
  delete core.reg.state.snapshots[snapshot.identifier];
  core.reg.event(snapshot.dbSnapshot ? 'db-snapshot' : 'db-cluster-snapshot', snapshot.identifier, 'Deleted manual snapshot', ['deletion'], core.now());
  core.reg.save();
}

export function tagsOf(input: Input): TagRecord[] {
  return Array.isArray(input.Tags) ? (input.Tags as TagRecord[]).map((t) => ({ Key: String(t.Key), Value: String(t.Value ?? '') })) : [];
}

export function requireAvailable(core: Core, c: ClusterRecord): void {
  const status = clusterStatus(core, c);
  if (status !== 'available') {
    if (c.instance) throw awsFault('rds', 'InvalidDBInstanceStateFault', `DB instance ${c.identifier} is not in available state (it is ${status}).`);
    throw awsFault('rds', 'InvalidDBClusterStateFault', `DB cluster ${c.identifier} is not in available state (it is ${status}).`);
  }
}

export function paginate<T>(items: T[], input: Input): { page: T[]; Marker?: string } {
  const start = Number(str(input, 'Marker') ?? '0') || 0;
  const size = typeof input.MaxRecords === 'number' ? input.MaxRecords : PAGE;
  const page = items.slice(start, start + size);
  return start + size < items.length ? { page, Marker: String(start + size) } : { page };
}

/** The other local server: a restore lands where the snapshot's source does not live. */
function restoreServer(s: SnapshotRecord): 'source' | 'target' {
  return s.sourceBackend.server === 'target' ? 'source' : 'target';
}

/** Validate the restore key as RDS would; returns its ARN. */
export function restoreKeyArn(core: Core, ref: string | undefined, snapshot: SnapshotRecord): string {
  if (ref === undefined) return snapshot.kmsKeyArn;
  const key = findKey(core.reg.state, ref, core.region);
  if (!key) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] does not exist, is not enabled or you do not have permissions to access it.`);
  if (key.region !== core.region) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is in region ${key.region}; RDS in ${core.region} cannot use it.`);
  if (key.state !== 'Enabled') throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is ${key.state} and cannot be used (KMSInvalidStateException).`);
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is asymmetric (${key.keySpec}); RDS supports only symmetric encryption KMS keys.`);
  if (!key.grantsRds) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `RDS cannot create a grant on the specified KMS key [${ref}]: its key policy does not allow it.`);
  return key.arn;
}

/** Load a snapshot into the other local server; PostgreSQL restores serve the snapshot's LSN by `seed` (Aurora's or RDS's function). */
export async function restoreData(core: Core, snapshot: SnapshotRecord, id: string, seed: 'aurora' | 'rds_tools'): Promise<Backend> {
  const which = restoreServer(snapshot);
  const database = snapshot.sourceBackend.database;
  const taken = Object.values(core.reg.state.clusters).find((c) => c.route !== true && c.backend.server === which && c.backend.database === database);
  if (taken) {
    const what = taken.instance ? 'instance' : 'cluster';
    throw awsFault('rds', 'InsufficientDBClusterCapacityFault', `The rehearsal ${which} server already holds database ${database} for ${what} ${taken.identifier}; delete that ${what} first (one restored copy per server).`);
  }
  const backend: Backend = serverBackend(core, which, database);
  core.log(`rehearsal: restoring ${snapshot.identifier} as ${id} on the ${which} server`);
  if (snapshot.binlog) {
    await restoreMyDump(backend, snapshot.dumpFile, snapshot.rolesFile);
  } else {
    await restoreSnapshot({
      target: backend, dumpFile: snapshot.dumpFile, rolesFile: snapshot.rolesFile, lsn: snapshot.lsn, slots: snapshot.slots,
      // Fault injection: an RDS for PostgreSQL version without rds_tools.logical_seed_lsn().
      seed: seed === 'rds_tools' && core.failures.seedFunctionMissing === true ? 'none' : seed,
      ...(snapshot.databaseOwner !== undefined ? { databaseOwner: snapshot.databaseOwner } : {}), log: core.log,
    });
  }
  return backend;
}

/** Apply due transitions (a finished rename points its name's proxy at the cluster). */
export async function rdsTick(core: Core): Promise<void> {
  for (const c of Object.values(core.reg.state.clusters)) {
    if (c.rename && !before(core, c.rename.until)) {
      await ensureProxy(core, c.identifier);
      core.proxies.point(c.identifier, { host: c.backend.host, port: c.backend.port });
      core.reg.event(c.instance ? 'db-instance' : 'db-cluster', c.identifier, `Renamed ${c.instance ? 'instance' : 'cluster'} from ${c.rename.from} to ${c.identifier}`, ['configuration change']);
      delete c.rename;
      core.reg.save();
    }
  }
}

/** Take the data of a snapshot of `cluster` (a cluster or a DB instance): a dump at a consistent point and its position. */
export async function snapshotData(core: Core, cluster: ClusterRecord, id: string, extraTags: TagRecord[]): Promise<SnapshotRecord> {
  const dumpFile = join(core.snapshotDir, `${id}.dump`);
  const rolesFile = join(core.snapshotDir, `${id}.roles.json`);
  const startedAt = core.now();
  core.log(`rehearsal: snapshot ${id} of ${cluster.identifier}: dumping ${cluster.backend.database}`);
  const common = {
    identifier: id, clusterIdentifier: cluster.identifier, sourceBackend: cluster.backend, engine: cluster.engine, engineVersion: cluster.engineVersion,
    kmsKeyArn: cluster.kmsKeyArn, createdAt: startedAt, dumpFile, rolesFile, clusterSettings: { ...cluster.settings },
    tags: [...(cluster.settings.copyTagsToSnapshot ? cluster.tags : []), ...extraTags],
  };
  let snapshot: SnapshotRecord;
  if (isMysql(core)) {
    const binlog = await takeMyDump(cluster.backend, dumpFile, rolesFile);
    snapshot = { ...common, readyAt: Math.max(core.now(), startedAt + ms(core.delays.snapshotSeconds)), lsn: formatBinlogPosition(binlog), binlog: binlogRecord(binlog), internalSlot: '', publications: ['', ''], slots: [] };
  } else {
    const internalSlot = `rh_snap_${resourceId(12).toLowerCase()}`;
    const publications: [string, string] = [`${internalSlot}_pub`, `${internalSlot}_ins`];
    const result = await takeSnapshot(cluster.backend, internalSlot, publications, dumpFile, rolesFile);
    snapshot = {
      ...common, readyAt: Math.max(core.now(), startedAt + ms(core.delays.snapshotSeconds)), lsn: result.lsn, internalSlot, publications,
      databaseOwner: result.databaseOwner, slots: result.slots,
    };
  }
  return snapshot;
}

/** Rename a cluster or DB instance: the old name stops resolving at once, the new one serves after renameSeconds. */
export async function renameRecord(core: Core, cluster: ClusterRecord, newId: string): Promise<void> {
  {
    const target = newId.toLowerCase();
    if (core.reg.state.clusters[target]) {
      if (cluster.instance) throw awsFault('rds', 'DBInstanceAlreadyExistsFault', `DB instance ${target} already exists`);
      throw awsFault('rds', 'DBClusterAlreadyExistsFault', `DB Cluster ${target} already exists`);
    }
    const old = cluster.identifier;
    // The old name stops resolving at once; the new one serves once the rename is effective.
    await ensureProxy(core, old);
    core.proxies.point(old, undefined);
    // The old name's reader endpoint stops resolving at the same moment (its open connections are dropped).
    if (core.proxies.portOf(readerProxy(old)) !== undefined) core.proxies.point(readerProxy(old), undefined);
    await ensureProxy(core, target);
    core.proxies.point(target, undefined);
    core.proxies.drop(target);
    delete core.reg.state.clusters[old];
    cluster.identifier = target;
    cluster.rename = { from: old, until: core.now() + ms(core.delays.renameSeconds) };
    core.reg.state.clusters[target] = cluster;
    for (const i of Object.values(core.reg.state.instances)) if (i.clusterIdentifier === old) i.clusterIdentifier = target;
    for (const snap of Object.values(core.reg.state.snapshots)) if (snap.clusterIdentifier === old && before(core, snap.readyAt)) snap.clusterIdentifier = target;
    core.reg.event(cluster.instance ? 'db-instance' : 'db-cluster', target, `Renaming ${cluster.instance ? 'instance' : 'cluster'} from ${old} to ${target}`, ['configuration change']);
  }
}

/** Drop the data of a restored cluster or instance and forget it; its name stops resolving. */
export async function dropRecord(core: Core, cluster: ClusterRecord): Promise<void> {
  if (isMysql(core)) await dropMyDatabase(cluster.backend, cluster.backend.database);
  else await dropDatabase({ ...cluster.backend, database: 'postgres' }, cluster.backend.database);
  delete core.reg.state.clusters[cluster.identifier];
  core.proxies.point(cluster.identifier, undefined);
}
