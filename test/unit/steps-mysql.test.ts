// The Aurora MySQL flow against aws-sdk-client-mock and a fake MySQL adapter: the same steps as PostgreSQL with
// the binlog position taken from the restored writer's crash-recovery event (DescribeEvents, paginated, from the
// restore's start), MySQL DMS endpoints, CdcStartPosition `<file>:<pos>`, and the retention failures.
import {
  CreateEndpointCommand,
  CreateReplicationTaskCommand,
  DeleteEndpointCommand,
  StartReplicationTaskCommand,
} from '@aws-sdk/client-database-migration-service';
import {
  CreateDBInstanceCommand,
  DescribeDBClusterParametersCommand,
  DescribeEventsCommand,
  ModifyDBClusterCommand,
  RestoreDBClusterFromSnapshotCommand,
} from '@aws-sdk/client-rds';
import { StepError } from '../../src/engine/types.js';
import { buildFlow, planFlow, renderPlan } from '../../src/flows/index.js';
import { parseCrashRecoveryPosition } from '../../src/steps/capture-position.js';
import { family, profile } from '../../src/steps/engine.js';
import { preflight, runPreflight } from '../../src/steps/preflight.js';
import type { PreflightReport } from '../../src/steps/preflight.js';
import { dmsMock, inputs, mysqlRunbook, NEW_KEY, PASSWORD, rdsMock, runUntil, step, testRunbook, World } from './steps-world.js';

/** The contract's step ids of the cluster flows, in order. */
const STEP_IDS = [
  'preflight', 'prepare-source', 'snapshot', 'restore',
  'topology-readers',
  'topology-endpoints', 'capture-position', 'dms-setup', 'start-cdc', 'catch-up', 'validate', 'consistent-validate', 'before-fence',
  'fence', 'drain', 'stop-task', 'final-validate', 'fix-sequences', 'topology-release',
  'switch',
  'topology-after-switch', 'topology-global', 'verify', 'after-switch', 'cleanup',
];

let world: World;
beforeEach(() => {
  world = new World(mysqlRunbook());
  world.install();
});

describe('parseCrashRecoveryPosition', () => {
  test.each([
    ['Binlog position from crash recovery is mysql-bin-changelog.000001 154', 'mysql-bin-changelog.000001', 154],
    ['Binlog position from crash recovery is mysql-bin-changelog.000012 4521.', 'mysql-bin-changelog.000012', 4521],
    ['Recovery finished. Binlog position from crash recovery is mysql-bin.000003 120 (InnoDB)', 'mysql-bin.000003', 120],
    ['binlog position from crash recovery is  mariadb-bin.000107   98765432', 'mariadb-bin.000107', 98765432],
  ])('reads %j', (message, file, position) => {
    expect(parseCrashRecoveryPosition(message)).toEqual({ kind: 'found', position: { file, position } });
  });

  test.each(['DB instance restarted', 'Recovered from Binary log filename', '', 'Binlog position from recovery is mysql-bin.000001 4'])('ignores %j', (message) => {
    expect(parseCrashRecoveryPosition(message)).toEqual({ kind: 'absent' });
  });

  test.each([
    ['Binlog position from crash recovery is mysql-bin-changelog.000001', /no <file> <pos>/],
    ['Binlog position from crash recovery is mysql-bin-changelog 154', /not a binlog file name/],
    ['Binlog position from crash recovery is mysql-bin-changelog.000001 15x4', /not a byte position/],
    ['Binlog position from crash recovery is mysql-bin-changelog.000001 -1', /not a byte position/],
    ['Binlog position from crash recovery is mysql-bin-changelog.000001 99999999999999999999', /not a byte position/],
  ])('rejects %j', (message, reason) => {
    const parsed = parseCrashRecoveryPosition(message);
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.reason).toMatch(reason);
  });
});

describe('the engine profile', () => {
  test('groups engines into families and names the DMS engine of Aurora MySQL `aurora`', () => {
    expect(family(testRunbook())).toBe('postgres');
    expect(family(mysqlRunbook())).toBe('mysql');
    expect(profile(mysqlRunbook())).toMatchObject({ clusterEngine: 'aurora-mysql', dmsEngineName: 'aurora', sentinelSchema: 'shop', usesSlot: false });
    expect(profile(testRunbook())).toMatchObject({ clusterEngine: 'aurora-postgresql', dmsEngineName: 'aurora-postgresql', sentinelSchema: 'public', usesSlot: true });
  });
});

describe('the aurora-mysql flow', () => {
  test('has the same step ids as PostgreSQL; the plan reads the event and SHOW BINARY LOGS, never a slot', () => {
    const flow = buildFlow(world.runbook);
    expect(flow.id).toBe('dms-cdc/aurora-mysql');
    expect(flow.steps.map((s) => s.id)).toEqual([...STEP_IDS]);
    const plan = planFlow(flow, world.context());
    const text = renderPlan(plan);
    expect(text).toContain('rds:DescribeEvents');
    expect(text).toContain('SourceType=db-instance StartTime=<restore start>');
    expect(text).toContain('SHOW BINARY LOGS');
    expect(text).toContain('binlog_format = ROW');
    expect(text).toContain('create sentinel table shop.rekey_sentinel');
    expect(text).toContain('ACCOUNT LOCK');
    expect(text).toContain('AUTO_INCREMENT');
    expect(text).not.toMatch(/pg_|slot rekey_|LSN/);
    expect(plan.find((e) => e.id === 'cleanup')?.actions.map((a) => a.target)).toEqual(['dms:DeleteReplicationTask', 'dms:DeleteEndpoint', 'old cluster']);
    expect(rdsMock.calls()).toHaveLength(0);
  });

  test('happy path: every command has the MySQL request shape and the switch lands the new key', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    const n = world.names;
    await runUntil(flow, ctx);

    expect([...world.openedEngines]).toEqual(['mysql']);
    // preflight: the binlog parameters read in one pass over the parameter group pages, each check named
    expect(inputs(rdsMock, DescribeDBClusterParametersCommand)).toEqual([
      { DBClusterParameterGroupName: 'shop-aurora-mysql8', Marker: undefined },
      { DBClusterParameterGroupName: 'shop-aurora-mysql8', Marker: 'page2' },
    ]);
    const report = ctx.outputs.preflight as PreflightReport;
    expect(report.problems).toEqual([]);
    expect(report.checks.filter((c) => c.id.startsWith('source.binlog')).map((c) => [c.id, c.ok])).toEqual([
      ['source.binlog_format', true],
      ['source.binlog_row_image', true],
      ['source.binlog_checksum', true],
      ['source.binlog_retention_window', true],
    ]);
    expect(report.binlog).toMatchObject({ retentionHours: 24 });
    expect(report.binlog?.expectedHours).toBeGreaterThan(1);
    expect(report.warnings).toEqual([expect.stringMatching(/^mysql.primary_keys: .*audit_log/)]);
    expect(report.topology?.found.readers.map((r) => r.source)).toEqual(['shop-db-r']);

    // prepare-source creates only the sentinel table; no slot anywhere
    expect(world.timeline.filter((t) => t.startsWith('source:') || t.startsWith('target:')).some((t) => /Slot|seedPosition/.test(t))).toBe(false);
    expect(world.timeline.indexOf('source:ensureSentinelTable rekey_sentinel')).toBeLessThan(world.timeline.findIndex((t) => t.startsWith('rds:CreateDBClusterSnapshot')));

    // restore carries the Aurora MySQL settings over
    expect(inputs(rdsMock, RestoreDBClusterFromSnapshotCommand)[0]).toMatchObject({
      DBClusterIdentifier: n.targetCluster,
      Engine: 'aurora-mysql',
      EngineVersion: '8.0.mysql_aurora.3.05.2',
      KmsKeyId: NEW_KEY,
      DBClusterParameterGroupName: 'shop-aurora-mysql8',
      Port: 3306,
      EnableCloudwatchLogsExports: ['error', 'slowquery'],
    });
    expect(inputs(rdsMock, CreateDBInstanceCommand)[0]).toMatchObject({ Engine: 'aurora-mysql', DBParameterGroupName: 'shop-mysql8-instance' });

    // capture-position: DescribeEvents of the new writer from the restore's start, every page followed
    const restoreStart = Date.parse((ctx.outputs.restore as { startedAt: string }).startedAt);
    const events = inputs<{ SourceIdentifier: string; SourceType: string; StartTime: Date; Marker?: string; Duration?: number }>(rdsMock, DescribeEventsCommand);
    expect(events.length).toBeGreaterThanOrEqual(2);
    for (const e of events) {
      expect(e).toMatchObject({ SourceIdentifier: n.targetWriter, SourceType: 'db-instance' });
      expect(e.StartTime.getTime()).toBeLessThanOrEqual(restoreStart);
      expect(e.StartTime.getTime()).toBeGreaterThan(restoreStart - 60 * 60_000);
      expect(e).not.toHaveProperty('Duration');
    }
    expect(events.map((e) => e.Marker)).toEqual([undefined, '2']);
    expect(ctx.outputs['capture-position']).toMatchObject({ position: 'mysql-bin-changelog.000002:154', binlogFileSize: 9000 });
    expect(world.timeline).toContain('source:SHOW BINARY LOGS');

    // DMS: `aurora` endpoints without DatabaseName, TLS verify-full, MySQL settings; task from file:pos
    const [src, tgt] = inputs<Record<string, unknown>>(dmsMock, CreateEndpointCommand);
    expect(src).toMatchObject({
      EndpointType: 'source',
      EngineName: 'aurora',
      ServerName: 'shop-db.cluster-abc.us-east-1.rds.amazonaws.com',
      Port: 3306,
      Username: 'rekey_admin',
      Password: PASSWORD,
      SslMode: 'verify-full',
      CertificateArn: 'arn:aws:dms:us-east-1:111122223333:cert:RDSCA',
      MySQLSettings: { EventsPollInterval: 5 },
    });
    expect(tgt).toMatchObject({
      EndpointType: 'target',
      EngineName: 'aurora',
      ServerName: `${n.targetCluster}.cluster-abc.us-east-1.rds.amazonaws.com`,
      SslMode: 'verify-full',
      MySQLSettings: { AfterConnectScript: 'SET FOREIGN_KEY_CHECKS=0' },
    });
    for (const e of [src, tgt]) {
      expect(e).not.toHaveProperty('DatabaseName');
      expect(e).not.toHaveProperty('PostgreSQLSettings');
    }
    const task = inputs<Record<string, string>>(dmsMock, CreateReplicationTaskCommand)[0] ?? {};
    expect(task).toMatchObject({ MigrationType: 'cdc', CdcStartPosition: 'mysql-bin-changelog.000002:154' });
    expect(JSON.parse(task.ReplicationTaskSettings ?? '{}')).toMatchObject({ FullLoadSettings: { TargetTablePrepMode: 'DO_NOTHING' } });
    const rules = (JSON.parse(task.TableMappings ?? '{}') as { rules: { 'object-locator': unknown; 'rule-action': string }[] }).rules;
    expect(rules.map((r) => [r['object-locator'], r['rule-action']])).toEqual([
      [{ 'schema-name': 'shop', 'table-name': '%' }, 'include'],
      [{ 'schema-name': 'shop', 'table-name': 'rekey_sentinel' }, 'include'],
      [{ 'schema-name': 'shop', 'table-name': 'tmp_%' }, 'exclude'],
    ]);
    expect(inputs(dmsMock, StartReplicationTaskCommand)[0]).toMatchObject({ StartReplicationTaskType: 'start-replication', CdcStartPosition: 'mysql-bin-changelog.000002:154' });

    // cutover: same steps, engine-neutral
    expect(ctx.outputs.fence).toMatchObject({ principals: [{ name: 'app' }, { name: 'reporting' }] });
    expect(ctx.outputs['fix-sequences']).toMatchObject({ checked: 2, behind: 0, raised: 2, items: [{ name: 'public.orders_id_seq', source: '1001', targetBefore: '950', setTo: '1001' }, { name: 'public.shared_seq', source: '77', targetBefore: '10', setTo: '81' }] });
    expect(inputs(rdsMock, ModifyDBClusterCommand)).toEqual([
      { DBClusterIdentifier: 'shop-db', NewDBClusterIdentifier: 'shop-db-old-ab12cd34', ApplyImmediately: true },
      { DBClusterIdentifier: n.targetCluster, NewDBClusterIdentifier: 'shop-db', ApplyImmediately: true },
    ]);
    expect(world.clusters.get('shop-db')?.KmsKeyId).toBe(NEW_KEY);
    expect(ctx.outputs.cleanup).toEqual({ droppedSlot: false, deletedDms: true });
    expect(dmsMock.commandCalls(DeleteEndpointCommand)).toHaveLength(2);
    expect(JSON.stringify(world.events) + JSON.stringify(ctx.outputs, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(PASSWORD);
  });

  test('capture-position waits for the event when RDS has not published it yet', async () => {
    world.crashRecoveryAfterCalls = 7;
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    const before = world.now;
    const out = await step(flow, 'capture-position').run(ctx);
    expect(out).toMatchObject({ position: 'mysql-bin-changelog.000002:154' });
    expect(world.now).toBeGreaterThan(before);
    expect(world.events).toContainEqual(expect.stringMatching(/^progress waiting for the crash-recovery binlog position event of shop-db-rekey-ab12cd34-w1/));
  });

  test('a missing event waits (bounded) then times out with a clear, retryable error and no task', async () => {
    world.crashRecoveryMessage = undefined;
    const services = { ...world.services(), timing: { pollMs: 1000, metricPeriodSeconds: 60, waitMaxSeconds: 120 } };
    const flow = buildFlow(world.runbook);
    const ctx = world.context({}, services);
    await runUntil(flow, ctx, 'restore');
    const calls = world.describeEventsCalls;
    const before = world.now;
    const err = (await step(flow, 'capture-position').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err).toBeInstanceOf(StepError);
    expect(err.kind).toBe('retryable');
    expect(err.message).toMatch(/shop-db-rekey-ab12cd34-w1 reported no "Binlog position from crash recovery is <file> <pos>" event since .* within 120 s/);
    expect(world.describeEventsCalls - calls).toBeGreaterThan(3);
    expect(world.now - before).toBeGreaterThanOrEqual(120_000);
    expect(dmsMock.commandCalls(CreateReplicationTaskCommand)).toHaveLength(0);
  });

  test('a binlog file purged from the source is the exit-4 error: retention too short, what to raise, nothing switched', async () => {
    world.binaryLogs = [{ file: 'mysql-bin-changelog.000005', size: 400 }, { file: 'mysql-bin-changelog.000006', size: 120 }];
    world.binlogRetentionHours = 2;
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'preflight').catch(() => undefined);
    // preflight already warned about this retention; run on regardless to see capture-position catch it
    ctx.outputs.preflight = { binlog: { retentionHours: 2, expectedHours: 1.9, assumptions: '' } };
    for (const id of ['prepare-source', 'snapshot', 'restore']) ctx.outputs[id] = await step(flow, id).run(ctx);
    const err = (await step(flow, 'capture-position').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err).toBeInstanceOf(StepError);
    expect(err.kind).toBe('preflight');
    expect(err.message).toMatch(/mysql-bin-changelog.000002:154 names mysql-bin-changelog.000002, which no longer exists on the source \(oldest kept: mysql-bin-changelog.000005\): binlog retention was too short. Nothing was switched/);
    expect(err.details).toEqual([
      'binlog retention on the source: 2 h; it must cover snapshot + restore + catch-up',
      "raise it, e.g. CALL mysql.rds_set_configuration('binlog retention hours', 24);",
      expect.stringMatching(/start a new run/),
    ]);
    expect(rdsMock.commandCalls(ModifyDBClusterCommand)).toHaveLength(0);
    expect(world.roles.get('app')).toBe(true);
  });

  test('a position the source never had, or beyond the end of its file, is fatal', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    world.binaryLogs = [{ file: 'mysql-bin-changelog.000002', size: 100 }];
    await expect(step(flow, 'capture-position').run(ctx)).rejects.toMatchObject({ kind: 'fatal', message: expect.stringMatching(/beyond the end of mysql-bin-changelog.000002 on the source \(100 bytes\)/) });
    world.binaryLogs = [{ file: 'mysql-bin-changelog.000001', size: 100 }];
    await expect(step(flow, 'capture-position').run(ctx)).rejects.toMatchObject({ kind: 'fatal', message: expect.stringMatching(/does not list \(mysql-bin-changelog.000001\)/) });
  });

  test('a malformed crash-recovery event fails at once instead of waiting', async () => {
    world.crashRecoveryMessage = 'Binlog position from crash recovery is mysql-bin-changelog.000002';
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    await expect(step(flow, 'capture-position').run(ctx)).rejects.toMatchObject({ kind: 'fatal', message: expect.stringMatching(/malformed event: no <file> <pos>/) });
  });

  test('drain timeout unfences and goes back to catch-up, as on PostgreSQL', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'fence');
    world.sentinelArrives = false;
    await expect(step(flow, 'drain').run(ctx)).rejects.toMatchObject({ kind: 'retryable', retryFrom: 'catch-up' });
    expect(world.roles.get('app')).toBe(true);
    expect(rdsMock.commandCalls(ModifyDBClusterCommand)).toHaveLength(0);
  });
});

describe('aurora-mysql preflight', () => {
  async function problems(): Promise<string[]> {
    const err = await preflight.run(world.context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepError);
    expect((err as StepError).kind).toBe('preflight');
    return (err as StepError).details;
  }

  test('each binlog parameter is named; checksum is only an UNCERTAIN warning', async () => {
    world.mysqlParameters = { binlog_format: undefined, binlog_row_image: 'MINIMAL', binlog_checksum: 'CRC32' };
    expect(await problems()).toEqual([
      expect.stringMatching(/^source.binlog_format: binlog_format is unset in cluster parameter group shop-aurora-mysql8 \(must be ROW/),
      expect.stringMatching(/^source.binlog_row_image: binlog_row_image is MINIMAL .*must be FULL/),
    ]);
    const report = await runPreflight(world.context());
    expect(report.warnings).toContainEqual(expect.stringMatching(/^source.binlog_checksum: binlog_checksum is CRC32 .*UNCERTAIN/));
  });

  test('an unlisted row image counts as the engine default FULL; MIXED format fails', async () => {
    world.mysqlParameters = { binlog_format: 'MIXED', binlog_checksum: 'NONE' };
    const found = await problems();
    expect(found).toEqual([expect.stringMatching(/^source.binlog_format: binlog_format is MIXED/)]);
  });

  test('binlog retention shorter than snapshot + restore + catch-up fails with the value to set', async () => {
    world.binlogRetentionHours = 1;
    expect(await problems()).toEqual([
      expect.stringMatching(/^source.binlog_retention_window: binlogs are kept 1 h, but snapshot \+ restore \+ catch-up may take [\d.]+ h.*rds_set_configuration\('binlog retention hours', \d+\)/),
    ]);
  });

  test('binlogs never purged pass the retention window', async () => {
    world.binlogRetentionHours = null;
    const report = await preflight.run(world.context());
    expect(report.checks.find((c) => c.id === 'source.binlog_retention_window')).toMatchObject({ ok: true, message: 'binary logs are never purged automatically' });
  });

  test('a PostgreSQL cluster under an aurora-mysql runbook is refused', async () => {
    world.clusters.get('shop-db')!.Engine = 'aurora-postgresql';
    expect(await problems()).toContainEqual('source.engine: source engine is aurora-postgresql (runbook says aurora-mysql)');
  });
});
