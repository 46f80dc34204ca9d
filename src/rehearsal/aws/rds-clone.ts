// Fake RestoreDBClusterToPointInTime (Aurora clones): a restore, under the given key, from a consistent copy of the
// source taken now (the latest restorable time; a past RestoreToTime is not modelled and refused). RestoreType
// `copy-on-write` or `full-copy` (the default, as on AWS); the new cluster goes creating -> available.
//
// A copy-on-write clone with a KmsKeyId other than the source's key is REFUSED here (InvalidParameterCombination).
// AWS's API reference allows a different key on this call without saying whether copy-on-write honours it; a clone
// shares the source's pages, which are encrypted under the source key, so the fake takes the conservative reading
// (UNCERTAIN: aws-facts.md says nothing; rekey reads AWS's answer at run time and falls back to full-copy).
import type { Core, Input } from '../core.js';
import { str } from '../core.js';
import { awsFault } from './faults.js';
import { requireAvailable, restoreKeyArn, snapshotData } from './rds-records.js';
import { resourceId } from '../registry.js';
import type { ClusterRecord } from '../registry.js';

export const CLONE_SNAPSHOT_PREFIX = 'rh-clone-';

export async function restoreToPointInTime(core: Core, input: Input, restoreFromSnapshot: (core: Core, input: Input) => Promise<unknown>): Promise<unknown> {
  const id = str(input, 'DBClusterIdentifier');
  const sourceId = str(input, 'SourceDBClusterIdentifier');
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBClusterIdentifier is required');
  if (sourceId === undefined) throw awsFault('rds', 'InvalidParameterValue', 'SourceDBClusterIdentifier is required');
  const source = core.reg.state.clusters[sourceId];
  if (!source || source.instance) throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${sourceId} not found.`, 404);
  if (core.reg.state.clusters[id]) throw awsFault('rds', 'DBClusterAlreadyExistsFault', `DB Cluster ${id} already exists`);
  const type = str(input, 'RestoreType') ?? 'full-copy';
  if (type !== 'full-copy' && type !== 'copy-on-write') throw awsFault('rds', 'InvalidParameterValue', `Invalid RestoreType: ${type}`);
  const latest = input.UseLatestRestorableTime === true;
  const at = input.RestoreToTime;
  if (latest && at !== undefined) throw awsFault('rds', 'InvalidParameterCombination', 'Cannot specify both RestoreToTime and UseLatestRestorableTime');
  if (type === 'copy-on-write' && at !== undefined) throw awsFault('rds', 'InvalidParameterCombination', 'RestoreToTime cannot be specified with RestoreType copy-on-write');
  if (type === 'full-copy' && !latest && at === undefined) throw awsFault('rds', 'InvalidParameterValue', 'Either RestoreToTime or UseLatestRestorableTime must be specified');
  if (at !== undefined) throw awsFault('rds', 'InvalidRestoreFault', 'the rehearsal cloud restores to the latest restorable time only');
  requireAvailable(core, source);
  const keyRef = str(input, 'KmsKeyId');
  if (keyRef !== undefined && type === 'copy-on-write') {
    const wanted = restoreKeyArn(core, keyRef, { kmsKeyArn: source.kmsKeyArn } as Parameters<typeof restoreKeyArn>[2]);
    if (wanted !== source.kmsKeyArn) {
      throw awsFault('rds', 'InvalidParameterCombination', `A copy-on-write clone shares the source's storage and its KMS key (${source.kmsKeyArn}); to use KMS key ${wanted}, use RestoreType full-copy.`);
    }
  }
  // The point in time is now: a consistent copy of the source, not listed as a snapshot (internal).
  const snapId = `${CLONE_SNAPSHOT_PREFIX}${id}-${resourceId(6).toLowerCase()}`;
  const snap = await snapshotData(core, source, snapId, []);
  snap.readyAt = core.now();
  snap.internal = true;
  core.reg.state.snapshots[snapId] = snap;
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !['SourceDBClusterIdentifier', 'RestoreType', 'UseLatestRestorableTime'].includes(k)));
  const out = await restoreFromSnapshot(core, { ...rest, SnapshotIdentifier: snapId, Engine: source.engine });
  // Read again: the restore just registered it.
  const cluster: ClusterRecord | undefined = Object.values(core.reg.state.clusters).find((c) => c.identifier === id);
  if (cluster) {
    cluster.restoreType = type;
    // A copy-on-write clone is ready sooner than a full copy: about half the configured restore time.
    if (type === 'copy-on-write') cluster.readyAt = Math.max(core.now(), cluster.createdAt + (cluster.readyAt - cluster.createdAt) / 2);
    core.reg.event('db-cluster', id, `DB cluster restored to a point in time from ${sourceId} (${type})`, ['creation'], cluster.createdAt);
    core.reg.save();
  }
  return { DBCluster: { ...(out as { DBCluster: Record<string, unknown> }).DBCluster, ...(type === 'copy-on-write' ? { CloneGroupId: `clone-${source.resourceId}` } : {}) } };
}
