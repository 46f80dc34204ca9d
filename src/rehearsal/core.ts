// What the fake services share: the registry, the servers, the proxies, timings, and background work.
import type { Runbook } from '../runbook/schema.js';
import type { ProxyRegistry } from './aws/proxy.js';
import type { Backend, Registry } from './registry.js';
import type { LocalServer } from './servers/index.js';

/** Simulated AWS timings, in seconds. */
export interface Delays {
  snapshotSeconds: number;
  restoreSeconds: number;
  renameSeconds: number;
  availableSeconds: number;
}

/** Shared state of one open rehearsal world. */
export interface Core {
  /** Persisted state. */
  reg: Registry;
  /** The runbook being rehearsed. */
  runbook: Runbook;
  /** Region used in ARNs and KMS lookups. */
  region: string;
  /** Account used in ARNs. */
  account: string;
  /** Simulated timings. */
  delays: Delays;
  /** Injected faults. */
  failures: { dmsTaskFailsAfterSeconds?: number; drainNeverArrives: boolean; seedFunctionMissing?: boolean; corruptTargetRow?: boolean; blueGreenRefusesTargetKey?: boolean; blueGreenSwitchoverStalls?: boolean };
  /** The two local servers. */
  servers: { source: LocalServer; target: LocalServer };
  /** Endpoint proxies, one per cluster identifier. */
  proxies: ProxyRegistry;
  /** Where dumps go. */
  snapshotDir: string;
  /** Diagnostics (never secrets). */
  log: (msg: string) => void;
  /** Clock (epoch ms). */
  now: () => number;
  /**
   * The libpq password file the PostgreSQL servers read an adopted source's passwords from (see
   * servers/passfile.ts); undefined when none is needed (the rehearsal's own servers, no password, MySQL).
   */
  passfile?: string;
  /** DMS endpoint passwords by endpoint ARN: memory only, never persisted. */
  passwords: Map<string, string>;
  /** Run work in the background; errors go to the log; close() waits for it. */
  background: (what: string, work: () => Promise<void>) => void;
  /** Further local servers by name (RDS MySQL/MariaDB read replicas), running now. */
  extraServers: Map<string, LocalServer>;
  /** Start (or reuse) a further MariaDB server named `name` under the state directory, prepared like the others. */
  startExtraServer: (name: string, serverId: number) => Promise<LocalServer>;
}

/**
 * The rehearsal cloud's own superuser on its servers, like AWS's `rdsadmin`: the fence never touches it (rds*
 * roles are system roles), so replication and metric sampling go on while application roles are fenced.
 */
export const REHEARSAL_ADMIN = 'rdsadmin';

/** Whether the world rehearses a MySQL-family source (MariaDB servers). */
export function isMysql(core: Core): boolean {
  const e = core.runbook.source.engine;
  return e === 'aurora-mysql' || e === 'mysql' || e === 'mariadb';
}

/** Whether an engine is a single RDS DB instance (postgres, mysql, mariadb) rather than an Aurora cluster. */
export function isInstanceEngine(e: Runbook['source']['engine']): boolean {
  return e === 'postgres' || e === 'mysql' || e === 'mariadb';
}

/** Whether the world rehearses a single RDS DB instance (postgres, mysql, mariadb) rather than an Aurora cluster. */
export function isInstanceWorld(core: Core): boolean {
  return isInstanceEngine(core.runbook.source.engine);
}

/** The admin backend of a local server for `database`. */
export function localBackend(server: LocalServer, which: 'source' | 'target', database: string): Backend {
  return { server: which, host: server.host, port: server.port, database, user: REHEARSAL_ADMIN };
}

/** The backend of a server kind in this world. */
export function serverBackend(core: Core, which: 'source' | 'target', database: string): Backend {
  return localBackend(core.servers[which], which, database);
}

/** Proxy key of a cluster's reader endpoint (aws/topology.ts routes it). */
export const readerProxy = (clusterId: string): string => `ro:${clusterId}`;

/** Ensure the proxy of `identifier` listens on its stable port, recording the port. */
export async function ensureProxy(core: Core, identifier: string): Promise<number> {
  const port = await core.proxies.ensure(identifier, core.reg.state.proxyPorts[identifier]);
  if (core.reg.state.proxyPorts[identifier] !== port) {
    core.reg.state.proxyPorts[identifier] = port;
    core.reg.save();
  }
  return port;
}

/** ARN helpers. */
export const arn = {
  rds: (core: Core, kind: 'cluster' | 'db' | 'cluster-endpoint' | 'cluster-snapshot' | 'snapshot' | 'cluster-pg' | 'pg' | 'subgrp', id: string): string => `arn:aws:rds:${core.region}:${core.account}:${kind}:${id}`,
  dms: (core: Core, kind: 'rep' | 'endpoint' | 'task', resourceId: string): string => `arn:aws:dms:${core.region}:${core.account}:${kind}:${resourceId}`,
};

/** Whether `now` is before `t`. */
export const before = (core: Core, t: number): boolean => core.now() < t;

/** Seconds to milliseconds. */
export const ms = (seconds: number): number => Math.round(seconds * 1000);

/** Loose command input: the fakes read fields by name, as the service would. */
export type Input = Record<string, unknown>;

/** A string field of a request, or undefined. */
export function str(input: Input, key: string): string | undefined {
  const v = input[key];
  return typeof v === 'string' ? v : undefined;
}

/** A filter value list from DMS-style `Filters: [{Name, Values}]`. */
export function filterValues(input: Input, name: string): string[] | undefined {
  const filters = Array.isArray(input.Filters) ? (input.Filters as { Name?: string; Values?: string[] }[]) : [];
  const f = filters.find((x) => x.Name === name);
  return f?.Values;
}

/** A service handler that always answers with a promise (a synchronous throw becomes a rejection, as from the SDK). */
export function promised(handler: (name: string, input: Input) => unknown): (name: string, input: Input) => Promise<unknown> {
  return (name, input) => {
    try {
      return Promise.resolve(handler(name, input));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };
}
