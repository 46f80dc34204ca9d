// Aurora's topology in the rehearsal cloud. Model: a reader is a read-only route to its cluster's writer server, not
// a server of its own (a replica server per reader would not fit in a rehearsal on 2 cores): each instance, the writer
// too, has an endpoint proxy following its name (`db:<instance>`), each cluster a reader endpoint proxy
// (`ro:<cluster>`), each custom endpoint a proxy (`custom:<name>`), all forwarding to the cluster's server while the
// cluster answers. Custom endpoints belong to their cluster (by resource id: they stay with it across renames), are
// unique by name in the Region, cannot be renamed, and their names keep their proxy port (their DNS name) when made
// again on another cluster.
import type { Core, Input } from '../core.js';
import { arn, before, ensureProxy, ms, readerProxy, str } from '../core.js';
import type { ClusterEndpointRecord, ClusterRecord, InstanceRecord } from '../registry.js';
import { awsFault } from './faults.js';
import { paginate, tagsOf } from './rds-records.js';

export { readerProxy } from '../core.js';
/** Proxy key of a reader instance's endpoint. */
export const instanceProxy = (instanceId: string): string => `db:${instanceId}`;
/** Proxy key of a custom endpoint. */
export const customProxy = (name: string): string => `custom:${name}`;

/** Whether this world models readers and endpoints (so the default rehearsal starts no extra proxy). */
export function modelsTopology(core: Core): boolean {
  const s = core.runbook.rehearsal?.source;
  return (s?.readers ?? 0) > 0 || (s?.customEndpoints.length ?? 0) > 0 || Object.keys(core.reg.state.clusterEndpoints ?? {}).length > 0;
}

/** The cluster's writer: its first instance (Aurora makes the first instance of a cluster its writer). */
export function writerOf(core: Core, clusterId: string): InstanceRecord | undefined {
  return Object.values(core.reg.state.instances)
    .filter((i) => i.clusterIdentifier === clusterId)
    .sort((a, b) => a.createdAt - b.createdAt || a.identifier.localeCompare(b.identifier))[0];
}

function clusterByResource(core: Core, resourceId: string): ClusterRecord | undefined {
  return Object.values(core.reg.state.clusters).find((c) => c.resourceId === resourceId);
}

function endpointStatus(core: Core, e: ClusterEndpointRecord): string {
  if (e.deletingUntil !== undefined) return 'deleting';
  return before(core, e.readyAt) ? 'creating' : 'available';
}

/** Points every topology proxy where its name resolves now (nowhere while a cluster is renaming, created or deleted). */
export async function routeTopology(core: Core): Promise<void> {
  const st = core.reg.state;
  const eps = st.clusterEndpoints ?? {};
  for (const [name, e] of Object.entries(eps)) {
    if (e.deletingUntil !== undefined && !before(core, e.deletingUntil)) {
      delete eps[name];
      core.reg.save();
    }
  }
  if (!modelsTopology(core)) return;
  const want = new Map<string, { host: string; port: number } | undefined>();
  for (const c of Object.values(st.clusters)) {
    if (c.instance) continue;
    const serving = c.rename === undefined && !before(core, c.readyAt) ? { host: c.backend.host, port: c.backend.port } : undefined;
    want.set(readerProxy(c.identifier), serving);
    // Every instance endpoint, the writer's too, follows its instance's name; nothing answers on it while the
    // instance is created or renamed (a renamed instance reboots).
    for (const i of Object.values(st.instances)) {
      if (i.clusterIdentifier !== c.identifier) continue;
      const down = before(core, i.readyAt) || (i.rename !== undefined && before(core, i.rename.until));
      want.set(instanceProxy(i.identifier), down ? undefined : { host: c.backend.host, port: c.backend.port });
    }
  }
  for (const e of Object.values(eps)) {
    const c = clusterByResource(core, e.clusterResourceId);
    want.set(customProxy(e.identifier), c && c.rename === undefined && endpointStatus(core, e) === 'available' ? { host: c.backend.host, port: c.backend.port } : undefined);
  }
  for (const key of Object.keys(st.proxyPorts)) {
    if (/^(ro|db|custom):/.test(key) && !want.has(key)) want.set(key, undefined);
  }
  for (const [key, backend] of want) {
    await ensureProxy(core, key);
    core.proxies.point(key, backend);
  }
}

function endpointShape(core: Core, e: ClusterEndpointRecord): Record<string, unknown> {
  const c = clusterByResource(core, e.clusterResourceId);
  return {
    DBClusterEndpointIdentifier: e.identifier, DBClusterIdentifier: c?.identifier, DBClusterEndpointResourceIdentifier: `cluster-endpoint-${e.identifier}`,
    Endpoint: '127.0.0.1', Status: endpointStatus(core, e), EndpointType: 'CUSTOM', CustomEndpointType: e.type,
    StaticMembers: e.staticMembers, ExcludedMembers: e.excludedMembers, DBClusterEndpointArn: arn.rds(core, 'cluster-endpoint', e.identifier),
  };
}

function checkMembers(core: Core, cluster: ClusterRecord, members: string[]): void {
  for (const m of members) {
    const i = core.reg.state.instances[m.toLowerCase()];
    if (!i || i.clusterIdentifier !== cluster.identifier) throw awsFault('rds', 'InvalidParameterValue', `DB instance ${m} is not a member of DB cluster ${cluster.identifier}.`);
  }
}

const list = (input: Input, key: string): string[] | undefined => (Array.isArray(input[key]) ? (input[key] as string[]).map((s) => String(s).toLowerCase()) : undefined);

/** The fake RDS custom endpoint commands; undefined for any other command. */
export function topologySend(core: Core, name: string, input: Input): Promise<unknown> | undefined {
  const st = core.reg.state;
  const eps = (st.clusterEndpoints ??= {});
  const done = async (value: unknown): Promise<unknown> => {
    core.reg.save();
    await routeTopology(core);
    return value;
  };
  switch (name) {
    case 'DescribeDBClusterEndpoints': {
      const id = str(input, 'DBClusterEndpointIdentifier')?.toLowerCase();
      const clusterId = str(input, 'DBClusterIdentifier');
      const types = (Array.isArray(input.Filters) ? (input.Filters as { Name: string; Values: string[] }[]) : []).find((f) => f.Name === 'db-cluster-endpoint-type')?.Values.map((v) => v.toLowerCase());
      const customs = Object.values(eps)
        .filter((e) => (id === undefined || e.identifier === id) && (clusterId === undefined || clusterByResource(core, e.clusterResourceId)?.identifier === clusterId))
        .map((e) => endpointShape(core, e));
      // The cluster's own writer and reader endpoints are listed too, as AWS does, unless the filter asks for custom only.
      const own = id !== undefined || (types !== undefined && !types.some((t) => t !== 'custom')) || clusterId === undefined || !st.clusters[clusterId]
        ? []
        : (['WRITER', 'READER'] as const).map((t) => ({ DBClusterIdentifier: clusterId, Endpoint: '127.0.0.1', Status: 'available', EndpointType: t }));
      const { page, Marker } = paginate([...own, ...customs.filter(() => types === undefined || types.includes('custom'))], input);
      return Promise.resolve({ DBClusterEndpoints: page, ...(Marker !== undefined ? { Marker } : {}) });
    }
    case 'CreateDBClusterEndpoint': {
      const id = str(input, 'DBClusterEndpointIdentifier')?.toLowerCase();
      const clusterId = str(input, 'DBClusterIdentifier');
      const type = str(input, 'EndpointType')?.toUpperCase();
      if (!id || !clusterId || !type) throw awsFault('rds', 'InvalidParameterValue', 'DBClusterEndpointIdentifier, DBClusterIdentifier and EndpointType are required.');
      if (!['READER', 'WRITER', 'ANY'].includes(type)) throw awsFault('rds', 'InvalidParameterValue', `Invalid EndpointType ${type}: one of READER, WRITER, ANY.`);
      if (eps[id]) throw awsFault('rds', 'DBClusterEndpointAlreadyExistsFault', `DB cluster endpoint ${id} already exists.`);
      const cluster = st.clusters[clusterId];
      if (!cluster || cluster.instance) throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${clusterId} not found.`, 404);
      if (cluster.rename !== undefined || before(core, cluster.readyAt)) throw awsFault('rds', 'InvalidDBClusterStateFault', `DB cluster ${clusterId} is not available.`);
      const staticMembers = list(input, 'StaticMembers') ?? [];
      const excludedMembers = list(input, 'ExcludedMembers') ?? [];
      checkMembers(core, cluster, [...staticMembers, ...excludedMembers]);
      const e: ClusterEndpointRecord = { identifier: id, clusterResourceId: cluster.resourceId, type, staticMembers, excludedMembers, readyAt: core.now() + ms(core.delays.availableSeconds), tags: tagsOf(input) };
      eps[id] = e;
      return done(endpointShape(core, e));
    }
    case 'ModifyDBClusterEndpoint': {
      const id = str(input, 'DBClusterEndpointIdentifier')?.toLowerCase() ?? '';
      const e = eps[id];
      if (!e) throw awsFault('rds', 'DBClusterEndpointNotFoundFault', `DB cluster endpoint ${id} not found.`, 404);
      if (endpointStatus(core, e) !== 'available') throw awsFault('rds', 'InvalidDBClusterEndpointStateFault', `DB cluster endpoint ${id} is ${endpointStatus(core, e)}.`);
      const cluster = clusterByResource(core, e.clusterResourceId);
      const staticMembers = list(input, 'StaticMembers');
      const excludedMembers = list(input, 'ExcludedMembers');
      if (cluster) checkMembers(core, cluster, [...(staticMembers ?? []), ...(excludedMembers ?? [])]);
      if (staticMembers) e.staticMembers = staticMembers;
      if (excludedMembers) e.excludedMembers = excludedMembers;
      const type = str(input, 'EndpointType')?.toUpperCase();
      if (type) e.type = type;
      return done(endpointShape(core, e));
    }
    case 'DeleteDBClusterEndpoint': {
      const id = str(input, 'DBClusterEndpointIdentifier')?.toLowerCase() ?? '';
      const e = eps[id];
      if (!e || e.deletingUntil !== undefined) throw awsFault('rds', 'DBClusterEndpointNotFoundFault', `DB cluster endpoint ${id} not found.`, 404);
      e.deletingUntil = core.now() + ms(core.delays.availableSeconds);
      const shape = endpointShape(core, e);
      core.reg.event('db-cluster', clusterByResource(core, e.clusterResourceId)?.identifier ?? id, `Custom endpoint ${id} deleted`, ['configuration change']);
      return done(shape);
    }
    default:
      return undefined;
  }
}

/** A cluster being deleted takes its custom endpoints with it. */
export function dropClusterEndpoints(core: Core, cluster: ClusterRecord): void {
  const eps = core.reg.state.clusterEndpoints ?? {};
  for (const [name, e] of Object.entries(eps)) if (e.clusterResourceId === cluster.resourceId) delete eps[name];
}
