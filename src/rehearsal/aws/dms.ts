// Fake DMS, the facade: `send` answers the API (replication instances, endpoints, connection tests, the task
// lifecycle). What a task does on the servers is in dms-cdc.ts (CDC-only tasks from the snapshot's native start
// point, checked the way DMS checks them), its lag as CloudWatch datapoints in dms-lag.ts, table selection in
// dms-tables.ts, endpoint resolution in dms-endpoints.ts.
import pg from 'pg';
import type { Core, Input } from '../core.js';
import { arn, before, filterValues, ms, promised, str } from '../core.js';
import { myConfig, myTables, withMy } from '../engines/my-ops.js';
import { pgConfig, targetTuples, withPg } from '../engines/pg-ops.js';
import type { Backend, EndpointRecord, ReplicationInstanceRecord, TaskRecord } from '../registry.js';
import { resourceId } from '../registry.js';
import { dropCdc, DmsCdc, setCdcRunning } from './dms-cdc.js';
import { isMyEndpoint, MYSQL_ENGINES, mustEndpoint } from './dms-endpoints.js';
import { LagSamplers } from './dms-lag.js';
import { parseSelection } from './dms-tables.js';
import { awsFault, UnsupportedCommandError } from './faults.js';

const DISPLAY_NAMES: Record<string, string> = {
  postgres: 'PostgreSQL', 'aurora-postgresql': 'Amazon Aurora PostgreSQL', mysql: 'MySQL', mariadb: 'MariaDB', aurora: 'Amazon Aurora MySQL', 'aurora-serverless': 'Amazon Aurora MySQL Serverless',
};

/** Where DMS task status comes from: explicit state, or `creating` until ready. */
function taskStatus(core: Core, t: TaskRecord): string {
  return t.state === 'ready' && before(core, t.readyAt) ? 'creating' : t.state;
}

/** The fake DMS: `send` plus the samplers it runs. */
export class FakeDms {
  private readonly cdc: DmsCdc;
  private readonly lag: LagSamplers;

  constructor(private readonly core: Core) {
    this.cdc = new DmsCdc(core);
    this.lag = new LagSamplers(core, (t, message) => this.fail(t, message));
  }

  /** Resume what a killed runner left in flight: samplers, starts, stops, connection tests. */
  resume(): void {
    for (const t of Object.values(this.core.reg.state.tasks)) {
      if (t.state === 'running') this.lag.start(t);
      if (t.state === 'starting') this.core.background(`start ${t.identifier}`, () => this.carryOutStart(t, t.startType ?? 'start-replication', t.startPosition));
      if (t.state === 'stopping') this.core.background(`stop ${t.identifier}`, () => this.carryOutStop(t));
    }
    for (const c of Object.values(this.core.reg.state.connections)) {
      if (c.status === 'testing') this.core.background(`test ${c.endpointArn}`, () => this.carryOutTest(c.instanceArn, c.endpointArn));
    }
  }

  /** Stop every sampler (the servers stay as they are). */
  close(): void {
    this.lag.close();
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


  private deleteEndpoint(input: Input): unknown {
    const e = mustEndpoint(this.core, str(input, 'EndpointArn'));
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
    const e = mustEndpoint(this.core, str(input, 'EndpointArn'));
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
    const source = mustEndpoint(this.core, str(input, 'SourceEndpointArn'));
    const target = mustEndpoint(this.core, str(input, 'TargetEndpointArn'));
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
    this.lag.stop(t);
    t.state = 'failed';
    t.lastFailureMessage = `Last Error ${message} Stop Reason FATAL_ERROR Error Level FATAL`;
    t.stopReason = 'Stop Reason FATAL_ERROR';
    t.stoppedAt = this.core.now();
    this.core.reg.save();
    this.core.log(`rehearsal: DMS task ${t.identifier} failed: ${message}`);
  }

  private async carryOutStart(t: TaskRecord, type: string, position: string | undefined): Promise<void> {
    try {
      const problem = await this.cdc.start(t, type, position);
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
      this.lag.start(t);
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

  private stopTask(input: Input): unknown {
    const t = this.mustTask(str(input, 'ReplicationTaskArn'));
    if (t.state !== 'running') throw awsFault('dms', 'InvalidResourceStateFault', `Replication task ${t.identifier} is ${taskStatus(this.core, t)}; only a running task can be stopped`);
    t.state = 'stopping';
    this.core.reg.save();
    this.core.background(`stop ${t.identifier}`, () => this.carryOutStop(t));
    return { ReplicationTask: this.taskShape(t) };
  }

  private async carryOutStop(t: TaskRecord): Promise<void> {
    this.lag.stop(t);
    try {
      if (t.cdc) await setCdcRunning(t.cdc, false);
      t.state = 'stopped';
      t.stopReason = 'Stop Reason NORMAL';
      t.stoppedAt = this.core.now();
      this.core.reg.save();
    } catch (error) {
      this.fail(t, `Task could not stop cleanly: ${error instanceof Error ? error.message : String(error)}`);
    }
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

  /** Table statistics of a MySQL task: the selected tables (MariaDB keeps no per-table change counters by default). */
  private async myTableStatistics(target: Backend, tables: string[]): Promise<Record<string, unknown>[]> {
    const present = new Set((await myTables(target)).map((n) => `${target.database}.${n}`));
    return tables.map((name) => ({
      SchemaName: name.slice(0, name.indexOf('.')), TableName: name.slice(name.indexOf('.') + 1), Inserts: 0, Updates: 0, Deletes: 0, Ddls: 0,
      AppliedInserts: 0, AppliedUpdates: 0, AppliedDeletes: 0, AppliedDdls: 0, FullLoadRows: 0, FullLoadErrorRows: 0, LastUpdateTime: new Date(this.core.now()),
      TableState: present.has(name) ? 'Table completed' : 'Table does not exist', ValidationState: 'Not enabled',
    }));
  }

  private async deleteTask(input: Input): Promise<unknown> {
    const t = this.mustTask(str(input, 'ReplicationTaskArn'));
    const status = taskStatus(this.core, t);
    if (['starting', 'running', 'stopping'].includes(status)) throw awsFault('dms', 'InvalidResourceStateFault', `Replication task ${t.identifier} is ${status}; stop it before deleting`);
    this.lag.stop(t);
    if (t.cdc) await dropCdc(t.cdc);
    delete this.core.reg.state.tasks[t.identifier];
    this.core.reg.save();
    return { ReplicationTask: { ...this.taskShape(t), Status: 'deleting' } };
  }

  // --- sampler

}

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
