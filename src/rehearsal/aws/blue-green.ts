// Fake RDS Blue/Green deployments. Create: a snapshot of blue restored into the other local server under the target
// key (green), kept in sync by native replication from blue (PostgreSQL: a subscription from the snapshot's slot;
// MySQL: green's binlog replica from the snapshot's position), PROVISIONING until the restore delay passes, then
// AVAILABLE. Switchover: blue's endpoint stops answering (its connections dropped), green catches up, sequences are
// carried over, replication stops, green takes blue's names and endpoints and blue becomes `<name>-old1`; past the
// SwitchoverTimeout AWS reverts (blue answers again, nothing switched, SWITCHOVER_FAILED). Delete, with DeleteTarget
// before a switchover, drops green. Faults are named as RDS names them.
import type { Core, Input } from '../core.js';
import { arn, ensureProxy, isMysql, ms, str } from '../core.js';
import { awsFault } from './faults.js';
import { binlogPositionValue, formatBinlogPosition, parseLsn } from '../../db/position.js';
import { masterPosition, myConfig, replicaStartProblem, replicationLogin, resetReplica, setReplicaRunning, slaveStatus, startReplica, withMy, rows } from '../engines/my-ops.js';
import { dropSubscription, listTables, observeSource, pgConfig, setSubscriptionEnabled, startSubscription, withPg } from '../engines/pg-ops.js';
import type { BlueGreenRecord, CdcRecord, ClusterRecord, InstanceRecord, SnapshotRecord } from '../registry.js';
import { binlogPosition, resourceId } from '../registry.js';
import { dropRecord, restoreData, restoreKeyArn, snapshotData, tagsOf } from './rds-records.js';

/** Switchovers whose worker runs in this process (a reopened world restarts the others). */
const running = new WeakMap<Core, Set<string>>();

function deployments(core: Core): Record<string, BlueGreenRecord> {
  return (core.reg.state.blueGreen ??= {});
}

function statusOf(core: Core, d: BlueGreenRecord): string {
  if (d.status === 'PROVISIONING' && core.now() >= d.readyAt) {
    d.status = 'AVAILABLE';
    core.reg.save();
  }
  return d.status;
}

function memberStatus(status: string): string {
  return status === 'SWITCHOVER_FAILED' ? 'AVAILABLE' : status;
}

/** The blue and green ARNs as they are now (after a switchover green has blue's name, blue is -old1). */
function shape(core: Core, d: BlueGreenRecord): Record<string, unknown> {
  const status = statusOf(core, d);
  const switched = status === 'SWITCHOVER_COMPLETED';
  const kind = core.reg.state.clusters[switched ? d.blue : d.green]?.instance ? 'db' : 'cluster';
  const blueNow = switched ? `${d.blue}-old1` : d.blue;
  const greenNow = switched ? d.blue : d.green;
  const details = [{ SourceMember: arn.rds(core, kind, blueNow), TargetMember: arn.rds(core, kind, greenNow), Status: memberStatus(status) }];
  if (d.writers) {
    details.push({ SourceMember: arn.rds(core, 'db', switched ? `${d.writers.blue}-old1` : d.writers.blue), TargetMember: arn.rds(core, 'db', switched ? d.writers.blue : d.writers.green), Status: memberStatus(status) });
  }
  const provisioning = status === 'PROVISIONING';
  return {
    BlueGreenDeploymentIdentifier: d.identifier, BlueGreenDeploymentName: d.name, Source: arn.rds(core, kind, blueNow), Target: arn.rds(core, kind, greenNow),
    SwitchoverDetails: details,
    Tasks: [
      { Name: 'CREATING_READ_REPLICA_OF_SOURCE', Status: provisioning ? 'IN_PROGRESS' : 'COMPLETED' },
      { Name: 'CONFIGURE_BACKUPS', Status: provisioning ? 'PENDING' : 'COMPLETED' },
    ],
    Status: status, ...(d.statusDetails ? { StatusDetails: d.statusDetails } : {}), CreateTime: new Date(d.createdAt), TagList: d.tags,
  };
}

function mustDeployment(core: Core, id: string | undefined): BlueGreenRecord {
  const d = id !== undefined ? deployments(core)[id] : undefined;
  if (!d) throw awsFault('rds', 'BlueGreenDeploymentNotFoundFault', `BlueGreenDeployment ${id ?? '(none)'} not found.`, 404);
  return d;
}

/** The blue record a Source ARN names: an Aurora cluster or an RDS DB instance. */
function blueOf(core: Core, source: string | undefined): ClusterRecord {
  const parts = (source ?? '').split(':');
  const kind = parts[5];
  const id = parts[6] ?? '';
  const c = core.reg.state.clusters[id];
  if (kind === 'cluster' && c && !c.instance) return c;
  if (kind === 'db' && c?.instance) return c;
  if (kind === 'db') throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${source ?? ''} not found.`, 404);
  if (kind === 'cluster') throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${source ?? ''} not found.`, 404);
  throw awsFault('rds', 'InvalidParameterValue', `Source must be the ARN of a DB cluster or DB instance, not ${source ?? '(none)'}`);
}

async function startReplication(core: Core, blue: ClusterRecord, green: ClusterRecord, snapshot: SnapshotRecord, d: { identifier: string }): Promise<CdcRecord> {
  const source = blue.backend;
  const target = green.backend;
  if (snapshot.binlog) {
    const from = binlogPosition(snapshot.binlog);
    const doTables = [`${source.database}.%`];
    await startReplica({ target, sourceHost: source.host, sourcePort: source.port, ...replicationLogin(source), from, doTables, ignoreTables: [] });
    const problem = await replicaStartProblem(target);
    if (problem !== undefined) throw awsFault('rds', 'InvalidBlueGreenDeploymentStateFault', `Replication from blue to green could not start: ${problem}`);
    return {
      source, target, snapshot: snapshot.identifier, internalSlot: '', runnerSlot: '', publications: [], subscription: '', tables: [], baseline: {},
      mysql: { sourceHost: source.host, sourcePort: source.port, from: formatBinlogPosition(from), doTables, ignoreTables: [] },
    };
  }
  const tables = await listTables(source);
  const subscription = `rh_bg_${d.identifier.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
  await startSubscription({ source, target, tables, publications: snapshot.publications, subscription, internalSlot: snapshot.internalSlot });
  return { source, target, snapshot: snapshot.identifier, internalSlot: snapshot.internalSlot, runnerSlot: '', publications: snapshot.publications, subscription, tables: tables.map((t) => t.name), baseline: {} };
}

async function stopReplication(r: CdcRecord): Promise<void> {
  if (r.mysql) await resetReplica(r.target);
  else await dropSubscription({ ...r });
}

async function create(core: Core, input: Input): Promise<unknown> {
  const name = str(input, 'BlueGreenDeploymentName');
  if (name === undefined || !/^[A-Za-z][A-Za-z0-9-]{0,59}$/.test(name)) throw awsFault('rds', 'InvalidParameterValue', 'BlueGreenDeploymentName must be 1 to 60 letters, digits or hyphens, starting with a letter.');
  const blue = blueOf(core, str(input, 'Source'));
  const all = Object.values(deployments(core));
  if (all.some((d) => d.name === name)) throw awsFault('rds', 'BlueGreenDeploymentAlreadyExistsFault', `A blue/green deployment with the name ${name} already exists.`);
  if (all.some((d) => d.blue === blue.identifier && d.status !== 'SWITCHOVER_COMPLETED')) throw awsFault('rds', 'BlueGreenDeploymentAlreadyExistsFault', `${blue.identifier} already is the source of a blue/green deployment.`);
  if (blue.backend.server === 'external') throw awsFault('rds', 'SourceDatabaseNotSupportedFault', `The rehearsal cloud builds green only from its own servers, not from an adopted database (${blue.identifier}).`);
  const replicas = Object.values(core.reg.state.clusters).filter((c) => c.instance?.replicaOf === blue.identifier);
  if (replicas.length > 0) throw awsFault('rds', 'SourceDatabaseNotSupportedFault', `The rehearsal cloud does not model Blue/Green for a source with read replicas (${replicas.map((r) => r.identifier).join(', ')}).`);
  const configs = Array.isArray(input.TargetResourceConfigurations) ? (input.TargetResourceConfigurations as { SourceArn?: string; TargetKmsKeyId?: string }[]) : [];
  const blueArn = arn.rds(core, blue.instance ? 'db' : 'cluster', blue.identifier);
  for (const c of configs) {
    if (c.SourceArn !== blueArn) {
      const hint = blue.instance ? 'a DB instance ARN of the source or one of its read replicas' : 'the DB cluster ARN (for Aurora, encryption applies at the cluster level)';
      throw awsFault('rds', 'InvalidParameterValue', `TargetResourceConfigurations SourceArn ${c.SourceArn ?? '(none)'} is not ${hint}.`);
    }
  }
  const wanted = configs.find((c) => c.TargetKmsKeyId !== undefined)?.TargetKmsKeyId;
  if (wanted !== undefined && core.failures.blueGreenRefusesTargetKey === true) {
    throw awsFault('rds', 'SourceDatabaseNotSupportedFault', `A target KMS key (TargetResourceConfigurations) is not supported for ${blue.engine} ${blue.engineVersion} in ${core.region}.`);
  }
  if (clusterBusy(core, blue)) throw awsFault('rds', blue.instance ? 'InvalidDBInstanceStateFault' : 'InvalidDBClusterStateFault', `${blue.identifier} is not available.`);
  const keyArn = restoreKeyArn(core, wanted, { kmsKeyArn: blue.kmsKeyArn } as SnapshotRecord);
  const identifier = `bgd-${resourceId(16).toLowerCase()}`;
  const suffix = `-green-${resourceId(6).toLowerCase()}`;
  const greenId = `${blue.identifier.slice(0, 63 - suffix.length)}${suffix}`;
  const started = core.now();
  const snapshot = await snapshotData(core, blue, `${identifier}-seed`, []);
  const backend = await restoreData(core, snapshot, greenId, 'aurora');
  const green: ClusterRecord = {
    ...structuredClone(blue), identifier: greenId, resourceId: `cluster-${resourceId()}`, backend, kmsKeyArn: keyArn, createdAt: started,
    readyAt: Math.max(core.now(), started + ms(core.delays.restoreSeconds)), tags: [...blue.tags],
    ...(str(input, 'TargetEngineVersion') ? { engineVersion: str(input, 'TargetEngineVersion') as string } : {}),
  };
  delete green.restoredFrom;
  delete green.rename;
  if (green.instance) {
    green.instance.dbiResourceId = `db-${resourceId()}`;
    if (green.instance.performanceInsights) green.instance.performanceInsightsKmsKeyArn = keyArn;
    const group = str(input, 'TargetDBParameterGroupName');
    if (group) green.instance.parameterGroup = group;
  } else {
    const group = str(input, 'TargetDBClusterParameterGroupName');
    if (group) green.settings.parameterGroup = group;
  }
  core.reg.state.clusters[greenId] = green;
  let writers: BlueGreenRecord['writers'];
  const blueWriter = Object.values(core.reg.state.instances).find((i) => i.clusterIdentifier === blue.identifier);
  if (blueWriter) {
    const w: InstanceRecord = { ...structuredClone(blueWriter), identifier: `${blueWriter.identifier.slice(0, 63 - suffix.length)}${suffix}`, resourceId: `db-${resourceId()}`, clusterIdentifier: greenId, createdAt: started, readyAt: green.readyAt };
    core.reg.state.instances[w.identifier] = w;
    writers = { blue: blueWriter.identifier, green: w.identifier };
  }
  await ensureProxy(core, greenId);
  core.proxies.point(greenId, { host: backend.host, port: backend.port });
  const d: BlueGreenRecord = {
    identifier, name, blue: blue.identifier, green: greenId, ...(writers ? { writers } : {}), status: 'PROVISIONING', createdAt: started, readyAt: green.readyAt,
    snapshot, tags: tagsOf(input),
  };
  try {
    d.replication = await startReplication(core, blue, green, snapshot, d);
  } catch (error) {
    await dropRecord(core, green).catch(() => undefined);
    if (writers) delete core.reg.state.instances[writers.green];
    throw error;
  }
  deployments(core)[identifier] = d;
  core.reg.event(blue.instance ? 'db-instance' : 'db-cluster', blue.identifier, `Blue/green deployment ${name} created: green ${greenId} under ${keyArn}`, ['configuration change']);
  core.reg.save();
  return { BlueGreenDeployment: shape(core, d) };
}

function clusterBusy(core: Core, c: ClusterRecord): boolean {
  return c.rename !== undefined || core.now() < c.readyAt;
}

/** Drop blue's application sessions, as RDS does when it switches over (admin and replication sessions stay). */
async function dropSessions(core: Core, blue: ClusterRecord): Promise<void> {
  if (isMysql(core)) {
    await withMy(myConfig(blue.backend, ''), async (c) => {
      const list = await rows<{ Id: number; User: string; Command: string }>(c, 'SELECT ID AS Id, USER AS User, COMMAND AS Command FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()');
      for (const p of list) if (!['rdsadmin', 'rdsrepladmin', 'system user', 'root', 'event_scheduler'].includes(p.User) && !p.Command.startsWith('Binlog')) await c.query(`KILL ${p.Id}`).catch(() => undefined);
    });
    return;
  }
  await withPg(pgConfig(blue.backend), (c) =>
    c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND usename NOT LIKE 'rds%'", [blue.backend.database]),
  );
}

/** Whether green has applied everything blue wrote up to now. */
async function caughtUp(core: Core, d: BlueGreenRecord, blue: ClusterRecord): Promise<boolean> {
  const r = d.replication;
  if (!r) return true;
  if (r.mysql) {
    const at = await withMy(myConfig(blue.backend, ''), masterPosition);
    const st = await withMy(myConfig(r.target, ''), slaveStatus);
    if (!st || st.exec.file === '') return false;
    return st.exec.file === at.file ? st.exec.position >= at.position : binlogPositionValue(st.exec) >= binlogPositionValue(at);
  }
  const o = await observeSource(r.source, r.subscription, r.internalSlot, []);
  return o.applied >= o.current || (o.confirmed !== null && parseLsn(o.confirmed) >= o.current);
}

/** PostgreSQL logical replication does not carry sequences: the switchover sets green's from blue's. */
async function carrySequences(core: Core, d: BlueGreenRecord): Promise<void> {
  const r = d.replication;
  if (!r || r.mysql) return;
  const seqs = await withPg(pgConfig(r.source), async (c) => (await c.query<{ s: string; v: string }>("SELECT format('%I.%I', schemaname, sequencename) AS s, last_value::text AS v FROM pg_sequences WHERE last_value IS NOT NULL")).rows);
  await withPg(pgConfig(r.target), async (c) => {
    for (const q of seqs) await c.query('SELECT setval($1::regclass, $2::bigint, true)', [q.s, q.v]);
  });
}

function rename(core: Core, from: string, to: string): ClusterRecord | undefined {
  const c = core.reg.state.clusters[from];
  if (!c) return undefined;
  delete core.reg.state.clusters[from];
  c.identifier = to;
  core.reg.state.clusters[to] = c;
  for (const i of Object.values(core.reg.state.instances)) if (i.clusterIdentifier === from) i.clusterIdentifier = to;
  return c;
}

function renameInstance(core: Core, from: string, to: string): void {
  const i = core.reg.state.instances[from];
  if (!i) return;
  delete core.reg.state.instances[from];
  i.identifier = to;
  core.reg.state.instances[to] = i;
}

/** The switchover, step by step; idempotent so a reopened world can run it again. */
async function runSwitchover(core: Core, d: BlueGreenRecord): Promise<void> {
  const blue = core.reg.state.clusters[d.blue];
  const green = core.reg.state.clusters[d.green];
  if (!blue || !green || !d.switchover) return;
  // Blue's writes stop: its endpoint answers nobody (open connections dropped), its sessions are ended.
  await ensureProxy(core, d.blue);
  core.proxies.point(d.blue, undefined);
  await dropSessions(core, blue);
  const stalls = core.failures.blueGreenSwitchoverStalls === true && d.replication !== undefined;
  if (stalls && d.replication) {
    // Fault injection: green stops applying, so it never catches up within the timeout (even when blue's last
    // write had already arrived: the stalled switchover never reports it, whatever the timing).
    if (d.replication.mysql) await setReplicaRunning(d.replication.target, false);
    else await setSubscriptionEnabled(d.replication.target, d.replication.subscription, false);
  }
  for (;;) {
    if (!stalls && (await caughtUp(core, d, blue))) break;
    if (core.now() >= d.switchover.deadline) {
      // AWS's revert: nothing switched, blue answers again and stays writable.
      if (d.replication?.mysql) await setReplicaRunning(d.replication.target, true);
      else if (d.replication) await setSubscriptionEnabled(d.replication.target, d.replication.subscription, true);
      core.proxies.point(d.blue, { host: blue.backend.host, port: blue.backend.port });
      d.status = 'SWITCHOVER_FAILED';
      d.statusDetails = 'Switchover timed out: any changes were rolled back and no changes were made to either environment.';
      delete d.switchover;
      core.reg.event(blue.instance ? 'db-instance' : 'db-cluster', d.blue, `Blue/green deployment ${d.name}: switchover timed out and was rolled back`, ['configuration change']);
      core.reg.save();
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await carrySequences(core, d);
  if (d.replication) await stopReplication(d.replication);
  delete d.replication;
  // Green takes blue's names and endpoints (the proxy of blue's name serves green); blue becomes -old1.
  const old = `${d.blue}-old1`;
  const blueTags = blue.tags;
  rename(core, d.blue, old);
  rename(core, d.green, d.blue);
  if (d.writers) {
    renameInstance(core, d.writers.blue, `${d.writers.blue}-old1`);
    renameInstance(core, d.writers.green, d.writers.blue);
  }
  blue.tags = green.tags;
  green.tags = blueTags;
  await ensureProxy(core, old);
  core.proxies.point(old, { host: blue.backend.host, port: blue.backend.port });
  core.proxies.point(d.blue, { host: green.backend.host, port: green.backend.port });
  core.proxies.drop(d.green);
  d.status = 'SWITCHOVER_COMPLETED';
  delete d.statusDetails;
  delete d.switchover;
  core.reg.event(green.instance ? 'db-instance' : 'db-cluster', d.blue, `Blue/green deployment ${d.name}: switchover completed; ${old} is the old blue`, ['configuration change']);
  core.reg.save();
}

function startWorker(core: Core, d: BlueGreenRecord): void {
  const set = running.get(core) ?? new Set<string>();
  running.set(core, set);
  if (set.has(d.identifier)) return;
  set.add(d.identifier);
  core.background(`switchover of ${d.name}`, () => runSwitchover(core, d).finally(() => set.delete(d.identifier)));
}

function switchover(core: Core, input: Input): unknown {
  const d = mustDeployment(core, str(input, 'BlueGreenDeploymentIdentifier'));
  const status = statusOf(core, d);
  if (status !== 'AVAILABLE' && status !== 'SWITCHOVER_FAILED') throw awsFault('rds', 'InvalidBlueGreenDeploymentStateFault', `The blue/green deployment ${d.identifier} is ${status}, not AVAILABLE.`);
  const timeout = typeof input.SwitchoverTimeout === 'number' ? input.SwitchoverTimeout : 300;
  if (timeout < 30 || timeout > 3600) throw awsFault('rds', 'InvalidParameterValue', `SwitchoverTimeout must be between 30 and 3600 seconds, not ${timeout}.`);
  d.status = 'SWITCHOVER_IN_PROGRESS';
  delete d.statusDetails;
  d.switchover = { startedAt: core.now(), deadline: core.now() + timeout * 1000 };
  const blue = core.reg.state.clusters[d.blue];
  core.reg.event(blue?.instance ? 'db-instance' : 'db-cluster', d.blue, `Blue/green deployment ${d.name}: switchover started`, ['configuration change']);
  core.reg.save();
  startWorker(core, d);
  return { BlueGreenDeployment: shape(core, d) };
}

async function remove(core: Core, input: Input): Promise<unknown> {
  const d = mustDeployment(core, str(input, 'BlueGreenDeploymentIdentifier'));
  const status = statusOf(core, d);
  const deleteTarget = input.DeleteTarget === true;
  if (status === 'SWITCHOVER_IN_PROGRESS') throw awsFault('rds', 'InvalidBlueGreenDeploymentStateFault', `The blue/green deployment ${d.identifier} is switching over.`);
  if (deleteTarget && status === 'SWITCHOVER_COMPLETED') throw awsFault('rds', 'InvalidBlueGreenDeploymentStateFault', `DeleteTarget cannot be set after the switchover of ${d.identifier}: green is the production environment now.`);
  const out = { ...shape(core, d), Status: 'DELETING' };
  if (d.replication) await stopReplication(d.replication);
  if (deleteTarget) {
    const green = core.reg.state.clusters[d.green];
    if (green) await dropRecord(core, green);
    if (d.writers) delete core.reg.state.instances[d.writers.green];
  }
  delete deployments(core)[d.identifier];
  core.reg.save();
  return { BlueGreenDeployment: out };
}

function describe(core: Core, input: Input): unknown {
  const id = str(input, 'BlueGreenDeploymentIdentifier');
  const filters = Array.isArray(input.Filters) ? (input.Filters as { Name?: string; Values?: string[] }[]) : [];
  const list = id !== undefined ? [mustDeployment(core, id)] : Object.values(deployments(core));
  // A worker lost with its process (a reopened world) picks the switchover up again.
  for (const d of list) if (d.status === 'SWITCHOVER_IN_PROGRESS') startWorker(core, d);
  const shapes = list.map((d) => shape(core, d));
  const field: Record<string, string> = { 'blue-green-deployment-identifier': 'BlueGreenDeploymentIdentifier', 'blue-green-deployment-name': 'BlueGreenDeploymentName', source: 'Source', target: 'Target' };
  const kept = shapes.filter((s) => filters.every((f) => {
    const key = field[f.Name ?? ''];
    if (key === undefined) throw awsFault('rds', 'InvalidParameterValue', `Unrecognized filter name: ${f.Name ?? ''}`);
    return (f.Values ?? []).includes(String(s[key]));
  }));
  return { BlueGreenDeployments: kept };
}

/** The fake RDS Blue/Green commands; undefined for any other command. */
export function blueGreenSend(core: Core, name: string, input: Input): Promise<unknown> | undefined {
  switch (name) {
    case 'CreateBlueGreenDeployment':
      return create(core, input);
    case 'DescribeBlueGreenDeployments':
      return Promise.resolve(describe(core, input));
    case 'SwitchoverBlueGreenDeployment':
      return Promise.resolve().then(() => switchover(core, input));
    case 'DeleteBlueGreenDeployment':
      return remove(core, input);
    case 'DescribeDBProxies':
      return Promise.resolve({ DBProxies: [] });
    case 'DescribeDBProxyTargets':
      return Promise.reject(awsFault('rds', 'DBProxyNotFoundFault', `DBProxy ${str(input, 'DBProxyName') ?? ''} not found.`, 404));
    default:
      return undefined;
  }
}
