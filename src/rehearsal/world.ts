// Opens the rehearsal world: two local PostgreSQL servers, the persisted registry, the endpoint proxies
// and the fake RDS/KMS/DMS/CloudWatch clients behind the Cloud seam. Reopening (fresh: false) after a
// crash continues where the registry says things were.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Cloud } from '../aws/cloud.js';
import { rehearsalSchema } from '../runbook/schema.js';
import type { Runbook } from '../runbook/schema.js';
import { cloudwatchSend } from './aws/cloudwatch.js';
import type { Core, Input } from './core.js';
import { REHEARSAL_ADMIN, ensureProxy, isInstanceWorld, isMysql, localBackend } from './core.js';
import { defaultDbParameterGroup, defaultOptionGroup, instanceSend, REPLICA_SERVER_ID, replicaServerName } from './aws/rds-instance.js';
import { FakeDms, registerReplicationInstance } from './aws/dms.js';
import { declareKey, findKey, kmsSend } from './aws/kms.js';
import { myConfig, prepareMyServer, resetReplica, rows, SYSTEM_DATABASES, withMy, myIdent } from './engines/my-ops.js';
import { dropDatabase, ident, pgConfig, withPg } from './engines/pg-ops.js';
import { ProxyRegistry } from './aws/proxy.js';
import { memberTick, rdsSend } from './aws/rds.js';
import { rdsTick } from './aws/rds-records.js';
import { customProxy, readerProxy, routeTopology } from './aws/topology.js';
import { autoscalingSend } from './aws/autoscaling.js';
import { addSecondaryRecord, registerGlobal } from './aws/global.js';
import { estateKmsSend, estateRdsSend } from './aws/estate.js';
import { withRehearsalRegions } from './estate-world.js';
import type { Backend, ClusterSettings, ParameterGroupRecord, RegistryState } from './registry.js';
import { createdIdentifier, Registry, resourceId } from './registry.js';
import { startMariadb, startPostgres } from './servers/index.js';
import { removePassfile, writePassfile } from './servers/passfile.js';
import { clearReplicaPassword, restoreReplicaPassword } from './engines/replica-password.js';
import { applyReplicaState, readReplicaState, startReplicaIfConfigured } from './engines/replica-state.js';
import { rehearsalSecret } from './workload/adopt.js';
import type { LocalServer } from './servers/index.js';

/** The custom cluster parameter group of the rehearsal source (logical replication on). */
export const SOURCE_PARAMETER_GROUP = 'rekey-rehearsal-apg15';
/** The default group a restore gets when it does not name one (logical replication off). */
export const DEFAULT_PARAMETER_GROUP = 'default.aurora-postgresql15';
/** The custom cluster parameter group of an Aurora MySQL rehearsal source (binlog as DMS needs it). */
export const MYSQL_SOURCE_PARAMETER_GROUP = 'rekey-rehearsal-aurora-mysql8';
/** The default Aurora MySQL 3 cluster parameter group (binlog off). */
export const MYSQL_DEFAULT_PARAMETER_GROUP = 'default.aurora-mysql8.0';
/** The Aurora MySQL version the rehearsal source reports (the server is MariaDB). */
export const MYSQL_ENGINE_VERSION = '8.0.mysql_aurora.3.05.2';
/** The custom DB parameter group of an RDS for PostgreSQL rehearsal source (rds.logical_replication=1). */
export const RDS_PG_SOURCE_PARAMETER_GROUP = 'rekey-rehearsal-pg15';
/** Engine versions an RDS for MySQL / MariaDB rehearsal source reports (the server is MariaDB either way). */
const RDS_MY_ENGINE_VERSIONS: Record<string, string> = { mysql: '8.0.35', mariadb: '10.11.6' };
/** The custom DB parameter group of an RDS for MySQL / MariaDB rehearsal source (binlog as DMS needs it). */
function mySourceParameterGroup(engine: string): string {
  return engine === 'mariadb' ? 'rekey-rehearsal-mariadb1011' : 'rekey-rehearsal-mysql80';
}
/** Alias of the key the rehearsal source is encrypted with. */
export const OLD_KEY_ALIAS = 'alias/rekey-rehearsal-old';

/** An open rehearsal world. */
export interface RehearsalWorld {
  /** The fake AWS clients (provider 'rehearsal'). */
  cloud: Cloud;
  /** Where the source cluster's endpoint listens (its stable proxy), e.g. for the seeder and the write load. */
  sourceEndpoint(): { host: string; port: number };
  /** Where a cluster's reader endpoint listens (its proxy), once the world models readers or custom endpoints. */
  readerEndpoint(clusterId: string): { host: string; port: number } | undefined;
  /** Where a custom endpoint listens (the same port whichever cluster it is made on). */
  customEndpoint(name: string): { host: string; port: number } | undefined;
  /** The persisted registry file. */
  registryPath: string;
  /** The password file subscriptions on its PostgreSQL servers name for an adopted source's passwords (none: undefined). */
  passfile?: string;
  /** The two local servers. */
  servers: { source: LocalServer; target: LocalServer };
  /** The endpoint proxies (one per cluster identifier). */
  proxies: ProxyRegistry;
  /** A copy of the registry state, for inspection (tests, reports). */
  inspect(): RegistryState;
  /** Stop samplers, timers and proxies (and the servers when asked); waits for background work. */
  close(opts?: { stopServers?: boolean }): Promise<void>;
}

type Handler = (name: string, input: Input) => Promise<unknown>;

let requestCounter = 0;

const CREATES = /^(Create|Restore|Copy)/;

function sender(handler: Handler, before: () => Promise<void>, created?: (name: string, input: Input) => void): (command: unknown) => Promise<unknown> {
  return async (command: unknown) => {
    const cmd = command as { constructor?: { name?: string }; input?: unknown };
    const className = cmd.constructor?.name ?? '';
    const name = className.endsWith('Command') ? className.slice(0, -'Command'.length) : className;
    await before();
    const output = await handler(name, (cmd.input ?? {}) as Input);
    if (created && CREATES.test(name)) created(name, (cmd.input ?? {}) as Input);
    requestCounter += 1;
    return { $metadata: { httpStatusCode: 200, requestId: `rehearsal-${requestCounter}`, attempts: 1, totalRetryDelay: 0 }, ...structuredClone(output as object) };
  };
}

/** Open (fresh: start over) or reopen the rehearsal world in `stateDir`. */
export async function openRehearsal(opts: { stateDir: string; runbook: Runbook; fresh: boolean; log?: (msg: string) => void }): Promise<RehearsalWorld> {
  const { runbook, stateDir } = opts;
  const log = opts.log ?? (() => undefined);
  const rehearsal = runbook.rehearsal ?? rehearsalSchema.parse({});
  const mysqlFamily = ['aurora-mysql', 'mysql', 'mariadb'].includes(runbook.source.engine);
  const [source, target] = mysqlFamily
    ? await Promise.all([
      startMariadb({ dir: join(stateDir, 'servers', 'my-source'), serverId: 1, reuse: true }),
      startMariadb({ dir: join(stateDir, 'servers', 'my-target'), serverId: 2, reuse: true }),
    ])
    : await Promise.all([
      startPostgres({ dir: join(stateDir, 'servers', 'pg-source'), reuse: true, superuser: REHEARSAL_ADMIN }),
      startPostgres({ dir: join(stateDir, 'servers', 'pg-target'), reuse: true, superuser: REHEARSAL_ADMIN }),
    ]);
  if (mysqlFamily) {
    // root stays the servers' local superuser; the cloud itself works as rdsadmin, which the fence leaves alone.
    for (const s of [source, target]) await prepareMyServer(s.host, s.port, REHEARSAL_ADMIN);
  }
  const cloudDir = join(stateDir, 'cloud');
  const snapshotDir = join(cloudDir, 'snapshots');
  const account = runbook.account ?? '123456789012';
  let reg = opts.fresh ? undefined : Registry.load(cloudDir);
  const isFresh = reg === undefined;
  if (!reg) {
    if (!opts.fresh) log(`rehearsal: no registry in ${cloudDir}; starting a fresh world`);
    rmSync(cloudDir, { recursive: true, force: true });
    reg = Registry.create(cloudDir, account, runbook.region);
  }
  mkdirSync(snapshotDir, { recursive: true, mode: 0o700 });
  // An adopted PostgreSQL source's passwords, for the subscriptions on the servers to read (never in a conninfo).
  const passfilePath = join(stateDir, 'servers', 'pgpass');
  const passfile = !mysqlFamily && (await writePassfile(passfilePath, adoptedLogins(runbook))) ? passfilePath : undefined;

  const pending = new Set<Promise<void>>();
  const extraServers = new Map<string, LocalServer>();
  const core: Core = {
    extraServers,
    startExtraServer: async (name, serverId) => {
      const server = await startMariadb({ dir: join(stateDir, 'servers', name), serverId, reuse: true });
      await prepareMyServer(server.host, server.port, REHEARSAL_ADMIN);
      extraServers.set(name, server);
      return server;
    },
    reg, runbook, region: runbook.region, account, delays: rehearsal.delays, failures: rehearsal.failures, servers: { source, target },
    proxies: new ProxyRegistry(), snapshotDir, log, now: () => Date.now(), passwords: new Map(), ...(passfile ? { passfile } : {}),
    background: (what, work) => {
      const p = work()
        .catch((error: unknown) => log(`rehearsal: ${what} failed: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
  };

  if (isFresh) {
    if (mysqlFamily) await cleanMyServers(core, sourceBackendOf(core));
    else await cleanServers(core, sourceBackendOf(core));
    await registerWorld(core);
  }
  // Read replica servers of RDS MySQL/MariaDB instances still registered (a reopened world restarts or reuses them).
  for (const c of Object.values(reg.state.clusters)) {
    if (c.backend.server !== 'replica') continue;
    const server = await core.startExtraServer(replicaServerName(c.resourceId), REPLICA_SERVER_ID);
    c.backend = { ...c.backend, host: server.host, port: server.port };
  }
  for (const [identifier, port] of Object.entries(reg.state.proxyPorts)) {
    await core.proxies.ensure(identifier, port);
    const cluster = reg.state.clusters[identifier];
    core.proxies.point(identifier, cluster && !cluster.rename ? { host: cluster.backend.host, port: cluster.backend.port } : undefined);
  }
  await ensureProxy(core, runbook.source.identifier);
  await rdsTick(core);
  await memberTick(core);
  await routeTopology(core);
  // An adopted source's password is in a replica's master.info only while a runner is alive
  // (engines/replica-password.ts): set again once the endpoint proxies it may connect through listen.
  const logins = mysqlFamily ? adoptedLogins(runbook) : [];
  const myServers = (): [string, LocalServer][] => [['my-source', source], ['my-target', target], ...extraServers.entries()];
  // A server this runner started again lost its replica's filters: given back before the replica runs again
  // (engines/replica-state.ts); a server that kept running (its runner was killed) still has them.
  const states = reg.state.replicaStates ?? {};
  // Servers stopped without a runner's close (killed, a reboot) left no record: the DMS stand-in's replica on the
  // target server is known from its task; any other replica starts as it is (unfiltered, as before).
  const task = Object.values(reg.state.tasks).find((t) => t.cdc?.mysql !== undefined && t.state !== 'ready');
  const fromTask = task?.cdc?.mysql
    ? { running: ['starting', 'running'].includes(task.state), doTables: task.cdc.mysql.doTables.join(','), ignoreTables: task.cdc.mysql.ignoreTables.join(',') }
    : undefined;
  if (!isFresh && mysqlFamily) {
    for (const [name, server] of myServers()) {
      const state = states[name] ?? (name === 'my-target' ? fromTask : undefined);
      if (server.reused) continue;
      if (state === undefined) {
        await startReplicaIfConfigured(localBackend(server, 'target', ''));
        continue;
      }
      await applyReplicaState(localBackend(server, 'target', ''), state, !(name in (reg.state.replicaPasswordsCleared ?? {})));
      log(`rehearsal: the replica on ${name} has its filters again${state.running ? ' and runs' : ''}`);
    }
    delete reg.state.replicaStates;
    reg.save();
  }
  if (logins.length > 0 && !isFresh) {
    const cleared = reg.state.replicaPasswordsCleared ?? {};
    for (const [name, server] of myServers()) {
      if (await restoreReplicaPassword(localBackend(server, 'target', ''), logins, cleared[name])) log(`rehearsal: the replica on ${name} has its password again`);
    }
    delete reg.state.replicaPasswordsCleared;
    reg.save();
  } else if (!isFresh && Object.keys(reg.state.replicaPasswordsCleared ?? {}).length > 0) {
    log(`rehearsal: the replica on ${Object.keys(reg.state.replicaPasswordsCleared ?? {}).join(', ')} cannot log in to the adopted source until its password is set again: set the variables of rehearsal.source.urlPasswordEnv and the runbook's passwords, then resume`);
  }

  const dms = new FakeDms(core);
  dms.resume();
  const tick = async (): Promise<void> => {
    await rdsTick(core);
    await memberTick(core);
    await routeTopology(core);
  };
  const timer = setInterval(() => core.background('rename tick', tick), 250);
  timer.unref();

  const created = (action: string, input: Input): void => {
    (core.reg.state.created ??= []).push({ action, identifier: createdIdentifier(action, input), at: new Date().toISOString() });
    core.reg.save();
  };
  const cloud = {
    provider: 'rehearsal' as const,
    region: runbook.region,
    rds: { send: sender(estateRdsSend(core, rdsSend(core)), tick, created) },
    kms: { send: sender(estateKmsSend(core, core.region, kmsSend(core)), () => Promise.resolve()) },
    dms: { send: sender(dms.send, () => Promise.resolve(), created) },
    cloudwatch: { send: sender(cloudwatchSend(core), () => Promise.resolve()) },
    autoscaling: { send: sender(autoscalingSend(core), () => Promise.resolve()) },
  } as unknown as Cloud;
  withRehearsalRegions(core, cloud);

  let closed = false;
  return {
    cloud,
    registryPath: reg.file,
    ...(passfile ? { passfile } : {}),
    servers: { source, target },
    proxies: core.proxies,
    sourceEndpoint: () => ({ host: '127.0.0.1', port: core.reg.state.proxyPorts[runbook.source.identifier] ?? 0 }),
    readerEndpoint: (clusterId) => portOf(core, readerProxy(clusterId)),
    customEndpoint: (name) => portOf(core, customProxy(name)),
    inspect: () => structuredClone(core.reg.state),
    close: async (closeOpts) => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      dms.close();
      await Promise.allSettled([...pending]);
      await core.proxies.close();
      // Only while a runner is alive: a subscription left behind cannot log in until the next one writes it again.
      if (passfile) await removePassfile(passfile);
      // Servers about to stop lose their replicas' filters: kept in the registry for the runner that starts them again.
      for (const [name, server] of closeOpts?.stopServers && mysqlFamily ? myServers() : []) {
        try {
          const state = await readReplicaState(localBackend(server, 'target', ''));
          if (state) (core.reg.state.replicaStates ??= {})[name] = state;
        } catch (error) {
          log(`rehearsal: could not read the replica settings of ${name}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      // Likewise a MariaDB replica's password (master.info); the next runner sets it again and restarts what ran.
      for (const [name, server] of logins.length > 0 ? myServers() : []) {
        try {
          const cleared = await clearReplicaPassword(localBackend(server, 'target', ''), logins);
          if (cleared) (core.reg.state.replicaPasswordsCleared ??= {})[name] = cleared.wasRunning;
        } catch (error) {
          log(`rehearsal: could not clear the replica password on ${name} (it stays in its master.info until a runner reopens the world): ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      if (logins.length > 0 || (closeOpts?.stopServers && mysqlFamily)) core.reg.save();
      if (closeOpts?.stopServers) await Promise.all([source.stop(), target.stop(), ...[...extraServers.values()].map((x) => x.stop())]);
    },
  };
}

/**
 * The adopted source's logins with a password (the URL's user, the runbook's user, the DMS user): what a
 * subscription of the rehearsal may connect to it as. None without rehearsal.source.url.
 */
function adoptedLogins(runbook: Runbook): { user: string; password: string }[] {
  const url = runbook.rehearsal?.source.url;
  if (url === undefined) return [];
  const urlEnv = runbook.rehearsal?.source.urlPasswordEnv;
  const urlUser = decodeURIComponent(new URL(url).username || 'postgres');
  const logins = [
    { user: urlUser, password: urlEnv !== undefined ? process.env[urlEnv] : undefined },
    { user: runbook.source.username, password: rehearsalSecret(runbook, runbook.source.password) },
    ...(runbook.dms?.password ? [{ user: runbook.dms.username ?? runbook.source.username, password: rehearsalSecret(runbook, runbook.dms.password) }] : []),
  ];
  return logins.flatMap((l) => (l.password !== undefined && l.password !== '' ? [{ user: l.user, password: l.password }] : []));
}

function portOf(core: Core, key: string): { host: string; port: number } | undefined {
  const port = core.reg.state.proxyPorts[key];
  return port === undefined ? undefined : { host: '127.0.0.1', port };
}

/** Where the rehearsal source's data lives: the adopted URL, or the source server. */
function sourceBackendOf(core: Core): Backend {
  const { runbook } = core;
  const url = runbook.rehearsal?.source.url;
  if (url === undefined) return localBackend(core.servers.source, 'source', runbook.source.database);
  const u = new URL(url);
  const mysqlFamily = isMysql(core);
  if (mysqlFamily && u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw new Error(`rehearsal.source.url must be a mysql:// URL for a MySQL source, not ${u.protocol}`);
  if (!mysqlFamily && u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`rehearsal.source.url must be a postgres:// URL for a PostgreSQL source, not ${u.protocol}`);
  if (u.password !== '') throw new Error('rehearsal.source.url must not contain a password; use rehearsal.source.urlPasswordEnv');
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || runbook.source.database;
  const passwordEnv = runbook.rehearsal?.source.urlPasswordEnv;
  return {
    server: 'external', host: u.hostname, port: Number(u.port || (mysqlFamily ? 3306 : 5432)), database, user: decodeURIComponent(u.username || (mysqlFamily ? 'root' : 'postgres')),
    ...(passwordEnv !== undefined ? { passwordEnv } : {}),
  };
}

/** A fresh MySQL world starts over: no replica and no databases on the target server. */
async function cleanMyServers(core: Core, sourceBackend: Backend): Promise<void> {
  const target = localBackend(core.servers.target, 'target', '');
  await resetReplica(target);
  await withMy(myConfig(target, ''), async (c) => {
    for (const d of await rows<{ d: string }>(c, 'SELECT SCHEMA_NAME AS d FROM information_schema.SCHEMATA')) {
      if (!SYSTEM_DATABASES.has(d.d)) await c.query(`DROP DATABASE ${myIdent(d.d)}`);
    }
  });
  if (sourceBackend.server !== 'external') await resetReplica(localBackend(core.servers.source, 'source', ''));
}

/** Parameters of an Aurora MySQL cluster parameter group, from the server's variables plus the binlog ones. */
async function myParameterGroups(core: Core, admin: Backend): Promise<ParameterGroupRecord[]> {
  const engine = core.runbook.source.engine;
  const [sourceGroup, defaultGroup, fam] = isInstanceWorld(core)
    ? [mySourceParameterGroup(engine), defaultDbParameterGroup(engine), engine === 'mariadb' ? 'mariadb10.11' : 'mysql8.0']
    : [MYSQL_SOURCE_PARAMETER_GROUP, MYSQL_DEFAULT_PARAMETER_GROUP, 'aurora-mysql8.0'];
  const vars = await withMy(myConfig(admin, ''), (c) => rows<{ Variable_name: string; Value: string }>(c, 'SHOW GLOBAL VARIABLES'));
  const binlog = new Set(['binlog_format', 'binlog_row_image', 'binlog_checksum', 'log_bin']);
  const defaults = vars.filter((v) => !binlog.has(v.Variable_name)).map((v) => ({ name: v.Variable_name, value: v.Value, source: 'engine-default' as const, applyType: 'dynamic' as const }));
  const group = (name: string, on: boolean): ParameterGroupRecord => ({
    name, family: fam, description: on ? 'rekey rehearsal source: binlog ROW for DMS' : `Default parameter group for ${fam}`,
    parameters: [
      // Aurora turns the binlog on through binlog_format (OFF by default); DMS wants ROW, FULL row images, no checksums.
      { name: 'binlog_format', value: on ? 'ROW' : 'OFF', source: on ? ('user' as const) : ('engine-default' as const), applyType: 'static' as const },
      { name: 'binlog_row_image', value: 'FULL', source: on ? ('user' as const) : ('engine-default' as const), applyType: 'dynamic' as const },
      { name: 'binlog_checksum', value: on ? 'NONE' : 'CRC32', source: on ? ('user' as const) : ('engine-default' as const), applyType: 'dynamic' as const },
      ...defaults,
    ].sort((a, b) => a.name.localeCompare(b.name)),
  });
  return [group(sourceGroup, true), group(defaultGroup, false)];
}

/** A fresh world starts over: no leftovers of the rehearsal cloud on the servers. */
async function cleanServers(core: Core, sourceBackend: Backend): Promise<void> {
  const target = localBackend(core.servers.target, 'target', 'postgres');
  const dbs = await withPg(pgConfig(target), async (c) => (await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'")).rows);
  for (const d of dbs) await dropDatabase(target, d.datname);
  await withPg(pgConfig(target), async (c) => {
    await c.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active');
  });
  const isLocal = sourceBackend.server !== 'external';
  const admin: Backend = isLocal ? { ...sourceBackend, database: 'postgres' } : sourceBackend;
  const databases = isLocal
    ? (await withPg(pgConfig(admin), async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE NOT datistemplate')).rows)).map((r) => r.datname)
    : [sourceBackend.database];
  for (const db of databases) {
    await withPg(pgConfig(admin, db), async (c) => {
      const pubs = await c.query<{ pubname: string }>("SELECT pubname FROM pg_publication WHERE pubname LIKE 'rh\\_%'");
      for (const p of pubs.rows) await c.query(`DROP PUBLICATION ${ident(p.pubname)}`);
    });
  }
  await withPg(pgConfig(admin, sourceBackend.database === 'postgres' || isLocal ? 'postgres' : sourceBackend.database), async (c) => {
    // The rehearsal's own slots, and (on a local source) every slot of the rehearsed database: a fresh
    // world starts without a runner slot pinning WAL or blocking the seeder from re-creating the database.
    await c.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active AND (slot_name LIKE 'rh\\_%' OR ($1 AND database = $2))`,
      [isLocal, sourceBackend.database],
    );
  });
}

async function parameterGroups(core: Core, admin: Backend): Promise<ParameterGroupRecord[]> {
  const inst = isInstanceWorld(core);
  const [sourceGroup, defaultGroup, fam] = inst ? [RDS_PG_SOURCE_PARAMETER_GROUP, defaultDbParameterGroup('postgres'), 'postgres15'] : [SOURCE_PARAMETER_GROUP, DEFAULT_PARAMETER_GROUP, 'aurora-postgresql15'];
  const settings = await withPg(pgConfig(admin, 'postgres'), async (c) =>
    (await c.query<{ name: string; setting: string; context: string }>("SELECT name, setting, context FROM pg_settings WHERE context IN ('postmaster', 'sighup', 'superuser', 'user') ORDER BY name")).rows,
  );
  const defaults = settings.map((s) => ({ name: s.name, value: s.setting, source: 'engine-default' as const, applyType: s.context === 'postmaster' ? ('static' as const) : ('dynamic' as const) }));
  const group = (name: string, logical: boolean): ParameterGroupRecord => ({
    name, family: fam, description: logical ? 'rekey rehearsal source: logical replication on' : `Default parameter group for ${fam}`,
    parameters: [{ name: 'rds.logical_replication', value: logical ? '1' : '0', source: logical ? ('user' as const) : ('engine-default' as const), applyType: 'static' as const }, ...defaults]
      .sort((a, b) => a.name.localeCompare(b.name)),
  });
  return [group(sourceGroup, true), group(defaultGroup, false)];
}

/** Register the source cluster, its writer, parameter groups, keys and (when not created by the flow) the DMS instance. */
async function registerWorld(core: Core): Promise<void> {
  const { runbook } = core;
  const st = core.reg.state;
  const rehearsal = runbook.rehearsal ?? rehearsalSchema.parse({});
  const backend = sourceBackendOf(core);
  for (const k of rehearsal.keys) {
    declareKey(st, k.id, { state: k.state, keySpec: k.keySpec, grantsRds: k.grantsRds, ...(k.region !== undefined ? { region: k.region } : {}) });
  }
  const newKey = declareKey(st, runbook.target.kmsKeyId, { description: 'rehearsal: the new key' });
  // The source is encrypted with the first other key the runbook lists (e.g. alias/aws/rds), else a generated one.
  const listedOld = rehearsal.keys.map((k) => findKey(st, k.id, core.region)).find((k) => k !== undefined && k.keyId !== newKey.keyId);
  const oldKey = listedOld ?? declareKey(st, OLD_KEY_ALIAS, { description: "rehearsal: the source's current key" });
  const mysqlFamily = isMysql(core);
  const admin = backend.server === 'external' ? localBackend(core.servers.source, 'source', mysqlFamily ? '' : 'postgres') : backend;
  for (const g of mysqlFamily ? await myParameterGroups(core, admin) : await parameterGroups(core, admin)) st.parameterGroups[g.name] = g;
  const version = mysqlFamily
    ? isInstanceWorld(core) ? RDS_MY_ENGINE_VERSIONS[runbook.source.engine] ?? '8.0.35' : MYSQL_ENGINE_VERSION
    : await withPg(pgConfig(backend, backend.server === 'external' ? backend.database : 'postgres'), async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? '15');
  const az = [`${runbook.region}a`, `${runbook.region}b`, `${runbook.region}c`];
  const settings: ClusterSettings = {
    parameterGroup: isInstanceWorld(core) ? (mysqlFamily ? mySourceParameterGroup(runbook.source.engine) : RDS_PG_SOURCE_PARAMETER_GROUP) : mysqlFamily ? MYSQL_SOURCE_PARAMETER_GROUP : SOURCE_PARAMETER_GROUP, subnetGroup: 'rekey-rehearsal-subnets', securityGroupIds: ['sg-0a1b2c3d4e5f60718'], masterUsername: runbook.source.username,
    databaseName: runbook.source.database, backupRetentionPeriod: 7, preferredBackupWindow: '03:00-03:30', preferredMaintenanceWindow: 'sun:04:00-sun:04:30',
    deletionProtection: true, copyTagsToSnapshot: true, iamDatabaseAuthentication: false, cloudwatchLogsExports: mysqlFamily ? ['error', 'slowquery'] : ['postgresql'], availabilityZones: az,
  };
  const id = runbook.source.identifier;
  const createdAt = core.now() - 30 * 86400_000;
  const dbi = `db-${resourceId()}`;
  st.clusters[id] = {
    identifier: id, resourceId: isInstanceWorld(core) ? dbi : `cluster-${resourceId()}`, engine: runbook.source.engine, engineVersion: version.split(' ')[0] ?? version, backend,
    kmsKeyArn: oldKey.arn, createdAt, readyAt: createdAt, settings, tags: [{ Key: 'app', Value: 'rekey-demo' }, { Key: 'env', Value: 'rehearsal' }],
  };
  if (isInstanceWorld(core)) {
    // A single RDS DB instance: Multi-AZ gp3 storage with autoscaling, Performance Insights and enhanced monitoring on.
    st.clusters[id].instance = {
      dbiResourceId: dbi, instanceClass: 'db.m6g.large', parameterGroup: settings.parameterGroup, optionGroup: defaultOptionGroup(runbook.source.engine), multiAz: true,
      storageType: 'gp3', allocatedStorage: 100, iops: 3000, storageThroughput: 125, maxAllocatedStorage: 500, publiclyAccessible: false, availabilityZone: az[0] ?? 'a',
      monitoringInterval: 60, monitoringRoleArn: `arn:aws:iam::${core.account}:role/rds-monitoring-role`, performanceInsights: true, autoMinorVersionUpgrade: false,
      // Performance Insights data on the storage key, the usual choice: a key change must move it too.
      performanceInsightsKmsKeyArn: oldKey.arn,
    };
    core.reg.event('db-instance', id, 'DB instance created', ['creation'], createdAt);
  } else {
    registerWriter(core, id, createdAt, az);
    registerTopology(core, id, createdAt, az);
    registerGlobalDatabase(core, id, createdAt, rehearsal.source.globalSecondaries);
    core.reg.event('db-cluster', id, 'DB cluster created', ['creation'], createdAt);
  }
  core.reg.save();
  await ensureProxy(core, id);
  core.proxies.point(id, { host: backend.host, port: backend.port });
  if (isInstanceWorld(core)) await registerReplicas(core, rehearsal.source.replicas);
  const ri = runbook.dms?.replicationInstance;
  if (ri && !ri.create) {
    const record = registerReplicationInstance(core, ri.identifier, ri.class, { PubliclyAccessible: false, VpcSecurityGroupIds: ri.securityGroupIds });
    record.readyAt = record.createdAt;
    core.reg.save();
  }
}

/** The source cluster's readers (`<id>-reader-<n>`), custom endpoints and Aurora Auto Scaling, from rehearsal.source. */
function registerTopology(core: Core, id: string, createdAt: number, az: string[]): void {
  const source = core.runbook.rehearsal?.source;
  if (!source) return;
  const st = core.reg.state;
  const cluster = st.clusters[id];
  if (!cluster) return;
  for (let n = 1; n <= source.readers; n++) {
    // Readers spread over the other zones, failover tier 2, monitoring and Performance Insights on: settings a recreation must carry.
    st.instances[`${id}-reader-${n}`] = {
      identifier: `${id}-reader-${n}`, resourceId: `db-${resourceId()}`, clusterIdentifier: id, instanceClass: 'db.r6g.large', engine: core.runbook.source.engine,
      createdAt: createdAt + n, readyAt: createdAt + n, parameterGroup: isMysql(core) ? MYSQL_DEFAULT_PARAMETER_GROUP : DEFAULT_PARAMETER_GROUP, promotionTier: 2,
      availabilityZone: az[n % az.length] ?? 'a', tags: [{ Key: 'role', Value: 'reader' }],
      extra: { monitoringInterval: 60, monitoringRoleArn: `arn:aws:iam::${core.account}:role/rds-monitoring-role`, performanceInsights: true, performanceInsightsKmsKeyArn: cluster.kmsKeyArn, performanceInsightsRetentionPeriod: 7, autoMinorVersionUpgrade: false },
    };
  }
  const eps = (st.clusterEndpoints ??= {});
  for (const e of source.customEndpoints) {
    for (const m of [...e.staticMembers, ...e.excludedMembers]) {
      if (!st.instances[m] || st.instances[m]?.clusterIdentifier !== id) throw new Error(`rehearsal.source.customEndpoints ${e.name}: ${m} is not an instance of ${id} (its instances: ${Object.values(st.instances).filter((i) => i.clusterIdentifier === id).map((i) => i.identifier).join(', ')})`);
    }
    eps[e.name] = { identifier: e.name, clusterResourceId: cluster.resourceId, type: e.type, staticMembers: e.staticMembers, excludedMembers: e.excludedMembers, readyAt: createdAt, tags: [] };
  }
  if (source.autoScaling) {
    const resource = `cluster:${id}`;
    const dimension = 'rds:cluster:ReadReplicaCount';
    const a = source.autoScaling;
    st.autoScaling = {
      targets: { [`${resource} ${dimension}`]: { resourceId: resource, dimension, min: a.minCapacity, max: Math.max(a.minCapacity, a.maxCapacity) } },
      policies: {
        [`${resource} ${dimension} reader-cpu`]: {
          name: 'reader-cpu', resourceId: resource, dimension, type: 'TargetTrackingScaling',
          configuration: { TargetValue: a.targetCpu, PredefinedMetricSpecification: { PredefinedMetricType: 'RDSReaderAverageCPUUtilization' }, ScaleInCooldown: 300, ScaleOutCooldown: 300, DisableScaleIn: false },
        },
      },
    };
  }
}

/**
 * The source's read replicas (rehearsal.source.replicas), made through CreateDBInstanceReadReplica as a client
 * would, in their Regions: a cross-Region one under its Region's AWS managed key (declared there), each ready at once.
 */
async function registerReplicas(core: Core, replicas: { region?: string | undefined; identifier?: string | undefined }[]): Promise<void> {
  const source = core.runbook.source.identifier;
  for (const [n, r] of replicas.entries()) {
    const region = r.region ?? core.region;
    const id = r.identifier ?? `${source}-replica-${n + 1}`;
    const there: Core = { ...core, region };
    const cross = region !== core.region;
    const key = cross ? declareKey(core.reg.state, OLD_KEY_ALIAS, { region, description: `rehearsal: the replica's current key in ${region}` }) : undefined;
    await instanceSend(there, 'CreateDBInstanceReadReplica', {
      DBInstanceIdentifier: id, SourceDBInstanceIdentifier: cross ? `arn:aws:rds:${core.region}:${core.account}:db:${source}` : source, DBInstanceClass: 'db.m6g.large',
      AvailabilityZone: `${region}b`, StorageType: 'gp3', AllocatedStorage: 100, ...(cross ? { KmsKeyId: key?.arn, SourceRegion: core.region } : {}), Tags: [{ Key: 'env', Value: 'rehearsal' }],
    });
    const record = core.reg.state.clusters[id];
    if (record) record.readyAt = core.now();
  }
  core.reg.save();
}

/**
 * rehearsal.source.globalSecondaries: the source heads a global database `<id>-global` with a secondary cluster in each
 * Region listed (`<id>-<region>` unless named), under that Region's current key (alias/rekey-rehearsal-old declared
 * there), with its instances (`<secondary>-instance-<n>`); a read-only route to the source's server, ready at once.
 */
function registerGlobalDatabase(core: Core, id: string, createdAt: number, secondaries: { region: string; identifier?: string | undefined; instances: number }[]): void {
  const source = core.reg.state.clusters[id];
  if (!source || secondaries.length === 0) return;
  const g = registerGlobal(core, `${id}-global`, source, [{ Key: 'env', Value: 'rehearsal' }], createdAt);
  for (const s of secondaries) {
    const there: Core = { ...core, region: s.region };
    const key = declareKey(core.reg.state, OLD_KEY_ALIAS, { region: s.region, description: `rehearsal: the secondary's current key in ${s.region}` });
    const secondary = addSecondaryRecord(there, g, s.identifier ?? `${id}-${s.region}`, key.arn, { subnetGroup: source.settings.subnetGroup, securityGroupIds: source.settings.securityGroupIds, tags: [{ Key: 'env', Value: 'rehearsal' }], readySeconds: 0 });
    secondary.createdAt = createdAt;
    for (let n = 1; n <= s.instances; n++) {
      core.reg.state.instances[`${secondary.identifier}-instance-${n}`] = {
        identifier: `${secondary.identifier}-instance-${n}`, resourceId: `db-${resourceId()}`, clusterIdentifier: secondary.identifier, instanceClass: 'db.r6g.large',
        engine: core.runbook.source.engine, createdAt, readyAt: createdAt, parameterGroup: isMysql(core) ? MYSQL_DEFAULT_PARAMETER_GROUP : DEFAULT_PARAMETER_GROUP, promotionTier: 1,
        availabilityZone: `${s.region}${'abc'[(n - 1) % 3] ?? 'a'}`, tags: [],
      };
    }
  }
}

/** The writer instance of the Aurora source cluster. */
function registerWriter(core: Core, id: string, createdAt: number, az: string[]): void {
  const { runbook } = core;
  const mysqlFamily = isMysql(core);
  core.reg.state.instances[`${id}-instance-1`] = {
    identifier: `${id}-instance-1`, resourceId: `db-${resourceId()}`, clusterIdentifier: id, instanceClass: 'db.r6g.large',
    engine: runbook.source.engine, createdAt, readyAt: createdAt, parameterGroup: mysqlFamily ? MYSQL_DEFAULT_PARAMETER_GROUP : DEFAULT_PARAMETER_GROUP, promotionTier: 1, availabilityZone: az[0] ?? 'a', tags: [],
  };
}
