// RDS DB instance flows (postgres, mysql) against aws-sdk-client-mock: snapshot copy under the new key, the restore
// carrying every setting plus the follow-up ModifyDBInstance, the stopped-replica position, the rds_tools seed LSN
// and its opt-in fallback, the instance rename that a stock waiter would get wrong, and re-runs that never duplicate.
import { CreateReplicationTaskCommand, CreateEndpointCommand } from '@aws-sdk/client-database-migration-service';
import {
  CopyDBSnapshotCommand,
  CreateDBInstanceReadReplicaCommand,
  CreateDBSnapshotCommand,
  DeleteDBInstanceCommand,
  ModifyDBInstanceCommand,
  RestoreDBInstanceFromDBSnapshotCommand,
} from '@aws-sdk/client-rds';
import { classifyInstanceRenamed } from '../../src/aws/rds.js';
import { parseReplicaStatus } from '../../src/db/mysql.js';
import { StepError } from '../../src/engine/types.js';
import { buildFlow, planFlow, renderPlan } from '../../src/flows/index.js';
import { performanceInsightsKey } from '../../src/steps/instance.js';
import type { PreflightReport } from '../../src/steps/preflight.js';
import { dmsMock, inputs, NEW_KEY, OLD_KEY, rdsMock, runUntil, SEED_LSN, step, testRunbook, World } from './steps-world.js';

function pgInstanceRunbook(fallback = false) {
  return testRunbook({
    source: { engine: 'postgres', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'require', tables: { include: ['public.%'], exclude: [] }, allowSlotPositionFallback: fallback },
  });
}

function mysqlInstanceRunbook() {
  return testRunbook({
    source: { engine: 'mysql', identifier: 'shop-db', database: 'shop', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'verify-full', certificateArn: 'arn:aws:dms:us-east-1:111122223333:cert:RDSCA' },
  });
}

describe('RDS for PostgreSQL instance flow', () => {
  let world: World;
  beforeEach(() => {
    world = new World(pgInstanceRunbook());
    world.install();
  });

  test('verify warns when Performance Insights data of the new database is still on the old key', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'switch');
    const served = world.instances.get('app-db');
    if (served) served.PerformanceInsightsKMSKeyId = OLD_KEY;
    const out = (await step(flow, 'verify').run(ctx)) as { evidence: { resources: { kind: string; kmsKeyId?: string }[] } };
    expect(out.evidence.resources.find((r) => r.kind === 'performance-insights')?.kmsKeyId).toBe(OLD_KEY);
    expect(world.events).toContainEqual(`warn Performance Insights data of app-db is encrypted with the old key ${OLD_KEY}: that key is still in use`);
  });

  test('Performance Insights data moves to the new key only where the source used its storage key for it', () => {
    const other = 'arn:aws:kms:us-east-1:111122223333:key/33333333-3333-3333-3333-333333333333';
    expect(performanceInsightsKey(OLD_KEY, OLD_KEY, NEW_KEY)).toBe(NEW_KEY);
    expect(performanceInsightsKey(other, OLD_KEY, NEW_KEY)).toBe(other);
    expect(performanceInsightsKey(undefined, OLD_KEY, NEW_KEY)).toBeUndefined();
    expect(performanceInsightsKey(OLD_KEY, OLD_KEY, undefined)).toBe(OLD_KEY);
  });

  test('copies the snapshot under the new key, restores with every setting, applies the rest, renames by instance', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    const n = world.names;
    await runUntil(flow, ctx);

    expect(inputs(rdsMock, CreateDBSnapshotCommand)).toEqual([expect.objectContaining({ DBSnapshotIdentifier: n.snapshot, DBInstanceIdentifier: 'app-db' })]);
    expect(inputs(rdsMock, CopyDBSnapshotCommand)).toEqual([
      { SourceDBSnapshotIdentifier: n.snapshot, TargetDBSnapshotIdentifier: n.snapshotCopy, KmsKeyId: NEW_KEY, CopyTags: true },
    ]);
    const [restore] = inputs<Record<string, unknown>>(rdsMock, RestoreDBInstanceFromDBSnapshotCommand);
    expect(restore).toMatchObject({
      DBInstanceIdentifier: n.targetCluster,
      DBSnapshotIdentifier: n.snapshotCopy,
      DBInstanceClass: 'db.m6g.large',
      DBSubnetGroupName: 'app-subnets',
      VpcSecurityGroupIds: ['sg-0abc'],
      DBParameterGroupName: 'app-params',
      OptionGroupName: 'app-options',
      MultiAZ: false,
      StorageType: 'gp3',
      Iops: 12000,
      StorageThroughput: 500,
      Port: 5432,
      PubliclyAccessible: false,
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      EnableCloudwatchLogsExports: ['postgresql'],
      CopyTagsToSnapshot: true,
      AutoMinorVersionUpgrade: true,
      CACertificateIdentifier: 'rds-ca-rsa2048-g1',
      NetworkType: 'IPV4',
      AvailabilityZone: 'us-east-1b',
      LicenseModel: 'postgresql-license',
    });
    expect(restore?.Tags).toEqual(expect.arrayContaining([{ Key: 'team', Value: 'payments' }, { Key: 'rekey:run-id', Value: 'ab12cd34' }]));
    expect(JSON.stringify(restore?.Tags)).not.toContain('aws:');
    const modifies = inputs<Record<string, unknown>>(rdsMock, ModifyDBInstanceCommand);
    expect(modifies[0]).toEqual({
      DBInstanceIdentifier: n.targetCluster,
      ApplyImmediately: true,
      BackupRetentionPeriod: 14,
      PreferredBackupWindow: '03:00-03:30',
      PreferredMaintenanceWindow: 'sun:05:00-sun:05:30',
      MonitoringInterval: 60,
      MonitoringRoleArn: 'arn:aws:iam::111122223333:role/rds-monitoring',
      EnablePerformanceInsights: true,
      // The source kept PI data on its storage key (the old one): the new instance keeps it on the new key.
      PerformanceInsightsKMSKeyId: NEW_KEY,
      PerformanceInsightsRetentionPeriod: 7,
      MaxAllocatedStorage: 1000,
    });
    // Old away first, then new in.
    expect(modifies.slice(1)).toEqual([
      { DBInstanceIdentifier: 'app-db', NewDBInstanceIdentifier: n.oldName, ApplyImmediately: true },
      { DBInstanceIdentifier: n.targetCluster, NewDBInstanceIdentifier: 'app-db', ApplyImmediately: true },
    ]);
    expect(world.instances.get('app-db')?.KmsKeyId).toBe(NEW_KEY);
    expect(world.instances.get('app-db')?.Endpoint?.Address).toMatch(/^app-db\./);
    const evidence = (ctx.outputs.verify as { evidence: { resources: { kind: string; identifier: string; kmsKeyId?: string }[] } }).evidence.resources;
    expect(evidence.map((r) => [r.kind, r.identifier, r.kmsKeyId])).toEqual([
      ['instance', 'app-db', NEW_KEY],
      ['performance-insights', 'app-db', NEW_KEY],
      ['instance', n.oldName, OLD_KEY],
      ['snapshot', n.snapshot, undefined],
      ['snapshot', n.snapshotCopy, NEW_KEY],
    ]);
    expect(world.timeline).toContain('target:seedPosition rds_tools.logical_seed_lsn');
    const [task] = inputs<{ CdcStartPosition: string; ReplicationTaskSettings: string }>(dmsMock, CreateReplicationTaskCommand);
    expect(task?.CdcStartPosition).toBe(SEED_LSN);
    expect(JSON.parse(task?.ReplicationTaskSettings ?? '{}')).not.toHaveProperty('ErrorBehavior');
    expect(inputs<{ EngineName: string; ServerName: string }>(dmsMock, CreateEndpointCommand).map((e) => [e.EngineName, e.ServerName])).toEqual([
      ['postgres', 'app-db.abc123.us-east-1.rds.amazonaws.com'],
      ['postgres', `${n.targetCluster}.abc123.us-east-1.rds.amazonaws.com`],
    ]);
    // The re-encrypting copy reports its progress.
    expect(world.events.some((e) => e.startsWith(`progress snapshot ${n.snapshotCopy}`) && e.includes('%'))).toBe(true);
  });

  test('the plan and the gate estimate include the documented DNS time of an instance rename', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    const text = renderPlan(planFlow(flow, ctx));
    expect(text).toContain('rds:CopyDBSnapshot');
    expect(text).toContain('rds:ModifyDBInstance');
    expect(text).toMatch(/about 10 minutes/);
    const report = (await step(flow, 'preflight').run(ctx)) as PreflightReport;
    expect(report.problems).toEqual([]);
    expect(report.estimate.awsRenameDnsSeconds).toBe(600);
    expect(report.estimate.totalSeconds).toBeGreaterThanOrEqual(600 + report.estimate.fixedSeconds);
    ctx.outputs.preflight = report;
    const facts = await step(flow, 'before-fence').gate?.facts(ctx);
    expect(facts?.awsRenameDnsSeconds).toBe(600);
  });

  test('preflight reads the instance DB parameter group', async () => {
    world.instanceParameters['rds.logical_replication'] = '0';
    const report = (await step(buildFlow(world.runbook), 'preflight').run(world.context()).catch((e: StepError) => e)) as StepError;
    expect(report).toBeInstanceOf(StepError);
    expect(report.details.join('\n')).toMatch(/rds.logical_replication is 0 in DB parameter group app-params/);
  });

  test('without rds_tools the run stops with guidance and creates no task', async () => {
    world.seedFunctionMissing = true;
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    const err = await runUntil(flow, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepError);
    expect((err as StepError).message).toMatch(/cannot read rds_tools\.logical_seed_lsn\(\).*no task was created/);
    expect((err as StepError).details.join('\n')).toMatch(/allowSlotPositionFallback/);
    expect(dmsMock.commandCalls(CreateReplicationTaskCommand)).toHaveLength(0);
  });

  test('the opt-in fallback starts at the slot, tolerates the overlap and reports it', async () => {
    world = new World(pgInstanceRunbook(true));
    world.install();
    world.seedFunctionMissing = true;
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'dms-setup');
    const [task] = inputs<{ CdcStartPosition: string; ReplicationTaskSettings: string }>(dmsMock, CreateReplicationTaskCommand);
    expect(task?.CdcStartPosition).toBe('0/3000000');
    expect(JSON.parse(task?.ReplicationTaskSettings ?? '{}').ErrorBehavior).toEqual({ ApplyErrorInsertPolicy: 'INSERT_RECORD', ApplyErrorUpdatePolicy: 'UPDATE_RECORD' });
    expect(ctx.outputs['capture-position']).toMatchObject({ source: 'slot-fallback', overlap: { fromLsn: '0/3000000' } });
    expect(world.events.some((e) => e.startsWith('warn OVERLAP'))).toBe(true);
    expect(world.events.some((e) => e.startsWith('data positionOverlap'))).toBe(true);
  });

  test('a re-run finds the snapshot, its copy and the restored instance and creates none again', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    for (const id of ['snapshot', 'copy-snapshot', 'restore']) ctx.outputs[id] = await step(flow, id).run(ctx);
    expect(rdsMock.commandCalls(CreateDBSnapshotCommand)).toHaveLength(1);
    expect(rdsMock.commandCalls(CopyDBSnapshotCommand)).toHaveLength(1);
    expect(rdsMock.commandCalls(RestoreDBInstanceFromDBSnapshotCommand)).toHaveLength(1);
    // Settings already applied: no second follow-up.
    expect(rdsMock.commandCalls(ModifyDBInstanceCommand)).toHaveLength(1);
  });

  test('a copy that does not report the new key is refused', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'snapshot');
    rdsMock.on(CopyDBSnapshotCommand).callsFake((input: { TargetDBSnapshotIdentifier: string }) => {
      world.dbSnapshots.set(input.TargetDBSnapshotIdentifier, { DBSnapshotIdentifier: input.TargetDBSnapshotIdentifier, Status: 'available', KmsKeyId: OLD_KEY });
      return {};
    });
    await expect(step(flow, 'copy-snapshot').run(ctx)).rejects.toThrow(/reports KmsKeyId .*11111111/);
  });
});

describe('RDS for MySQL instance flow', () => {
  let world: World;
  beforeEach(() => {
    world = new World(mysqlInstanceRunbook());
    world.install();
  });

  test('position from a stopped read replica, snapshot of the replica, replica deleted, file checked on the source', async () => {
    world.binlogRetentionHours = 2;
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    const n = world.names;
    await runUntil(flow, ctx, 'dms-setup');
    expect(world.timeline).toContain('source:rds_set_configuration binlog retention hours 24');
    expect(inputs(rdsMock, CreateDBInstanceReadReplicaCommand)).toEqual([
      expect.objectContaining({ DBInstanceIdentifier: n.readReplica, SourceDBInstanceIdentifier: 'shop-db', DBInstanceClass: 'db.m6g.large', DBSubnetGroupName: 'app-subnets', DBParameterGroupName: 'app-params' }),
    ]);
    expect(world.timeline).toContain(`source:rds_stop_replication ${n.readReplica}`);
    expect(inputs(rdsMock, CreateDBSnapshotCommand)).toEqual([expect.objectContaining({ DBSnapshotIdentifier: n.snapshot, DBInstanceIdentifier: n.readReplica })]);
    expect(inputs(rdsMock, DeleteDBInstanceCommand)).toEqual([{ DBInstanceIdentifier: n.readReplica, SkipFinalSnapshot: true }]);
    const order = world.timeline.filter((t) => /CreateDBSnapshot|DeleteDBInstance|CopyDBSnapshot/.test(t));
    expect(order.map((t) => t.split(' ')[0])).toEqual(['rds:CreateDBSnapshot', 'rds:DeleteDBInstance', 'rds:CopyDBSnapshot']);
    expect(world.timeline).toContain('source:SHOW BINARY LOGS');
    const [task] = inputs<{ CdcStartPosition: string }>(dmsMock, CreateReplicationTaskCommand);
    expect(task?.CdcStartPosition).toBe('mysql-bin-changelog.000002:4242');
    expect(inputs<{ EngineName: string }>(dmsMock, CreateEndpointCommand).map((e) => e.EngineName)).toEqual(['mysql', 'mysql']);
  });

  test('a re-run finds the replica and creates no second one', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'replica-position');
    ctx.outputs['replica-position'] = await step(flow, 'replica-position').run(ctx);
    expect(rdsMock.commandCalls(CreateDBInstanceReadReplicaCommand)).toHaveLength(1);
    expect(world.events.some((e) => e.includes('already exists; not creating another'))).toBe(true);
  });

  test('a purged binlog file stops the run before any task', async () => {
    world.replicaPosition = { file: 'mysql-bin-changelog.000001', position: 10 };
    const err = await runUntil(buildFlow(world.runbook), world.context(), 'capture-position').catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'preflight', message: expect.stringContaining('no longer exists on the source') });
  });
});

describe('parseReplicaStatus', () => {
  test('reads the 8.0.23+ column names', () => {
    expect(parseReplicaStatus({ Relay_Source_Log_File: 'mysql-bin-changelog.000007', Exec_Source_Log_Pos: 1234, Source_Log_File: 'mysql-bin-changelog.000008' })).toEqual({ file: 'mysql-bin-changelog.000007', position: 1234 });
  });
  test('reads the older (and MariaDB) column names, positions as text', () => {
    expect(parseReplicaStatus({ Relay_Master_Log_File: 'mysql-bin.000003', Exec_Master_Log_Pos: '98765', Master_Log_File: 'mysql-bin.000004' })).toEqual({ file: 'mysql-bin.000003', position: 98765 });
  });
  test('rejects a server that is not a replica or a row without coordinates', () => {
    expect(() => parseReplicaStatus(undefined)).toThrow(/not a replica/);
    expect(() => parseReplicaStatus({ Relay_Source_Log_File: 'x.000001' })).toThrow(/Exec_Source_Log_Pos/);
    expect(() => parseReplicaStatus({ Exec_Master_Log_Pos: 4 })).toThrow(/Relay_Source_Log_File/);
  });
});

describe('classifyInstanceRenamed', () => {
  const renamed = (status: string, address: string) => ({ DBInstanceIdentifier: 'app-db', DBInstanceStatus: status, Endpoint: { Address: address } });
  test('a waiter that would return early is not trusted: available under the old address before the guard', () => {
    expect(classifyInstanceRenamed({ instance: renamed('available', 'app-db-rekey-x.abc.rds.amazonaws.com'), sawTransition: false, elapsedMs: 1000 }, 'app-db', 60_000).state).toBe('retry');
  });
  test('renaming, then available with an endpoint that starts with the new id', () => {
    expect(classifyInstanceRenamed({ instance: renamed('renaming', 'app-db-rekey-x.abc.rds.amazonaws.com'), sawTransition: true, elapsedMs: 1000 }, 'app-db', 60_000).state).toBe('retry');
    expect(classifyInstanceRenamed({ instance: renamed('available', 'app-db-rekey-x.abc.rds.amazonaws.com'), sawTransition: true, elapsedMs: 1000 }, 'app-db', 60_000).state).toBe('retry');
    expect(classifyInstanceRenamed({ instance: renamed('available', 'app-db.abc.rds.amazonaws.com'), sawTransition: true, elapsedMs: 1000 }, 'app-db', 60_000).state).toBe('success');
  });
  test('missing new id retries; a terminal status fails', () => {
    expect(classifyInstanceRenamed({ instance: undefined, sawTransition: false, elapsedMs: 0 }, 'app-db', 1).state).toBe('retry');
    expect(classifyInstanceRenamed({ instance: renamed('failed', 'app-db.abc'), sawTransition: true, elapsedMs: 0 }, 'app-db', 1).state).toBe('failure');
  });
});
