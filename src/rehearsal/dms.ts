// Fake DMS: replication instances, endpoints, connection tests, and CDC-only tasks carried out by a
// native PostgreSQL subscription from the snapshot's exported slot, checked the way DMS checks them.
// While a task runs, a sampler turns replication lag into AWS/DMS CloudWatch datapoints.
import pg from 'pg';
import type { Core, Input } from './core.js';
import { arn, before, filterValues, ms, promised, str } from './core.js';
import {
  binaryLogs, formatPos, masterPosition, myConfig, myTables, parsePos, pendingTransactions, posValue, replicaStartProblem, replicationLogin, resetReplica,
  setReplicaRunning, slaveStatus, startReplica, withMy,
} from './my-ops.js';
import { awsFault, UnsupportedCommandError } from './faults.js';
import { replayOverlap, toleratesOverlap } from './overlap.js';
import {
  advanceSlot, dropSubscription, isLsn, listTables, lsnValue, observeSource, pgConfig, setSubscriptionEnabled, slotInfo, startSubscription, targetTuples, withPg,
} from './pg-ops.js';
import type { SourceTable } from './pg-ops.js';
import type { Backend, ClusterRecord, Datapoint, EndpointRecord, ReplicationInstanceRecord, TaskRecord } from './registry.js';
import { resourceId } from './registry.js';

const SAMPLE_MS = 500;

/** DMS engine names of the MySQL family (EngineName `aurora` is Aurora MySQL). */
const MYSQL_ENGINES = new Set(['mysql', 'mariadb', 'aurora', 'aurora-serverless']);
const DISPLAY_NAMES: Record<string, string> = {
  postgres: 'PostgreSQL', 'aurora-postgresql': 'Amazon Aurora PostgreSQL', mysql: 'MySQL', mariadb: 'MariaDB', aurora: 'Amazon Aurora MySQL', 'aurora-serverless': 'Amazon Aurora MySQL Serverless',
};

/** Whether an endpoint is of the MySQL family. */
const isMyEndpoint = (e: EndpointRecord): boolean => MYSQL_ENGINES.has(e.engineName);

/** Ages of WAL positions: when each was first seen as the server's current position. */
class LagClock {
  private samples: { t: number; lsn: bigint }[] = [];

  observe(t: number, current: bigint): void {
    const last = this.samples[this.samples.length - 1];
    if (!last || last.lsn < current) this.samples.push({ t, lsn: current });
  }

  /** Seconds since the oldest change past `pos` appeared (0 when `pos` is current). */
  age(now: number, pos: bigint): number {
    const first = this.samples.find((s) => s.lsn > pos);
    return first ? Math.max(0, (now - first.t) / 1000) : 0;
  }

  forget(upTo: bigint): void {
    const keep = this.samples.findIndex((s) => s.lsn > upTo);
    if (keep > 0) this.samples = this.samples.slice(keep - 1);
  }
}

interface Sampler {
  timer: NodeJS.Timeout;
  clock: LagClock;
  busy: boolean;
}

/** Where DMS task status comes from: explicit state, or `creating` until ready. */
function taskStatus(core: Core, t: TaskRecord): string {
  return t.state === 'ready' && before(core, t.readyAt) ? 'creating' : t.state;
}

/** The fake DMS: `send` plus the samplers it runs. */
export class FakeDms {
  private readonly samplers = new Map<string, Sampler>();

  constructor(private readonly core: Core) {}

  /** Resume what a killed runner left in flight: samplers, starts, stops, connection tests. */
  resume(): void {
    for (const t of Object.values(this.core.reg.state.tasks)) {
      if (t.state === 'running') this.startSampler(t);
      if (t.state === 'starting') this.core.background(`start ${t.identifier}`, () => this.carryOutStart(t, t.startType ?? 'start-replication', t.startPosition));
      if (t.state === 'stopping') this.core.background(`stop ${t.identifier}`, () => this.carryOutStop(t));
    }
    for (const c of Object.values(this.core.reg.state.connections)) {
      if (c.status === 'testing') this.core.background(`test ${c.endpointArn}`, () => this.carryOutTest(c.instanceArn, c.endpointArn));
    }
  }

  /** Stop every sampler (the servers stay as they are). */
  close(): void {
    for (const s of this.samplers.values()) clearInterval(s.timer);
    this.samplers.clear();
  }

  readonly send = promised((name: string, input: Input): unknown => {
    switch (name) {
      case 'DescribeReplicationInstances': return this.describeInstances(input);
      case 'CreateReplicationInstance': return this.createInstance(input);
      case 'DescribeEndpoints': return this.describeEndpoints(input);
      case 'CreateEndpoint': return this.createEndpoint(input);
      case 'DeleteEndpoint': return this.deleteEndpoint(input);
      case 'TestConnection': return this.testConnection(input);
      case 'DescribeConnections': return this.describeConnections(input);
      case 'CreateReplicationTask': return this.createTask(input);
      case 'DescribeReplicationTasks': return this.describeTasks(input);
      case 'StartReplicationTask': return this.startTask(input);
      case 'StopReplicationTask': return this.stopTask(input);
      case 'DeleteReplicationTask': return this.deleteTask(input);
      case 'DescribeTableStatistics': return this.tableStatistics(input);
      default: throw new UnsupportedCommandError('dms', name);
    }
  });

  // --- replication instances

  private instanceShape(r: ReplicationInstanceRecord): Record<string, unknown> {
    return {
      ReplicationInstanceIdentifier: r.identifier, ReplicationInstanceArn: r.arn, ReplicationInstanceClass: r.instanceClass,
      ReplicationInstanceStatus: before(this.core, r.readyAt) ? 'creating' : 'available', AllocatedStorage: r.settings.AllocatedStorage ?? 50,
      InstanceCreateTime: new Date(r.createdAt), PubliclyAccessible: r.settings.PubliclyAccessible ?? true, MultiAZ: r.settings.MultiAZ ?? false,
      EngineVersion: '3.5.3', VpcSecurityGroups: ((r.settings.VpcSecurityGroupIds as string[] | undefined) ?? []).map((id) => ({ VpcSecurityGroupId: id, Status: 'active' })),
      ReplicationSubnetGroup: { ReplicationSubnetGroupIdentifier: r.settings.ReplicationSubnetGroupIdentifier ?? 'default' },
      // A VPC address, as on AWS. The rehearsal's DMS logs in as rdsadmin or a replication account (on an adopted source:
      // its URL user, for replication streams and brief samples), so a session of rekey's login from 127.0.0.1 is an
      // application's, as the fence's open-session guard sees it.
      ReplicationInstancePrivateIpAddresses: ['10.0.0.15'], ReplicationInstancePublicIpAddresses: [],
    };
  }

  private describeInstances(input: Input): unknown {
    const ids = filterValues(input, 'replication-instance-id');
    const arns = filterValues(input, 'replication-instance-arn');
    const list = Object.values(this.core.reg.state.replicationInstances).filter((r) => (!ids || ids.includes(r.identifier)) && (!arns || arns.includes(r.arn)));
    if (list.length === 0) throw awsFault('dms', 'ResourceNotFoundFault', 'No replication instance found matching provided filters');
    return { ReplicationInstances: list.map((r) => this.instanceShape(r)) };
  }

  private createInstance(input: Input): unknown {
    const id = (str(input, 'ReplicationInstanceIdentifier') ?? '').toLowerCase();
    if (id === '') throw awsFault('dms', 'InvalidParameterValueException', 'ReplicationInstanceIdentifier is required');
    if (this.core.reg.state.replicationInstances[id]) throw awsFault('dms', 'ResourceAlreadyExistsFault', `Replication instance ${id} already exists`);
    const record = registerReplicationInstance(this.core, id, str(input, 'ReplicationInstanceClass') ?? 'dms.r6i.large', input);
    return { ReplicationInstance: this.instanceShape(record) };
  }

  private mustInstance(instanceArn: string | undefined): ReplicationInstanceRecord {
    const r = Object.values(this.core.reg.state.replicationInstances).find((x) => x.arn === instanceArn);
    if (!r) throw awsFault('dms', 'ResourceNotFoundFault', `Replication instance ${instanceArn ?? '(none)'} not found`);
    return r;
  }

  // --- endpoints

  private endpointShape(e: EndpointRecord): Record<string, unknown> {
    return {
      EndpointIdentifier: e.identifier, EndpointArn: e.arn, EndpointType: e.type.toUpperCase(), EngineName: e.engineName, EngineDisplayName: DISPLAY_NAMES[e.engineName] ?? e.engineName,
      ServerName: e.serverName, Port: e.port, ...(e.databaseName !== '' ? { DatabaseName: e.databaseName } : {}), Username: e.username, Status: 'active', SslMode: e.sslMode,
      ...(isMyEndpoint(e) ? {} : { PostgreSQLSettings: e.postgreSQLSettings }), ...e.settings,
    };
  }

  private describeEndpoints(input: Input): unknown {
    const ids = filterValues(input, 'endpoint-id');
    const arns = filterValues(input, 'endpoint-arn');
    const list = Object.values(this.core.reg.state.endpoints).filter((e) => (!ids || ids.includes(e.identifier)) && (!arns || arns.includes(e.arn)));
    if (list.length === 0) throw awsFault('dms', 'ResourceNotFoundFault', 'No endpoint found matching provided filters');
    return { Endpoints: list.map((e) => this.endpointShape(e)) };
  }

  private createEndpoint(input: Input): unknown {
    const id = (str(input, 'EndpointIdentifier') ?? '').toLowerCase();
    const type = (str(input, 'EndpointType') ?? '').toLowerCase();
    if (id === '' || (type !== 'source' && type !== 'target')) throw awsFault('dms', 'InvalidParameterValueException', 'EndpointIdentifier and EndpointType (source|target) are required');
    if (this.core.reg.state.endpoints[id]) throw awsFault('dms', 'ResourceAlreadyExistsFault', `Endpoint ${id} already exists`);
    const engineName = (str(input, 'EngineName') ?? '').toLowerCase();
    if (engineName === '') throw awsFault('dms', 'InvalidParameterValueException', 'EngineName is required');
    const mysqlFamily = MYSQL_ENGINES.has(engineName);
    if (!mysqlFamily && !['postgres', 'aurora-postgresql'].includes(engineName)) {
      throw awsFault('dms', 'InvalidParameterValueException', `The rehearsal cloud models postgres, aurora-postgresql, mysql, mariadb and aurora endpoints, not ${engineName}`);
    }
    const sslMode = str(input, 'SslMode') ?? 'none';
    if (mysqlFamily && sslMode === 'require') {
      throw awsFault('dms', 'InvalidParameterValueException', `SSL mode require is not supported for ${engineName} endpoints; use verify-ca or verify-full.`);
    }
    const pgSettings = { ...((input.PostgreSQLSettings as Record<string, unknown> | undefined) ?? {}) };
    delete pgSettings.Password;
    const known = new Set(['EndpointIdentifier', 'EndpointType', 'EngineName', 'ServerName', 'Port', 'DatabaseName', 'Username', 'Password', 'SslMode', 'PostgreSQLSettings', 'Tags']);
    const settings = Object.fromEntries(Object.entries(input).filter(([k]) => !known.has(k) && !/password/i.test(k)));
    if (settings.MySQLSettings !== undefined) {
      settings.MySQLSettings = Object.fromEntries(Object.entries(settings.MySQLSettings as Record<string, unknown>).filter(([k]) => !/password/i.test(k)));
    }
    const mySettingsPassword = (input.MySQLSettings as Record<string, unknown> | undefined)?.Password;
    const e: EndpointRecord = {
      identifier: id, arn: arn.dms(this.core, 'endpoint', resourceId()), type, engineName,
      serverName: str(input, 'ServerName') ?? '', port: typeof input.Port === 'number' ? input.Port : mysqlFamily ? 3306 : 5432, databaseName: str(input, 'DatabaseName') ?? '',
      username: str(input, 'Username') ?? '', sslMode, postgreSQLSettings: pgSettings, settings, createdAt: this.core.now(),
    };
    const password = str(input, 'Password') ?? (typeof mySettingsPassword === 'string' ? mySettingsPassword : undefined);
    if (password !== undefined) this.core.passwords.set(e.arn, password);
    this.core.reg.state.endpoints[id] = e;
    this.core.reg.save();
    return { Endpoint: this.endpointShape(e) };
  }

  private mustEndpoint(endpointArn: string | undefined): EndpointRecord {
    const e = Object.values(this.core.reg.state.endpoints).find((x) => x.arn === endpointArn);
    if (!e) throw awsFault('dms', 'ResourceNotFoundFault', `Endpoint ${endpointArn ?? '(none)'} not found`);
    return e;
  }

  private deleteEndpoint(input: Input): unknown {
    const e = this.mustEndpoint(str(input, 'EndpointArn'));
    const user = Object.values(this.core.reg.state.tasks).find((t) => t.sourceEndpointArn === e.arn || t.targetEndpointArn === e.arn);
    if (user) throw awsFault('dms', 'InvalidResourceStateFault', `Endpoint ${e.identifier} is used by replication task ${user.identifier}`);
    delete this.core.reg.state.endpoints[e.identifier];
    for (const key of Object.keys(this.core.reg.state.connections)) if (key.endsWith(` ${e.arn}`)) delete this.core.reg.state.connections[key];
    this.core.passwords.delete(e.arn);
    this.core.reg.save();
    return { Endpoint: { ...this.endpointShape(e), Status: 'deleting' } };
  }

  // --- connection tests

  private connectionShape(instanceArn: string, endpointArn: string): Record<string, unknown> {
    const c = this.core.reg.state.connections[`${instanceArn} ${endpointArn}`];
    const e = Object.values(this.core.reg.state.endpoints).find((x) => x.arn === endpointArn);
    const r = Object.values(this.core.reg.state.replicationInstances).find((x) => x.arn === instanceArn);
    return {
      ReplicationInstanceArn: instanceArn, EndpointArn: endpointArn, Status: c?.status ?? 'testing', EndpointIdentifier: e?.identifier,
      ReplicationInstanceIdentifier: r?.identifier, ...(c?.lastFailureMessage !== undefined ? { LastFailureMessage: c.lastFailureMessage } : {}),
    };
  }

  private testConnection(input: Input): unknown {
    const r = this.mustInstance(str(input, 'ReplicationInstanceArn'));
    const e = this.mustEndpoint(str(input, 'EndpointArn'));
    if (before(this.core, r.readyAt)) throw awsFault('dms', 'InvalidResourceStateFault', `Replication instance ${r.identifier} is not available`);
    this.core.reg.state.connections[`${r.arn} ${e.arn}`] = { instanceArn: r.arn, endpointArn: e.arn, status: 'testing' };
    this.core.reg.save();
    this.core.background(`test ${e.identifier}`, () => this.carryOutTest(r.arn, e.arn));
    return { Connection: this.connectionShape(r.arn, e.arn) };
  }

  private async carryOutTest(instanceArn: string, endpointArn: string): Promise<void> {
    const e = Object.values(this.core.reg.state.endpoints).find((x) => x.arn === endpointArn);
    const record = this.core.reg.state.connections[`${instanceArn} ${endpointArn}`];
    if (!e || !record) return;
    const password = this.core.passwords.get(e.arn);
    if (isMyEndpoint(e)) {
      // The rehearsal's own accounts have no passwords (as its PostgreSQL servers trust local logins): a password
      // from the runbook is not checked against them. An adopted database and every copy of it (read replica,
      // restore on the rehearsal's servers) carry the adopted accounts with their password hashes: there it is.
      const isAdopted = this.core.runbook.rehearsal?.source.url !== undefined;
      try {
        await withMy({ host: e.serverName, port: e.port, user: e.username, connectTimeout: 5000, ...(password !== undefined && isAdopted ? { password } : {}) }, async (c) => {
          await c.query('SELECT 1');
        });
        record.status = 'successful';
        delete record.lastFailureMessage;
      } catch (error) {
        record.status = 'failed';
        record.lastFailureMessage = `Test connection for endpoint ${e.identifier} failed: ${error instanceof Error ? error.message : String(error)}`;
      }
      this.core.reg.save();
      return;
    }
    const client = new pg.Client({
      host: e.serverName, port: e.port, user: e.username, database: e.databaseName || undefined, connectionTimeoutMillis: 5000,
      ...(password !== undefined ? { password } : {}),
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      record.status = 'successful';
      delete record.lastFailureMessage;
    } catch (error) {
      record.status = 'failed';
      record.lastFailureMessage = `Test connection for endpoint ${e.identifier} failed: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      await client.end().catch(() => undefined);
    }
    this.core.reg.save();
  }

  private describeConnections(input: Input): unknown {
    const endpoints = filterValues(input, 'endpoint-arn');
    const instances = filterValues(input, 'replication-instance-arn');
    const list = Object.values(this.core.reg.state.connections).filter((c) => (!endpoints || endpoints.includes(c.endpointArn)) && (!instances || instances.includes(c.instanceArn)));
    if (list.length === 0) throw awsFault('dms', 'ResourceNotFoundFault', 'No connection found matching provided filters');
    return { Connections: list.map((c) => this.connectionShape(c.instanceArn, c.endpointArn)) };
  }

  // --- tasks

  private taskShape(t: TaskRecord, withSettings = true): Record<string, unknown> {
    const now = this.core.now();
    return {
      ReplicationTaskIdentifier: t.identifier, ReplicationTaskArn: t.arn, SourceEndpointArn: t.sourceEndpointArn, TargetEndpointArn: t.targetEndpointArn,
      ReplicationInstanceArn: t.instanceArn, MigrationType: t.migrationType, TableMappings: t.tableMappings,
      ...(withSettings && t.taskSettings !== undefined ? { ReplicationTaskSettings: t.taskSettings } : {}),
      Status: taskStatus(this.core, t), ReplicationTaskCreationDate: new Date(t.createdAt),
      ...(t.startedAt !== undefined ? { ReplicationTaskStartDate: new Date(t.startedAt) } : {}),
      ...(t.cdcStartPosition !== undefined ? { CdcStartPosition: t.cdcStartPosition } : {}),
      ...(t.lastFailureMessage !== undefined ? { LastFailureMessage: t.lastFailureMessage } : {}),
      ...(t.stopReason !== undefined ? { StopReason: t.stopReason } : {}),
      ReplicationTaskStats: {
        FullLoadProgressPercent: 100, TablesLoaded: 0, TablesLoading: 0, TablesQueued: 0, TablesErrored: 0,
        ElapsedTimeMillis: t.startedAt !== undefined ? (t.state === 'running' ? now : (t.stoppedAt ?? now)) - t.startedAt : 0,
        ...(t.startedAt !== undefined ? { StartDate: new Date(t.startedAt) } : {}), ...(t.stoppedAt !== undefined ? { StopDate: new Date(t.stoppedAt) } : {}),
      },
    };
  }

  private mustTask(taskArn: string | undefined): TaskRecord {
    const t = Object.values(this.core.reg.state.tasks).find((x) => x.arn === taskArn);
    if (!t) throw awsFault('dms', 'ResourceNotFoundFault', `Replication task ${taskArn ?? '(none)'} not found`);
    return t;
  }

  private createTask(input: Input): unknown {
    const id = (str(input, 'ReplicationTaskIdentifier') ?? '').toLowerCase();
    if (id === '') throw awsFault('dms', 'InvalidParameterValueException', 'ReplicationTaskIdentifier is required');
    if (this.core.reg.state.tasks[id]) throw awsFault('dms', 'ResourceAlreadyExistsFault', `Replication task ${id} already exists`);
    const source = this.mustEndpoint(str(input, 'SourceEndpointArn'));
    const target = this.mustEndpoint(str(input, 'TargetEndpointArn'));
    const instance = this.mustInstance(str(input, 'ReplicationInstanceArn'));
    if (source.type !== 'source' || target.type !== 'target') throw awsFault('dms', 'InvalidParameterValueException', 'SourceEndpointArn must be a source endpoint and TargetEndpointArn a target endpoint');
    const mappings = str(input, 'TableMappings') ?? '';
    parseSelection(mappings);
    const cdcStartPosition = str(input, 'CdcStartPosition');
    const cdcStartTime = input.CdcStartTime instanceof Date ? input.CdcStartTime.toISOString() : undefined;
    if (cdcStartPosition !== undefined && cdcStartTime !== undefined) throw awsFault('dms', 'InvalidParameterCombinationException', 'CdcStartPosition and CdcStartTime cannot both be specified');
    const settings = str(input, 'ReplicationTaskSettings');
    if (settings !== undefined) {
      try {
        JSON.parse(settings);
      } catch {
        throw awsFault('dms', 'InvalidParameterValueException', 'Task Settings are invalid: not JSON');
      }
    }
    const rid = str(input, 'ResourceIdentifier') ?? resourceId();
    const t: TaskRecord = {
      identifier: id, arn: arn.dms(this.core, 'task', rid), resourceId: rid, sourceEndpointArn: source.arn, targetEndpointArn: target.arn, instanceArn: instance.arn,
      migrationType: str(input, 'MigrationType') ?? 'cdc', tableMappings: mappings, ...(settings !== undefined ? { taskSettings: settings } : {}),
      ...(cdcStartPosition !== undefined ? { cdcStartPosition } : {}), ...(cdcStartTime !== undefined ? { cdcStartTime } : {}),
      createdAt: this.core.now(), readyAt: this.core.now() + Math.max(500, ms(this.core.delays.availableSeconds)), state: 'ready', hasRun: false,
    };
    this.core.reg.state.tasks[id] = t;
    this.core.reg.save();
    return { ReplicationTask: this.taskShape(t) };
  }

  private describeTasks(input: Input): unknown {
    const ids = filterValues(input, 'replication-task-id');
    const arns = filterValues(input, 'replication-task-arn');
    const list = Object.values(this.core.reg.state.tasks).filter((t) => (!ids || ids.includes(t.identifier)) && (!arns || arns.includes(t.arn)));
    if (list.length === 0) throw awsFault('dms', 'ResourceNotFoundFault', 'No Tasks found matching provided filters');
    return { ReplicationTasks: list.map((t) => this.taskShape(t, input.WithoutSettings !== true)) };
  }

  private startTask(input: Input): unknown {
    const t = this.mustTask(str(input, 'ReplicationTaskArn'));
    const type = str(input, 'StartReplicationTaskType') ?? 'start-replication';
    const status = taskStatus(this.core, t);
    if (!['ready', 'stopped', 'failed'].includes(status)) throw awsFault('dms', 'InvalidResourceStateFault', `Replication task ${t.identifier} is ${status}; it can start only when ready, stopped or failed`);
    t.state = 'starting';
    t.startType = type;
    const position = str(input, 'CdcStartPosition');
    if (position !== undefined) t.startPosition = position;
    else delete t.startPosition;
    delete t.lastFailureMessage;
    delete t.stopReason;
    this.core.reg.save();
    this.core.background(`start ${t.identifier}`, () => this.carryOutStart(t, type, position));
    return { ReplicationTask: this.taskShape(t) };
  }

  private fail(t: TaskRecord, message: string): void {
    this.stopSampler(t);
    t.state = 'failed';
    t.lastFailureMessage = `Last Error ${message} Stop Reason FATAL_ERROR Error Level FATAL`;
    t.stopReason = 'Stop Reason FATAL_ERROR';
    t.stoppedAt = this.core.now();
    this.core.reg.save();
    this.core.log(`rehearsal: DMS task ${t.identifier} failed: ${message}`);
  }

  private async carryOutStart(t: TaskRecord, type: string, position: string | undefined): Promise<void> {
    try {
      const problem = await this.start(t, type, position);
      if (problem !== undefined) {
        this.fail(t, problem);
        return;
      }
      if (type === 'start-replication' && this.core.failures.corruptTargetRow) await this.corruptTargetRow(t);
      t.state = 'running';
      t.startedAt = this.core.now();
      t.hasRun = true;
      delete t.stoppedAt;
      this.core.reg.save();
      this.startSampler(t);
    } catch (error) {
      this.fail(t, `Task could not start: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Fault injection (rehearsal.failures.corruptTargetRow): one row of the demo's orders table changes on the target
   * behind the replication's back, the first order (the write load never touches it).
   */
  private async corruptTargetRow(t: TaskRecord): Promise<void> {
    const target = t.cdc?.target;
    if (!target) return;
    try {
      if (t.cdc?.mysql) await withMy(myConfig(target), (c) => c.query('UPDATE orders SET total = total + 1 ORDER BY id LIMIT 1'));
      else await withPg(pgConfig(target), (c) => c.query('UPDATE orders SET total = total + 1 WHERE id = (SELECT min(id) FROM orders)'));
    } catch (error) {
      this.core.log(`rehearsal: could not corrupt a target row (no demo orders table?): ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.core.log(`rehearsal: changed the first row of orders on ${target.database} behind the replication (rehearsal.failures.corruptTargetRow)`);
  }

  /** Set up the CDC; returns a failure message when DMS would refuse. */
  private async start(t: TaskRecord, type: string, position: string | undefined): Promise<string | undefined> {
    if (t.migrationType !== 'cdc') return `The rehearsal cloud carries out CDC-only tasks (MigrationType cdc), not ${t.migrationType}.`;
    if (type === 'reload-target') return 'reload-target is not valid for a CDC-only task started from a native start point.';
    if (type === 'resume-processing' && t.cdc) {
      if (t.cdc.mysql) await setReplicaRunning(t.cdc.target, true);
      else await setSubscriptionEnabled(t.cdc.target, t.cdc.subscription, true);
      return undefined;
    }
    if (t.hasRun) return 'start-replication of a task that already ran would apply its changes again from the start position; use resume-processing.';
    const src = this.mustEndpoint(t.sourceEndpointArn);
    const tgt = this.mustEndpoint(t.targetEndpointArn);
    const srcCluster = clusterForEndpoint(this.core, src);
    const tgtCluster = clusterForEndpoint(this.core, tgt);
    if (!srcCluster) return `Failed to connect to the source endpoint ${src.identifier} (${src.serverName}:${src.port}): no database answers there.`;
    if (!tgtCluster) return `Failed to connect to the target endpoint ${tgt.identifier} (${tgt.serverName}:${tgt.port}): no database answers there.`;
    if (isMyEndpoint(src) !== isMyEndpoint(tgt)) return `Endpoints ${src.identifier} (${src.engineName}) and ${tgt.identifier} (${tgt.engineName}) are of different engine families; the rehearsal cloud replicates like to like.`;
    if (isMyEndpoint(src)) return this.startMysql(t, position, srcCluster, tgtCluster);
    const source: Backend = { ...srcCluster.backend, database: src.databaseName || srcCluster.backend.database };
    const target: Backend = { ...tgtCluster.backend, database: tgt.databaseName || tgtCluster.backend.database };
    const snapshot = tgtCluster.restoredFrom !== undefined ? this.core.reg.state.snapshots[tgtCluster.restoredFrom] : undefined;
    if (!snapshot) return `The target ${tgtCluster.identifier} was not restored from a snapshot in the rehearsal cloud, so no native CDC start point matches it.`;
    const sb = snapshot.sourceBackend;
    if (sb.host !== source.host || sb.port !== source.port || sb.database !== source.database) {
      return `The target ${tgtCluster.identifier} was restored from snapshot ${snapshot.identifier} of another database than the source endpoint's (${source.database} on ${srcCluster.identifier}).`;
    }
    const slotName = typeof src.postgreSQLSettings.SlotName === 'string' ? src.postgreSQLSettings.SlotName : undefined;
    if (slotName === undefined) return 'A native CDC start point needs a logical replication slot: set PostgreSQLSettings.SlotName on the source endpoint.';
    const slot = await slotInfo(source, slotName);
    if (!slot) return `Replication slot '${slotName}' does not exist on the source database ${source.database}; create it before the snapshot.`;
    if (slot.database !== source.database) return `Replication slot '${slotName}' belongs to database ${slot.database}, not ${source.database}.`;
    const plugin = typeof src.postgreSQLSettings.PluginName === 'string' ? src.postgreSQLSettings.PluginName.toLowerCase() : 'pglogical';
    if (slot.plugin !== 'test_decoding' || !['test-decoding', 'test_decoding', 'no-preference'].includes(plugin)) {
      return `Replication slot '${slotName}' uses plugin ${slot.plugin} and the endpoint asks for ${plugin}; DMS needs a test_decoding slot with PluginName test-decoding.`;
    }
    if (slot.confirmedFlushLsn !== null && lsnValue(slot.confirmedFlushLsn) > lsnValue(snapshot.lsn)) {
      return `Replication slot '${slotName}' was created after the snapshot: its confirmed_flush_lsn ${slot.confirmedFlushLsn} is past the snapshot's LSN ${snapshot.lsn}, so changes in between are gone.`;
    }
    const start = position ?? t.cdcStartPosition;
    if (start === undefined) return 'CdcStartPosition is required for a CDC-only task from a native start point (PostgreSQL has no CDC start time).';
    if (!isLsn(start)) return `CdcStartPosition '${start}' is not a PostgreSQL LSN (like 0/16B3748).`;
    const diff = lsnValue(start) - lsnValue(snapshot.lsn);
    if (diff < 0n && !toleratesOverlap(t.taskSettings)) {
      return `CdcStartPosition ${start} is before the snapshot's LSN ${snapshot.lsn}: changes already in the restored target would be applied again (overlap of ${-diff} bytes of WAL). To replay them as upserts, set ErrorBehavior ApplyErrorInsertPolicy INSERT_RECORD and ApplyErrorUpdatePolicy UPDATE_RECORD in the task settings.`;
    }
    if (diff < 0n && slot.confirmedFlushLsn !== null && lsnValue(start) < lsnValue(slot.confirmedFlushLsn)) {
      return `CdcStartPosition ${start} is older than replication slot '${slotName}'s confirmed_flush_lsn ${slot.confirmedFlushLsn}: those changes are no longer in the slot.`;
    }
    if (diff > 0n) return `CdcStartPosition ${start} is after the snapshot's LSN ${snapshot.lsn}: changes in between would be lost (gap of ${diff} bytes of WAL).`;
    if (!(await slotInfo(source, snapshot.internalSlot))) return `The replication stream of snapshot ${snapshot.identifier} is gone (its slot was dropped with an earlier task); restore a new snapshot.`;
    const tables = selectTables(t.tableMappings, await listTables(source), this.core.runbook.cutover.sentinelTable);
    const base = `rh_${t.resourceId.toLowerCase()}`;
    const cdc = {
      source, target, snapshot: snapshot.identifier, internalSlot: snapshot.internalSlot, runnerSlot: slotName,
      publications: snapshot.publications, subscription: `${base}_sub`, tables: tables.map((x) => x.name), baseline: {},
    };
    if (diff < 0n && t.overlap === undefined) {
      // Before the snapshot's changes flow: the overlap from the task's start to the snapshot, as upserts.
      t.overlap = await replayOverlap({ source, target, slot: slotName, from: start, upTo: snapshot.lsn, tables: cdc.tables });
      this.core.reg.save();
      const o = t.overlap;
      this.core.log(
        `rehearsal: DMS task ${t.identifier} replayed the overlap ${o.from}..${o.upTo}: ${o.transactions} transactions, ${o.changes} changes; ${o.insertsAsUpdates} inserts applied as updates, ${o.updatesAsInserts} updates as inserts, ${o.deletesMissing} deletes of missing rows ignored, ${o.keylessInserts} inserts into tables without a primary key, ${o.skipped} changes skipped, ${o.applyErrors} refused by the target`,
      );
    }
    const sentinel = `public.${this.core.runbook.cutover.sentinelTable}`;
    await startSubscription({
      source, target, tables, publications: cdc.publications, subscription: cdc.subscription, internalSlot: cdc.internalSlot,
      ...(this.core.failures.drainNeverArrives && cdc.tables.includes(sentinel) ? { holdBackTable: sentinel } : {}),
    });
    t.cdc = { ...cdc, baseline: await this.baseline(cdc.source, cdc.target, cdc.tables) };
    return undefined;
  }

  /** Set up a MySQL task: the target server's replica from the snapshot's binlog position; a message when DMS would refuse. */
  private async startMysql(t: TaskRecord, position: string | undefined, srcCluster: ClusterRecord, tgtCluster: ClusterRecord): Promise<string | undefined> {
    const source = srcCluster.backend;
    const target = tgtCluster.backend;
    const snapshot = tgtCluster.restoredFrom !== undefined ? this.core.reg.state.snapshots[tgtCluster.restoredFrom] : undefined;
    if (!snapshot?.binlog) return `The target ${tgtCluster.identifier} was not restored from a MySQL snapshot in the rehearsal cloud, so no binlog start point matches it.`;
    const sb = snapshot.sourceBackend;
    if (sb.host !== source.host || sb.port !== source.port || sb.database !== source.database) {
      return `The target ${tgtCluster.identifier} was restored from snapshot ${snapshot.identifier} of another database than the source endpoint's (${source.database} on ${srcCluster.identifier}).`;
    }
    const start = position ?? t.cdcStartPosition;
    if (start === undefined) {
      return t.cdcStartTime !== undefined
        ? 'The rehearsal cloud starts MySQL CDC from a native start point only: a CdcStartTime cannot be matched exactly to the snapshot; use CdcStartPosition <file>:<pos>.'
        : 'CdcStartPosition is required for a CDC-only task that continues a restored snapshot.';
    }
    const from = parsePos(start);
    if (!from) return `CdcStartPosition '${start}' is not a MySQL binlog position (like mysql-bin-changelog.000024:373).`;
    const logs = await binaryLogs(source);
    const log = logs.find((l) => l.name === from.file);
    if (!log) {
      return `Error 1236 reading the binary log: Could not find first log file name in binary log index file: ${from.file} is not among the source's binary logs (${logs.map((l) => l.name).join(', ') || 'none'}); it was purged or never existed.`;
    }
    if (from.pos > log.size) return `Error 1236 reading the binary log: position ${from.pos} is past the end of ${from.file} (${log.size} bytes).`;
    const at = snapshot.binlog;
    const base = (f: string): string => f.slice(0, f.lastIndexOf('.'));
    if (base(from.file) !== base(at.file)) return `CdcStartPosition ${start} names another binary log than the snapshot's position ${formatPos(at)}.`;
    const diff = posValue(from) - posValue(at);
    const amount = (a: typeof from, b: typeof from): string => (a.file === b.file ? `${Math.abs(a.pos - b.pos)} bytes of binlog` : `binlog from ${formatPos(a)} to ${formatPos(b)}`);
    if (diff < 0n) return `CdcStartPosition ${start} is before the snapshot's position ${formatPos(at)}: changes already in the restored target would be applied again (overlap of ${amount(from, at)}).`;
    if (diff > 0n) return `CdcStartPosition ${start} is after the snapshot's position ${formatPos(at)}: changes in between would be lost (gap of ${amount(at, from)}).`;
    const db = source.database;
    const sentinel = this.core.runbook.cutover.sentinelTable;
    const rules = parseSelection(t.tableMappings).filter((r) => like(r.schema, db));
    const doTables = [...new Set([...rules.filter((r) => r.action !== 'exclude').map((r) => `${db}.${r.table}`), `${db}.${sentinel}`])];
    const existing = await myTables(source);
    const excluded = (name: string): boolean => name !== sentinel && rules.some((r) => r.action === 'exclude' && like(r.table, name));
    const selected = existing.filter((name) => name === sentinel || (rules.some((r) => r.action !== 'exclude' && like(r.table, name)) && !excluded(name)));
    // Exclusions become exact ignores of the tables that exist now (the filter order puts them before the do-patterns).
    const ignoreTables = existing.filter(excluded).map((name) => `${db}.${name}`);
    // Fault injection: the replica skips the sentinel table, so the drain never sees its row while the rest flows.
    if (this.core.failures.drainNeverArrives) ignoreTables.push(`${db}.${sentinel}`);
    await startReplica({ target, sourceHost: source.host, sourcePort: source.port, ...replicationLogin(source), from, doTables, ignoreTables });
    const problem = await replicaStartProblem(target);
    if (problem !== undefined) return `Replication could not start: ${problem}`;
    t.cdc = {
      source, target, snapshot: snapshot.identifier, internalSlot: '', runnerSlot: '', publications: [], subscription: '', tables: selected.map((n) => `${db}.${n}`), baseline: {},
      mysql: { sourceHost: source.host, sourcePort: source.port, from: formatPos(from), doTables, ignoreTables },
    };
    return undefined;
  }

  /** Table statistics of a MySQL task: the selected tables (MariaDB keeps no per-table change counters by default). */
  private async myTableStatistics(target: Backend, tables: string[]): Promise<Record<string, unknown>[]> {
    const present = new Set((await myTables(target)).map((n) => `${target.database}.${n}`));
    return tables.map((name) => ({
      SchemaName: name.slice(0, name.indexOf('.')), TableName: name.slice(name.indexOf('.') + 1), Inserts: 0, Updates: 0, Deletes: 0, Ddls: 0,
      AppliedInserts: 0, AppliedUpdates: 0, AppliedDeletes: 0, AppliedDdls: 0, FullLoadRows: 0, FullLoadErrorRows: 0, LastUpdateTime: new Date(this.core.now()),
      TableState: present.has(name) ? 'Table completed' : 'Table does not exist', ValidationState: 'Not enabled',
    }));
  }

  /** One lag sample of a MySQL task: source SHOW MASTER STATUS against the replica's read and executed positions. */
  private async sampleMysql(t: TaskRecord, sampler: Sampler): Promise<void> {
    const cdc = t.cdc;
    if (!cdc) return;
    const current = await withMy(myConfig(cdc.source, ''), masterPosition);
    const st = await withMy(myConfig(cdc.target, ''), slaveStatus);
    if (!st) {
      this.fail(t, 'The replication stream is gone (the target has no replica configured).');
      return;
    }
    if (st.error !== undefined && (st.io === 'No' || st.sql === 'No')) {
      await setReplicaRunning(cdc.target, false).catch(() => undefined);
      this.fail(t, `Replication stopped: ${st.error}`);
      return;
    }
    const incoming = await withMy(myConfig(cdc.source, ''), (c) => pendingTransactions(c, st.exec, current)).catch(() => 0);
    const now = this.core.now();
    sampler.clock.observe(now, posValue(current));
    const sourceLatency = sampler.clock.age(now, posValue(st.read));
    const totalLatency = sampler.clock.age(now, posValue(st.exec));
    sampler.clock.forget(posValue(st.exec));
    if (t.state !== 'running') return;
    this.publish(t, now, sourceLatency, totalLatency, incoming);
  }

  private publish(t: TaskRecord, now: number, sourceLatency: number, totalLatency: number, incoming: number): void {
    const instance = Object.values(this.core.reg.state.replicationInstances).find((r) => r.arn === t.instanceArn);
    const d = { ReplicationInstanceIdentifier: instance?.identifier ?? '', ReplicationTaskIdentifier: t.resourceId };
    const point = (m: string, v: number): Datapoint => ({ t: now, ns: 'AWS/DMS', m, d, v });
    this.core.reg.addDatapoints([
      point('CDCLatencySource', round(sourceLatency)),
      point('CDCLatencyTarget', round(Math.max(0, totalLatency - sourceLatency))),
      point('CDCIncomingChanges', incoming),
    ]);
  }

  private async baseline(source: Backend, target: Backend, tables: string[]): Promise<Record<string, { source: [number, number, number]; target: [number, number, number] }>> {
    const [s, g] = await Promise.all([targetTuples(source, tables), targetTuples(target, tables)]);
    return Object.fromEntries(tables.map((name) => [name, { source: s[name] ?? [0, 0, 0], target: g[name] ?? [0, 0, 0] }]));
  }

  private stopTask(input: Input): unknown {
    const t = this.mustTask(str(input, 'ReplicationTaskArn'));
    if (t.state !== 'running') throw awsFault('dms', 'InvalidResourceStateFault', `Replication task ${t.identifier} is ${taskStatus(this.core, t)}; only a running task can be stopped`);
    t.state = 'stopping';
    this.core.reg.save();
    this.core.background(`stop ${t.identifier}`, () => this.carryOutStop(t));
    return { ReplicationTask: this.taskShape(t) };
  }

  private async carryOutStop(t: TaskRecord): Promise<void> {
    this.stopSampler(t);
    try {
      if (t.cdc?.mysql) await setReplicaRunning(t.cdc.target, false);
      else if (t.cdc) await setSubscriptionEnabled(t.cdc.target, t.cdc.subscription, false);
      t.state = 'stopped';
      t.stopReason = 'Stop Reason NORMAL';
      t.stoppedAt = this.core.now();
      this.core.reg.save();
    } catch (error) {
      this.fail(t, `Task could not stop cleanly: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async deleteTask(input: Input): Promise<unknown> {
    const t = this.mustTask(str(input, 'ReplicationTaskArn'));
    const status = taskStatus(this.core, t);
    if (['starting', 'running', 'stopping'].includes(status)) throw awsFault('dms', 'InvalidResourceStateFault', `Replication task ${t.identifier} is ${status}; stop it before deleting`);
    this.stopSampler(t);
    if (t.cdc?.mysql) await resetReplica(t.cdc.target);
    else if (t.cdc) await dropSubscription({ ...t.cdc });
    delete this.core.reg.state.tasks[t.identifier];
    this.core.reg.save();
    return { ReplicationTask: { ...this.taskShape(t), Status: 'deleting' } };
  }

  private async tableStatistics(input: Input): Promise<unknown> {
    const t = this.mustTask(str(input, 'ReplicationTaskArn'));
    const cdc = t.cdc;
    if (!cdc) return { ReplicationTaskArn: t.arn, TableStatistics: [] };
    if (cdc.mysql) return { ReplicationTaskArn: t.arn, TableStatistics: await this.myTableStatistics(cdc.target, cdc.tables) };
    const [s, g] = await Promise.all([targetTuples(cdc.source, cdc.tables), targetTuples(cdc.target, cdc.tables)]);
    const delta = (now: [number, number, number] | undefined, then: [number, number, number] | undefined, i: 0 | 1 | 2): number => Math.max(0, (now?.[i] ?? 0) - (then?.[i] ?? 0));
    const stats = cdc.tables.map((name) => {
      const b = cdc.baseline[name];
      const [schema = '', table = ''] = [name.slice(0, name.indexOf('.')), name.slice(name.indexOf('.') + 1)];
      return {
        SchemaName: schema, TableName: table, Inserts: delta(s[name], b?.source, 0), Updates: delta(s[name], b?.source, 1), Deletes: delta(s[name], b?.source, 2), Ddls: 0,
        AppliedInserts: delta(g[name], b?.target, 0), AppliedUpdates: delta(g[name], b?.target, 1), AppliedDeletes: delta(g[name], b?.target, 2), AppliedDdls: 0,
        FullLoadRows: 0, FullLoadErrorRows: 0, LastUpdateTime: new Date(this.core.now()), TableState: 'Table completed', ValidationState: 'Not enabled',
      };
    });
    return { ReplicationTaskArn: t.arn, TableStatistics: stats };
  }

  // --- sampler

  private startSampler(t: TaskRecord): void {
    if (this.samplers.has(t.identifier)) return;
    const sampler: Sampler = { clock: new LagClock(), busy: false, timer: setInterval(() => void this.sample(t, sampler), SAMPLE_MS) };
    sampler.timer.unref();
    this.samplers.set(t.identifier, sampler);
  }

  private stopSampler(t: TaskRecord): void {
    const s = this.samplers.get(t.identifier);
    if (s) clearInterval(s.timer);
    this.samplers.delete(t.identifier);
  }

  private async sample(t: TaskRecord, sampler: Sampler): Promise<void> {
    const cdc = t.cdc;
    if (sampler.busy || !cdc || t.state !== 'running') return;
    sampler.busy = true;
    try {
      const failAfter = this.core.failures.dmsTaskFailsAfterSeconds;
      if (failAfter !== undefined && t.startedAt !== undefined && this.core.now() - t.startedAt >= failAfter * 1000) {
        if (cdc.mysql) await setReplicaRunning(cdc.target, false);
        else await setSubscriptionEnabled(cdc.target, cdc.subscription, false);
        this.fail(t, `Injected fault: the task failed ${failAfter} s after it started (rehearsal.failures.dmsTaskFailsAfterSeconds).`);
        return;
      }
      if (cdc.mysql) {
        await this.sampleMysql(t, sampler);
        return;
      }
      const obs = await observeSource(cdc.source, cdc.subscription, cdc.internalSlot, cdc.tables);
      const target = await targetTuples(cdc.target, cdc.tables);
      const now = this.core.now();
      sampler.clock.observe(now, obs.current);
      const sourceLatency = sampler.clock.age(now, obs.written);
      const totalLatency = sampler.clock.age(now, obs.applied);
      sampler.clock.forget(obs.applied);
      let incoming = 0;
      for (const name of cdc.tables) {
        const b = cdc.baseline[name];
        const sum = (x: [number, number, number] | undefined): number => (x ? x[0] + x[1] + x[2] : 0);
        incoming += Math.max(0, sum(obs.tuples[name]) - sum(b?.source) - (sum(target[name]) - sum(b?.target)));
      }
      if (t.state !== 'running') return;
      this.publish(t, now, sourceLatency, totalLatency, incoming);
      if (obs.confirmed !== null) await advanceSlot(cdc.source, cdc.runnerSlot, obs.confirmed);
    } catch (error) {
      this.core.log(`rehearsal: sampling task ${t.identifier} failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      sampler.busy = false;
    }
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** Register a replication instance (also used for the runbook's pre-existing one). */
export function registerReplicationInstance(core: Core, id: string, instanceClass: string, input: Input = {}): ReplicationInstanceRecord {
  const settings = Object.fromEntries(Object.entries(input).filter(([k]) => !['ReplicationInstanceIdentifier', 'ReplicationInstanceClass', 'Tags'].includes(k)));
  const record: ReplicationInstanceRecord = {
    identifier: id, arn: arn.dms(core, 'rep', resourceId()), instanceClass, createdAt: core.now(), readyAt: core.now() + ms(core.delays.availableSeconds), settings,
  };
  core.reg.state.replicationInstances[id] = record;
  core.reg.save();
  return record;
}

/** The cluster an endpoint reaches: the identifier whose proxy listens on its port (what DNS would resolve). */
export function clusterForEndpoint(core: Core, e: EndpointRecord): ClusterRecord | undefined {
  const st = core.reg.state;
  if (['127.0.0.1', 'localhost'].includes(e.serverName)) {
    const id = Object.entries(st.proxyPorts).find(([, port]) => port === e.port)?.[0];
    const c = id !== undefined ? st.clusters[id] : undefined;
    if (c && !c.rename) return c;
  }
  return Object.values(st.clusters).find((c) => c.backend.host === e.serverName && c.backend.port === e.port);
}

interface SelectionRule {
  schema: string;
  table: string;
  action: 'include' | 'exclude' | 'explicit';
}

/** The selection rules of a TableMappings document; throws the DMS fault when it is not one. */
export function parseSelection(json: string): SelectionRule[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    throw awsFault('dms', 'InvalidParameterValueException', 'Invalid table mappings: not JSON');
  }
  const rules = (doc as { rules?: unknown }).rules;
  if (!Array.isArray(rules)) throw awsFault('dms', 'InvalidParameterValueException', 'Invalid table mappings: no rules');
  return (rules as Record<string, unknown>[])
    .filter((r) => r['rule-type'] === 'selection')
    .map((r) => {
      const loc = (r['object-locator'] ?? {}) as Record<string, unknown>;
      const text = (v: unknown, def: string): string => (typeof v === 'string' ? v : def);
      const action = text(r['rule-action'], 'include');
      if (!['include', 'exclude', 'explicit'].includes(action)) throw awsFault('dms', 'InvalidParameterValueException', `Invalid table mappings: rule-action ${action}`);
      return { schema: text(loc['schema-name'], '%'), table: text(loc['table-name'], '%'), action: action as SelectionRule['action'] };
    });
}

function like(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('%').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

/** Tables selected by the mapping rules; the sentinel table always rides along. */
export function selectTables(mappings: string, tables: SourceTable[], sentinel: string): SourceTable[] {
  const rules = parseSelection(mappings);
  const matches = (r: SelectionRule, t: SourceTable): boolean => {
    const [schema, name] = [t.name.slice(0, t.name.indexOf('.')), t.name.slice(t.name.indexOf('.') + 1)];
    return like(r.schema, schema) && like(r.table, name);
  };
  return tables.filter(
    (t) => t.name === `public.${sentinel}` || (rules.some((r) => r.action !== 'exclude' && matches(r, t)) && !rules.some((r) => r.action === 'exclude' && matches(r, t))),
  );
}
