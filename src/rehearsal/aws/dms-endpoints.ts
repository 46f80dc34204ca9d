// DMS endpoints as the rehearsal cloud resolves them: the engine family, and which database an endpoint reaches.
// Shared by the DMS API (dms.ts), CDC execution (dms-cdc.ts) and the lag sampler (dms-lag.ts).
import type { Core } from '../core.js';
import type { ClusterRecord, EndpointRecord } from '../registry.js';
import { awsFault } from './faults.js';

/** DMS engine names of the MySQL family (EngineName `aurora` is Aurora MySQL). */
export const MYSQL_ENGINES = new Set(['mysql', 'mariadb', 'aurora', 'aurora-serverless']);

/** Whether an endpoint is of the MySQL family. */
export const isMyEndpoint = (e: EndpointRecord): boolean => MYSQL_ENGINES.has(e.engineName);

/** The endpoint with this ARN; throws DMS's ResourceNotFoundFault. */
export function mustEndpoint(core: Core, endpointArn: string | undefined): EndpointRecord {
  const e = Object.values(core.reg.state.endpoints).find((x) => x.arn === endpointArn);
  if (!e) throw awsFault('dms', 'ResourceNotFoundFault', `Endpoint ${endpointArn ?? '(none)'} not found`);
  return e;
}

/** The cluster an endpoint reaches: the identifier whose proxy listens on its port (what DNS would resolve). */
export function clusterForEndpoint(core: Core, e: EndpointRecord): ClusterRecord | undefined {
  const st = core.reg.state;
  if (['127.0.0.1', 'localhost'].includes(e.serverName)) {
    const id = Object.entries(st.proxyPorts).find(([, port]) => port === e.port)?.[0];
    const c = id !== undefined ? st.clusters[id] : undefined;
    if (c && !c.rename) return c;
  }
  return Object.values(st.clusters).find((c) => c.route !== true && c.backend.host === e.serverName && c.backend.port === e.port);
}
