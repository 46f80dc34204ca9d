// Aurora Global Database in the rehearsal cloud. Model: a global cluster is a registry record listing its member
// clusters by resource id (so renames keep them members); a secondary cluster lives in the second rehearsal Region as
// a read-only route to its primary's server (like a cross-Region read replica: no server of its own, it lags by
// nothing; CloudWatch AuroraGlobalDBReplicationLag reads 0 once it is ready), under a key of its own Region, and its
// instances are ordinary Aurora member records there. As RDS: global clusters are seen from every Region; a secondary
// is CreateDBCluster in its Region with GlobalClusterIdentifier, refused with a key of another Region (without
// KmsKeyId: the Region's default key, aws/rds); a member cannot be deleted (detach it with RemoveFromGlobalCluster
// first), a global cluster with members neither; the primary leaves last.
import type { Core, Input } from '../core.js';
import { before, ms, str } from '../core.js';
import type { ClusterRecord, GlobalClusterRecord } from '../registry.js';
import { resourceId } from '../registry.js';
import { awsFault } from './faults.js';
import { declareKey, findKey } from './kms.js';
import { globalOf, paginate, requireAvailable, tagsOf } from './rds-records.js';
import { inRegion } from './rds-instance.js';

const globals = (core: Core): Record<string, GlobalClusterRecord> => (core.reg.state.globalClusters ??= {});

/** A cluster's ARN in its own Region. */
function clusterArn(core: Core, c: ClusterRecord): string {
  return `arn:aws:rds:${c.region ?? core.reg.state.region}:${core.account}:cluster:${c.identifier}`;
}

function clusterByResource(core: Core, id: string): ClusterRecord | undefined {
  return Object.values(core.reg.state.clusters).find((c) => c.resourceId === id);
}

/** The Aurora cluster (not a DB instance) an ARN names, in whichever Region. */
function clusterByArn(core: Core, ref: string | undefined): ClusterRecord | undefined {
  return ref === undefined ? undefined : Object.values(core.reg.state.clusters).find((c) => !c.instance && clusterArn(core, c) === ref);
}

function status(core: Core, g: GlobalClusterRecord): string {
  if (!before(core, g.readyAt)) return 'available';
  return g.renaming === true ? 'modifying' : 'creating';
}

function shape(core: Core, g: GlobalClusterRecord): Record<string, unknown> {
  const members = g.members.flatMap((m) => {
    const c = clusterByResource(core, m.clusterResourceId);
    return c ? [{ c, isWriter: m.isWriter }] : [];
  });
  const secondaries = members.filter((m) => !m.isWriter).map((m) => clusterArn(core, m.c));
  return {
    GlobalClusterIdentifier: g.identifier, GlobalClusterResourceId: g.resourceId, GlobalClusterArn: `arn:aws:rds::${core.account}:global-cluster:${g.identifier}`,
    Status: status(core, g), Engine: g.engine, EngineVersion: g.engineVersion, StorageEncrypted: true, DeletionProtection: false, TagList: g.tags,
    GlobalClusterMembers: members.map((m) => ({
      DBClusterArn: clusterArn(core, m.c), IsWriter: m.isWriter, Readers: m.isWriter ? secondaries : [],
      GlobalWriteForwardingStatus: 'disabled', ...(m.isWriter ? {} : { SynchronizationStatus: 'connected' }),
    })),
  };
}

function mustGlobal(core: Core, id: string | undefined): GlobalClusterRecord {
  const g = id !== undefined ? globals(core)[id.toLowerCase()] : undefined;
  if (!g) throw awsFault('rds', 'GlobalClusterNotFoundFault', `GlobalCluster ${id ?? '(none)'} not found.`, 404);
  return g;
}

function requireGlobalAvailable(core: Core, g: GlobalClusterRecord): void {
  if (status(core, g) !== 'available') throw awsFault('rds', 'InvalidGlobalClusterStateFault', `Global cluster ${g.identifier} is not in available state (it is ${status(core, g)}).`);
}

/** Register a global database headed by `primary` (the world's source at the start; CreateGlobalCluster later). */
export function registerGlobal(core: Core, id: string, primary: ClusterRecord, tags: GlobalClusterRecord['tags'], readyAt: number): GlobalClusterRecord {
  const g: GlobalClusterRecord = {
    identifier: id.toLowerCase(), resourceId: `cluster-${resourceId()}`, engine: primary.engine, engineVersion: primary.engineVersion,
    members: [{ clusterResourceId: primary.resourceId, isWriter: true }], createdAt: core.now(), readyAt, tags,
  };
  globals(core)[g.identifier] = g;
  return g;
}

/**
 * A secondary cluster of `g` in `core.region`: a read-only route to the primary's server under `kmsKeyArn`, added to
 * the global cluster; ready after `readySeconds`, from when AuroraGlobalDBReplicationLag reads 0.
 */
export function addSecondaryRecord(core: Core, g: GlobalClusterRecord, id: string, kmsKeyArn: string, opts: { parameterGroup?: string; subnetGroup?: string; securityGroupIds?: string[]; tags: ClusterRecord['tags']; readySeconds: number }): ClusterRecord {
  const writer = g.members.find((m) => m.isWriter);
  const primary = writer ? clusterByResource(core, writer.clusterResourceId) : undefined;
  if (!primary) throw awsFault('rds', 'InvalidGlobalClusterStateFault', `Global cluster ${g.identifier} has no primary cluster.`);
  const now = core.now();
  const record: ClusterRecord = {
    identifier: id.toLowerCase(), resourceId: `cluster-${resourceId()}`, engine: g.engine, engineVersion: g.engineVersion, backend: { ...primary.backend }, kmsKeyArn,
    createdAt: now, readyAt: now + ms(opts.readySeconds), route: true, region: core.region,
    settings: {
      ...primary.settings, parameterGroup: opts.parameterGroup ?? primary.settings.parameterGroup, subnetGroup: opts.subnetGroup ?? 'default',
      securityGroupIds: opts.securityGroupIds ?? ['sg-0default0000000000'], backupRetentionPeriod: 1, deletionProtection: false, availabilityZones: [`${core.region}a`, `${core.region}b`, `${core.region}c`],
    },
    tags: opts.tags,
  };
  core.reg.state.clusters[record.identifier] = record;
  g.members.push({ clusterResourceId: record.resourceId, isWriter: false });
  core.reg.addDatapoints([{ t: record.readyAt, ns: 'AWS/RDS', m: 'AuroraGlobalDBReplicationLag', d: { DBClusterIdentifier: record.identifier }, v: 0 }]);
  core.reg.event('db-cluster', record.identifier, `Secondary cluster of global database ${g.identifier} created in ${core.region}`, ['creation'], now);
  return record;
}

/** The key a secondary is encrypted with in `core.region`: the named one (of that Region), else the Region's aws/rds. */
function secondaryKeyArn(core: Core, ref: string | undefined): string {
  if (ref === undefined) return declareKey(core.reg.state, 'alias/aws/rds', { region: core.region, description: `rehearsal: the default RDS key of ${core.region}` }).arn;
  const key = findKey(core.reg.state, ref, core.region);
  if (!key) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] does not exist, is not enabled or you do not have permissions to access it.`);
  if (key.region !== core.region) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is in region ${key.region}; RDS in ${core.region} cannot use it (a secondary cluster needs a key of its own Region).`);
  if (key.state !== 'Enabled') throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is ${key.state} and cannot be used (KMSInvalidStateException).`);
  if (key.keySpec !== 'SYMMETRIC_DEFAULT') throw awsFault('rds', 'KMSKeyNotAccessibleFault', `The specified KMS key [${ref}] is asymmetric (${key.keySpec}); RDS supports only symmetric encryption KMS keys.`);
  if (!key.grantsRds) throw awsFault('rds', 'KMSKeyNotAccessibleFault', `RDS cannot create a grant on the specified KMS key [${ref}]: its key policy does not allow it.`);
  return key.arn;
}

function createSecondary(core: Core, input: Input, clusterShape: (core: Core, c: ClusterRecord) => Record<string, unknown>): unknown {
  const id = str(input, 'DBClusterIdentifier')?.toLowerCase();
  const gid = str(input, 'GlobalClusterIdentifier');
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'DBClusterIdentifier is required');
  if (gid === undefined) throw awsFault('rds', 'InvalidParameterCombination', `The rehearsal cloud makes clusters in ${core.region} only as secondaries of a global database (GlobalClusterIdentifier).`);
  const g = mustGlobal(core, gid);
  requireGlobalAvailable(core, g);
  if (core.reg.state.clusters[id]) throw awsFault('rds', 'DBClusterAlreadyExistsFault', `DB Cluster ${id} already exists`);
  const engine = str(input, 'Engine');
  if (engine !== undefined && engine !== g.engine) throw awsFault('rds', 'InvalidParameterCombination', `The engine ${engine} does not match the global cluster's engine ${g.engine}.`);
  if (g.members.some((m) => { const c = clusterByResource(core, m.clusterResourceId); return c !== undefined && inRegion(core, c); })) {
    throw awsFault('rds', 'InvalidGlobalClusterStateFault', `Global cluster ${g.identifier} already has a member in ${core.region}.`);
  }
  const group = str(input, 'DBClusterParameterGroupName');
  if (group !== undefined && !core.reg.state.parameterGroups[group]) throw awsFault('rds', 'DBClusterParameterGroupNotFoundFault', `DBClusterParameterGroup not found: ${group}`, 404);
  const kmsKeyArn = secondaryKeyArn(core, str(input, 'KmsKeyId'));
  const record = addSecondaryRecord(core, g, id, kmsKeyArn, {
    ...(group !== undefined ? { parameterGroup: group } : {}), ...(str(input, 'DBSubnetGroupName') !== undefined ? { subnetGroup: str(input, 'DBSubnetGroupName') } : {}),
    ...(Array.isArray(input.VpcSecurityGroupIds) ? { securityGroupIds: input.VpcSecurityGroupIds as string[] } : {}), tags: tagsOf(input), readySeconds: core.delays.restoreSeconds,
  });
  core.reg.save();
  return { DBCluster: clusterShape(core, record) };
}

function deleteSecondary(core: Core, input: Input, clusterShape: (core: Core, c: ClusterRecord) => Record<string, unknown>): unknown {
  const id = str(input, 'DBClusterIdentifier')?.toLowerCase() ?? '';
  const c = core.reg.state.clusters[id];
  if (!c || c.instance || !inRegion(core, c)) throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${id} not found.`, 404);
  if (globalOf(core, c)) throw awsFault('rds', 'InvalidDBClusterStateFault', `Cluster ${id} is a member of global cluster ${globalOf(core, c)?.identifier ?? '?'}: remove it from the global cluster first (RemoveFromGlobalCluster).`);
  if (Object.values(core.reg.state.instances).some((i) => i.clusterIdentifier === c.identifier)) throw awsFault('rds', 'InvalidDBClusterStateFault', 'Cluster cannot be deleted, it still contains DB instances in non-deleting state.');
  if (input.SkipFinalSnapshot !== true && str(input, 'FinalDBSnapshotIdentifier') === undefined) throw awsFault('rds', 'InvalidParameterCombination', 'FinalDBSnapshotIdentifier is required unless SkipFinalSnapshot is specified.');
  const out = { ...clusterShape(core, c), Status: 'deleting' };
  // A route has no data of its own: it stops answering, its primary's data stays.
  delete core.reg.state.clusters[id];
  if (core.proxies.portOf(id) !== undefined) core.proxies.point(id, undefined);
  core.reg.event('db-cluster', id, 'DB cluster deleted', ['deletion']);
  core.reg.save();
  return { DBCluster: out };
}

/**
 * The global database commands of the fake RDS in `core.region` (any Region: global clusters are global), and the
 * secondary clusters' CreateDBCluster / DeleteDBCluster there; undefined for any other command. DeleteDBCluster of a
 * home-Region cluster that is a member is refused here; other home-Region deletes go on to the fake RDS.
 */
export function globalSend(core: Core, name: string, input: Input, clusterShape: (core: Core, c: ClusterRecord) => Record<string, unknown>): unknown {
  const all = globals(core);
  switch (name) {
    case 'DescribeGlobalClusters': {
      const id = str(input, 'GlobalClusterIdentifier');
      const list = id !== undefined ? [mustGlobal(core, id)] : Object.values(all);
      const { page, Marker } = paginate(list.map((g) => shape(core, g)), input);
      return { GlobalClusters: page, ...(Marker !== undefined ? { Marker } : {}) };
    }
    case 'CreateGlobalCluster': {
      const id = str(input, 'GlobalClusterIdentifier')?.toLowerCase();
      if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', 'GlobalClusterIdentifier is required');
      if (all[id]) throw awsFault('rds', 'GlobalClusterAlreadyExistsFault', `Global cluster ${id} already exists.`);
      const ref = str(input, 'SourceDBClusterIdentifier');
      const source = clusterByArn(core, ref);
      if (!source || !inRegion(core, source)) throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${ref ?? '(none)'} not found (SourceDBClusterIdentifier is the ARN of a cluster in ${core.region}).`, 404);
      requireAvailable(core, source);
      if (globalOf(core, source)) throw awsFault('rds', 'InvalidDBClusterStateFault', `Cluster ${source.identifier} is already a member of global cluster ${globalOf(core, source)?.identifier ?? '?'}.`);
      const g = registerGlobal(core, id, source, tagsOf(input), core.now() + ms(core.delays.availableSeconds));
      core.reg.save();
      return { GlobalCluster: shape(core, g) };
    }
    case 'ModifyGlobalCluster': {
      const g = mustGlobal(core, str(input, 'GlobalClusterIdentifier'));
      requireGlobalAvailable(core, g);
      const to = str(input, 'NewGlobalClusterIdentifier')?.toLowerCase();
      if (to !== undefined && to !== g.identifier) {
        if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(to) || to.length > 63) throw awsFault('rds', 'InvalidParameterValue', `Invalid NewGlobalClusterIdentifier ${to}: 1-63 letters, digits or hyphens, starting with a letter, no trailing or double hyphen.`);
        if (all[to]) throw awsFault('rds', 'GlobalClusterAlreadyExistsFault', `Global cluster ${to} already exists.`);
        delete all[g.identifier];
        g.identifier = to;
        g.readyAt = core.now() + ms(core.delays.renameSeconds);
        g.renaming = true;
        all[to] = g;
      }
      core.reg.save();
      return { GlobalCluster: shape(core, g) };
    }
    case 'RemoveFromGlobalCluster': {
      const g = mustGlobal(core, str(input, 'GlobalClusterIdentifier'));
      const c = clusterByArn(core, str(input, 'DbClusterIdentifier'));
      const member = c ? g.members.find((m) => m.clusterResourceId === c.resourceId) : undefined;
      if (!c || !member) throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${str(input, 'DbClusterIdentifier') ?? '(none)'} is not a member of global cluster ${g.identifier}.`, 404);
      if (member.isWriter && g.members.length > 1) throw awsFault('rds', 'InvalidGlobalClusterStateFault', `The primary cluster of global cluster ${g.identifier} can be removed only when it has no secondary clusters.`);
      const out = shape(core, g);
      g.members = g.members.filter((m) => m !== member);
      core.reg.event('db-cluster', c.identifier, `Removed from global cluster ${g.identifier}`, ['configuration change']);
      core.reg.save();
      return { GlobalCluster: out };
    }
    case 'DeleteGlobalCluster': {
      const g = mustGlobal(core, str(input, 'GlobalClusterIdentifier'));
      if (g.members.some((m) => clusterByResource(core, m.clusterResourceId))) throw awsFault('rds', 'InvalidGlobalClusterStateFault', `Global cluster ${g.identifier} still has members: remove them first (RemoveFromGlobalCluster).`);
      const out = { ...shape(core, g), Status: 'deleting' };
      delete all[g.identifier];
      core.reg.save();
      return { GlobalCluster: out };
    }
    case 'CreateDBCluster':
      return createSecondary(core, input, clusterShape);
    case 'DeleteDBCluster': {
      const id = str(input, 'DBClusterIdentifier')?.toLowerCase() ?? '';
      const c = core.reg.state.clusters[id];
      if (c && !c.instance && inRegion(core, c) && globalOf(core, c)) throw awsFault('rds', 'InvalidDBClusterStateFault', `Cluster ${id} is a member of global cluster ${globalOf(core, c)?.identifier ?? '?'}: remove it from the global cluster first (RemoveFromGlobalCluster).`);
      // Secondaries (routes) are deleted here; a home-Region cluster goes on to the fake RDS.
      return c?.route === true && !c.instance ? deleteSecondary(core, input, clusterShape) : undefined;
    }
    default:
      return undefined;
  }
}
