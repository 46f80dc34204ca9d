// dms-setup: replication instance (when asked to create it), TLS endpoints with the engine's settings,
// connection tests, and a CDC-only task starting at the snapshot position onto the pre-populated target.
import {
  CreateEndpointCommand,
  CreateReplicationInstanceCommand,
  CreateReplicationTaskCommand,
  DeleteEndpointCommand,
  DeleteReplicationTaskCommand,
  StopReplicationTaskCommand,
  TestConnectionCommand,
} from '@aws-sdk/client-database-migration-service';
import type { CreateEndpointMessage, Endpoint } from '@aws-sdk/client-database-migration-service';
import {
  findConnection,
  findEndpoint,
  findReplicationInstance,
  findTask,
  waitConnection,
  waitReplicationInstanceAvailable,
  waitTask,
} from '../aws/dms.js';
import { call } from '../aws/errors.js';
import { poll } from '../aws/poll.js';
import { pollTiming } from '../aws/rds.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { tableSelection } from '../runbook/schema.js';
import type { Runbook } from '../runbook/schema.js';
import type { ResourceNames } from './services.js';
import { dmsPassword, dmsSettings, dmsUsername, mustFindDb, output, rekeyTags, required, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import type { RekeyServices } from './services.js';
import type { DmsSetupOutput } from './outputs.js';

export type { DmsSetupOutput } from './outputs.js';

/**
 * DMS selection rules from the runbook, the sentinel table always included. On MySQL the runbook replicates one
 * database (schema), so a `%` schema in a pattern means that database.
 */
export function tableMappings(rb: Runbook): string {
  const p = profile(rb);
  const split = (pattern: string) => {
    const dot = pattern.indexOf('.');
    const schema = pattern.slice(0, dot);
    return { 'schema-name': p.family === 'mysql' && schema === '%' ? rb.source.database : schema, 'table-name': pattern.slice(dot + 1) };
  };
  const selections = [
    ...tableSelection(rb).include.map((pattern) => ({ locator: split(pattern), action: 'include' })),
    { locator: { 'schema-name': p.sentinelSchema, 'table-name': rb.cutover.sentinelTable }, action: 'include' },
    ...tableSelection(rb).exclude.map((pattern) => ({ locator: split(pattern), action: 'exclude' })),
  ];
  return JSON.stringify({
    rules: selections.map((s, i) => ({
      'rule-type': 'selection',
      'rule-id': String(i + 1),
      'rule-name': String(i + 1),
      'object-locator': s.locator,
      'rule-action': s.action,
    })),
  });
}

/** Task settings: CDC onto tables that already hold the snapshot's rows; LOBs in full so nothing is truncated. */
export function taskSettings(tolerateOverlap = false): string {
  return JSON.stringify({
    FullLoadSettings: { TargetTablePrepMode: 'DO_NOTHING' },
    TargetMetadata: { SupportLobs: true, FullLobMode: true, LobChunkSize: 64, LimitedSizeLobMode: false, BatchApplyEnabled: false },
    Logging: { EnableLogging: true },
    // A start before the snapshot replays changes the target already has: upsert duplicate inserts, insert missing updates.
    ...(tolerateOverlap ? { ErrorBehavior: { ApplyErrorInsertPolicy: 'INSERT_RECORD', ApplyErrorUpdatePolicy: 'UPDATE_RECORD' } } : {}),
  });
}

/**
 * The engine-specific part of CreateEndpoint. PostgreSQL: the slot and plugin on the source; replica mode on the
 * target so restored triggers do not fire. MySQL: no DatabaseName (the table mappings name the schema); the
 * target skips foreign key checks, since DMS applies changes table by table.
 */
export function endpointSettings(rb: Runbook, names: ResourceNames, kind: 'source' | 'target'): Partial<CreateEndpointMessage> {
  if (profile(rb).family === 'mysql') {
    return kind === 'source'
      ? { MySQLSettings: { EventsPollInterval: 5 } }
      : { MySQLSettings: { AfterConnectScript: 'SET FOREIGN_KEY_CHECKS=0' } };
  }
  return {
    DatabaseName: rb.source.database,
    PostgreSQLSettings:
      kind === 'source' ? { SlotName: names.slot, PluginName: 'test-decoding' } : { AfterConnectScript: "SET session_replication_role='replica'" },
  };
}

/**
 * How a DMS endpoint authenticates: by the Secrets Manager secret (SecretsManagerSecretId + the access role, in
 * the engine's settings) when the password is a secret reference and dms.secretsManagerAccessRoleArn is set, so a
 * rotation does not break the task; else by username and password. TLS: verify-full whenever a certificate is given.
 */
export function endpointAuth(rb: Runbook): { secret?: { SecretsManagerSecretId: string; SecretsManagerAccessRoleArn: string }; sslMode: string } {
  const dms = dmsSettings(rb);
  const ref = dms.password ?? rb.source.password;
  const sslMode = dms.certificateArn && dms.sslMode !== 'verify-ca' ? 'verify-full' : (dms.sslMode ?? 'verify-full');
  if ('secretArn' in ref && dms.secretsManagerAccessRoleArn) {
    return { secret: { SecretsManagerSecretId: ref.secretArn, SecretsManagerAccessRoleArn: dms.secretsManagerAccessRoleArn }, sslMode };
  }
  return { sslMode };
}

/** The plan's words for endpointAuth. */
function describeAuth(rb: Runbook): string {
  const auth = endpointAuth(rb);
  const how = auth.secret ? `SecretsManagerSecretId=${auth.secret.SecretsManagerSecretId} SecretsManagerAccessRoleArn=${auth.secret.SecretsManagerAccessRoleArn}` : `Username=${dmsUsername(rb)} Password=<from the runbook's secret>`;
  return `${how} SslMode=${auth.sslMode}${dmsSettings(rb).certificateArn ? ` CertificateArn=${dmsSettings(rb).certificateArn}` : ''}`;
}

/** endpointSettings with the secret's fields merged into the engine's settings block. */
function withSecret(settings: Partial<CreateEndpointMessage>, rb: Runbook, secret: NonNullable<ReturnType<typeof endpointAuth>['secret']>): Partial<CreateEndpointMessage> {
  if (profile(rb).family === 'mysql') return { ...settings, MySQLSettings: { ...settings.MySQLSettings, ...secret } };
  return { ...settings, PostgreSQLSettings: { ...settings.PostgreSQLSettings, ...secret } };
}

async function ensureEndpoint(ctx: Ctx, kind: 'source' | 'target', instanceArn: string): Promise<Endpoint> {
  const { cloud, names, runbook: rb } = ctx.services;
  const id = kind === 'source' ? names.sourceEndpoint : names.targetEndpoint;
  let endpoint = await findEndpoint(cloud, id);
  if (!endpoint) {
    const db = await mustFindDb(ctx, kind === 'source' ? rb.source.identifier : names.targetCluster, kind);
    const auth = endpointAuth(rb);
    const settings = endpointSettings(rb, names, kind);
    const out = await call(`dms:CreateEndpoint ${id}`, async () =>
      cloud.dms.send(
        new CreateEndpointCommand({
          EndpointIdentifier: id,
          EndpointType: kind,
          EngineName: profile(rb).dmsEngineName,
          ServerName: db.host,
          Port: db.port,
          ...(auth.secret ? {} : { Username: dmsUsername(rb), Password: await dmsPassword(ctx) }),
          SslMode: auth.sslMode as CreateEndpointMessage['SslMode'],
          ...(dmsSettings(rb).certificateArn ? { CertificateArn: dmsSettings(rb).certificateArn } : {}),
          ...(auth.secret ? withSecret(settings, rb, auth.secret) : settings),
          Tags: rekeyTags(ctx),
        }),
      ),
    );
    endpoint = out.Endpoint;
  }
  if (!endpoint?.EndpointArn) throw new StepError(`DMS endpoint ${id} has no ARN`, 'fatal');
  const arn = endpoint.EndpointArn;
  const tested = await findConnection(cloud, instanceArn, arn);
  if (tested?.Status !== 'successful' && tested?.Status !== 'testing') {
    await call(`dms:TestConnection ${id}`, () => cloud.dms.send(new TestConnectionCommand({ ReplicationInstanceArn: instanceArn, EndpointArn: arn })));
  }
  await waitConnection(cloud, instanceArn, arn, `${kind} endpoint ${id}`, waitEnv(ctx));
  return endpoint;
}

export const dmsSetup: Step<RekeyServices, DmsSetupOutput> = {
  id: 'dms-setup',
  title: 'Create the DMS endpoints and CDC task',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    const ri = dmsSettings(rb).replicationInstance;
    const engine = profile(rb);
    return [
      { kind: 'aws', target: 'dms:DescribeReplicationInstances', summary: `replication instance ${ri.identifier}` },
      ...(ri.create
        ? [{ kind: 'aws' as const, target: 'dms:CreateReplicationInstance', summary: `create ${ri.identifier} (${ri.class}) if missing, PubliclyAccessible=false` }]
        : []),
      { kind: 'aws', target: 'dms:CreateEndpoint', summary: `source endpoint ${names.sourceEndpoint}`, detail: `EngineName=${engine.dmsEngineName} ${describeAuth(rb)} ${JSON.stringify(endpointSettings(rb, names, 'source'))}` },
      { kind: 'aws', target: 'dms:CreateEndpoint', summary: `target endpoint ${names.targetEndpoint} on ${names.targetCluster}`, detail: `EngineName=${engine.dmsEngineName} ${describeAuth(rb)} ${JSON.stringify(endpointSettings(rb, names, 'target'))}` },
      { kind: 'aws', target: 'dms:TestConnection', summary: 'test both endpoints from the replication instance (DescribeConnections until successful)' },
      { kind: 'aws', target: 'dms:CreateReplicationTask', summary: `CDC task ${names.task} from the snapshot ${engine.positionName}`, detail: `MigrationType=cdc CdcStartPosition=<captured ${engine.positionName}> TargetTablePrepMode=DO_NOTHING TableMappings=${tableMappings(rb)}` },
      { kind: 'wait', target: 'dms:DescribeReplicationTasks', summary: `until ${names.task} is ready` },
    ];
  },
  async run(ctx) {
    const { cloud, names, runbook: rb } = ctx.services;
    const position = required(ctx, 'capture-position', 'dms-setup');
    const ri = dmsSettings(rb).replicationInstance;
    // Created by this run when preflight did not find it (a resume must not take over someone else's instance).
    const createdInstance = ri.create && output(ctx, 'preflight')?.dmsInstanceExisted === false;
    if (!(await findReplicationInstance(cloud, ri.identifier))) {
      if (!ri.create) throw new StepError(`replication instance ${ri.identifier} not found`, 'rejected');
      await call('dms:CreateReplicationInstance', () =>
        cloud.dms.send(
          new CreateReplicationInstanceCommand({
            ReplicationInstanceIdentifier: ri.identifier,
            ReplicationInstanceClass: ri.class,
            ...(ri.subnetGroup ? { ReplicationSubnetGroupIdentifier: ri.subnetGroup } : {}),
            ...(ri.securityGroupIds.length > 0 ? { VpcSecurityGroupIds: ri.securityGroupIds } : {}),
            PubliclyAccessible: false,
            Tags: rekeyTags(ctx),
          }),
        ),
      );
    }
    const instance = await waitReplicationInstanceAvailable(cloud, ri.identifier, waitEnv(ctx));
    const instanceArn = instance.ReplicationInstanceArn;
    if (!instanceArn) throw new StepError(`replication instance ${ri.identifier} has no ARN`, 'fatal');
    const source = await ensureEndpoint(ctx, 'source', instanceArn);
    const target = await ensureEndpoint(ctx, 'target', instanceArn);

    let task = await findTask(cloud, names.task);
    if (task) {
      if (task.CdcStartPosition && task.CdcStartPosition !== position.position) {
        throw new StepError(`task ${names.task} exists with CdcStartPosition ${task.CdcStartPosition}, not ${position.position}`, 'fatal');
      }
    } else {
      const out = await call('dms:CreateReplicationTask', () =>
        cloud.dms.send(
          new CreateReplicationTaskCommand({
            ReplicationTaskIdentifier: names.task,
            SourceEndpointArn: source.EndpointArn,
            TargetEndpointArn: target.EndpointArn,
            ReplicationInstanceArn: instanceArn,
            MigrationType: 'cdc',
            CdcStartPosition: position.position,
            TableMappings: tableMappings(rb),
            ReplicationTaskSettings: taskSettings(position.overlap !== undefined),
            Tags: rekeyTags(ctx),
          }),
        ),
      );
      task = out.ReplicationTask;
    }
    const status = task?.Status;
    const ready = status === 'ready' || status === 'running' || status === 'starting' || status === 'stopped'
      ? task
      : await waitTask(cloud, names.task, 'ready', waitEnv(ctx));
    if (!ready?.ReplicationTaskArn) throw new StepError(`task ${names.task} has no ARN`, 'fatal');
    return {
      replicationInstanceArn: instanceArn,
      createdInstance,
      sourceEndpointArn: source.EndpointArn as string,
      targetEndpointArn: target.EndpointArn as string,
      taskArn: ready.ReplicationTaskArn,
      instanceAddresses: [...(instance.ReplicationInstancePrivateIpAddresses ?? []), ...(instance.ReplicationInstancePublicIpAddresses ?? [])],
    };
  },
  keepOnRollback: 'the DMS task and endpoints (and a replication instance rekey created)',
  async undo(ctx) {
    await deleteDmsResources(ctx);
  },
};

/** Stops and deletes the task, then the endpoints (in that order: endpoints in use cannot be deleted). */
export async function deleteDmsResources(ctx: Ctx): Promise<void> {
  const { cloud, names } = ctx.services;
  const task = await findTask(cloud, names.task);
  if (task?.ReplicationTaskArn) {
    const arn = task.ReplicationTaskArn;
    if (task.Status === 'running' || task.Status === 'starting') {
      await call('dms:StopReplicationTask', () => cloud.dms.send(new StopReplicationTaskCommand({ ReplicationTaskArn: arn })));
      await waitTask(cloud, names.task, 'stopped', waitEnv(ctx));
    }
    if (task.Status !== 'deleting') {
      await call('dms:DeleteReplicationTask', () => cloud.dms.send(new DeleteReplicationTaskCommand({ ReplicationTaskArn: arn })));
    }
    await poll({
      what: `task ${names.task} deleted`,
      observe: () => findTask(cloud, names.task),
      classify: (t) => (t ? { state: 'retry', note: `status ${t.Status ?? '?'}` } : { state: 'success' }),
      ...pollTiming(waitEnv(ctx)),
    });
  }
  for (const id of [names.sourceEndpoint, names.targetEndpoint]) {
    const endpoint = await findEndpoint(cloud, id);
    if (endpoint?.EndpointArn) {
      const arn = endpoint.EndpointArn;
      await call(`dms:DeleteEndpoint ${id}`, () => cloud.dms.send(new DeleteEndpointCommand({ EndpointArn: arn })));
    }
  }
}
