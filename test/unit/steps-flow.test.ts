// The whole Aurora PostgreSQL flow against aws-sdk-client-mock and a fake database: request shapes of every
// command it sends, ordering of the side effects, idempotent re-runs, and the unhappy cutover paths.
import { GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import {
  CreateEndpointCommand,
  CreateReplicationTaskCommand,
  DeleteEndpointCommand,
  DeleteReplicationTaskCommand,
  DescribeConnectionsCommand,
  StartReplicationTaskCommand,
  StopReplicationTaskCommand,
  TestConnectionCommand,
} from '@aws-sdk/client-database-migration-service';
import { DescribeKeyCommand, GetKeyPolicyCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import {
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  DescribeDBClusterParametersCommand,
  ModifyDBClusterCommand,
  RestoreDBClusterFromSnapshotCommand,
} from '@aws-sdk/client-rds';
import { StepError } from '../../src/engine/types.js';
import { catchUpProgress } from '../../src/steps/catch-up.js';
import { makeSafe, undoSteps } from '../../src/engine/compensation.js';
import { buildFlow, planFlow, renderPlan } from '../../src/flows/index.js';
import { cwMock, DMS_ADDRESS, dmsMock, kmsMock, NEW_KEY, OLD_KEY, PASSWORD, rdsMock, runUntil, SEED_LSN, step, testRunbook, World } from './steps-world.js';

/** The contract's step ids of the cluster flows, in order. */
const STEP_IDS = [
  'preflight', 'prepare-source', 'snapshot', 'restore',
  'topology-readers',
  'topology-endpoints', 'capture-position', 'dms-setup', 'start-cdc', 'catch-up', 'validate', 'consistent-validate',
  'before-fence', 'fence', 'drain', 'stop-task', 'final-validate', 'fix-sequences', 'topology-release',
  'switch',
  'topology-after-switch', 'topology-global', 'verify', 'after-switch', 'cleanup',
];

function input<T>(mock: { commandCalls: (c: never) => { args: [{ input: T }] }[] }, command: unknown, i = 0): T {
  const calls = mock.commandCalls(command as never);
  const call = calls[i];
  if (!call) throw new Error(`expected call ${i} of command`);
  return call.args[0].input;
}

let world: World;
beforeEach(() => {
  world = new World();
  world.install();
});

describe('the aurora-postgresql flow', () => {
  test('has the contract step ids in order, the cutover gate on before-fence', () => {
    const flow = buildFlow(world.runbook);
    expect(flow.steps.map((s) => s.id)).toEqual([...STEP_IDS]);
    expect(flow.steps.find((s) => s.gate)?.id).toBe('before-fence');
    expect(flow.steps.find((s) => s.id === 'before-fence')?.gate?.id).toBe('cutover');
  });

  test('the plan is pure: every step describes its actions before anything ran, with no AWS call made', () => {
    const flow = buildFlow(world.runbook);
    const plan = planFlow(flow, world.context());
    expect(plan.map((e) => e.id)).toEqual([...STEP_IDS]);
    expect(plan.every((e) => e.actions.length > 0)).toBe(true);
    expect(plan.find((e) => e.id === 'before-fence')?.gate).toBe('cutover');
    const targets = plan.flatMap((e) => e.actions.map((a) => a.target));
    for (const op of ['rds:CreateDBClusterSnapshot', 'rds:RestoreDBClusterFromSnapshot', 'rds:CreateDBInstance', 'dms:CreateEndpoint', 'dms:TestConnection', 'dms:CreateReplicationTask', 'dms:StartReplicationTask', 'cloudwatch:GetMetricData', 'dms:StopReplicationTask', 'rds:ModifyDBCluster', 'dms:DeleteReplicationTask']) {
      expect(targets).toContain(op);
    }
    expect(renderPlan(plan)).toMatch(/20\. switch: .*\n.*rename app-db -> app-db-old-ab12cd34/);
    expect(rdsMock.calls()).toHaveLength(0);
    expect(world.opened).toHaveLength(0);
  });

  test('RDS instance engines get the instance steps (copy-snapshot; MySQL also replica-position)', () => {
    const rb = testRunbook({ source: { engine: 'mysql', identifier: 'm', database: 'd', username: 'u', password: { env: 'X' } }, dms: { replicationInstance: { identifier: 'ri' }, sslMode: 'verify-full' } });
    const ids = buildFlow(rb).steps.map((s) => s.id);
    expect(ids.slice(0, 6)).toEqual(['preflight', 'prepare-source', 'replica-position', 'snapshot', 'copy-snapshot', 'restore']);
  });

  test('happy path: every command has the expected request shape and the switch lands the new key', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    const n = world.names;
    await runUntil(flow, ctx);

    // order of side effects: slot and sentinel table before the snapshot; fence before the sentinel; rename after the stop
    const t = world.timeline;
    const at = (prefix: string) => t.findIndex((x) => x.startsWith(prefix));
    expect(at('source:ensureLogicalSlot')).toBeLessThan(at('rds:CreateDBClusterSnapshot'));
    expect(at('source:ensureSentinelTable')).toBeLessThan(at('rds:CreateDBClusterSnapshot'));
    expect(at('target:dropSlotIfExists')).toBeGreaterThan(at('rds:RestoreDBClusterFromSnapshot'));
    // A sentinel is written inside the fence (the first one, before it, only lets CDC catch up unfenced).
    expect(t.findIndex((x, i) => i > at('source:fence') && x.startsWith('source:writeSentinel'))).toBeGreaterThan(at('source:fence'));
    expect(at('dms:StopReplicationTask')).toBeLessThan(at('rds:ModifyDBCluster'));
    expect(at('target:raiseSequence')).toBeLessThan(at('rds:ModifyDBCluster'));

    // KMS
    expect(input(kmsMock, DescribeKeyCommand)).toEqual({ KeyId: 'alias/app-new' });
    expect(input(kmsMock, GetKeyPolicyCommand)).toEqual({ KeyId: '22222222-2222-2222-2222-222222222222', PolicyName: 'default' });
    expect(input(kmsMock, ListGrantsCommand)).toEqual({ KeyId: '22222222-2222-2222-2222-222222222222' });
    // parameter group pages followed with Marker
    expect(rdsMock.commandCalls(DescribeDBClusterParametersCommand).map((c) => c.args[0].input)).toEqual([
      { DBClusterParameterGroupName: 'app-pg15-logical', Marker: undefined },
      { DBClusterParameterGroupName: 'app-pg15-logical', Marker: 'page2' },
    ]);
    expect(input(rdsMock, CreateDBClusterSnapshotCommand)).toEqual({
      DBClusterSnapshotIdentifier: 'app-db-rekey-ab12cd34-snap',
      DBClusterIdentifier: 'app-db',
      Tags: [{ Key: 'owner', Value: 'dba' }, { Key: 'rekey:run-id', Value: 'ab12cd34' }],
    });
    expect(input(rdsMock, RestoreDBClusterFromSnapshotCommand)).toEqual({
      DBClusterIdentifier: n.targetCluster,
      SnapshotIdentifier: n.snapshot,
      Engine: 'aurora-postgresql',
      EngineVersion: '15.4',
      KmsKeyId: NEW_KEY,
      DBSubnetGroupName: 'app-subnets',
      VpcSecurityGroupIds: ['sg-0abc', 'sg-0def'],
      DBClusterParameterGroupName: 'app-pg15-logical',
      Port: 5432,
      DeletionProtection: true,
      EnableIAMDatabaseAuthentication: true,
      EnableCloudwatchLogsExports: ['postgresql'],
      CopyTagsToSnapshot: true,
      BackupRetentionPeriod: 7,
      PreferredBackupWindow: '03:00-04:00',
      Tags: [{ Key: 'team', Value: 'payments' }, { Key: 'owner', Value: 'dba' }, { Key: 'rekey:run-id', Value: 'ab12cd34' }],
    });
    expect(input(rdsMock, CreateDBInstanceCommand)).toEqual({
      DBInstanceIdentifier: n.targetWriter,
      DBClusterIdentifier: n.targetCluster,
      Engine: 'aurora-postgresql',
      DBInstanceClass: 'db.r6g.xlarge',
      DBParameterGroupName: 'app-pg15-instance',
      PubliclyAccessible: false,
      PromotionTier: 1,
      // The source writer's monitoring and Performance Insights; PI data on the new key, not the old one.
      MonitoringInterval: 30,
      MonitoringRoleArn: 'arn:aws:iam::111122223333:role/rds-monitoring',
      EnablePerformanceInsights: true,
      PerformanceInsightsKMSKeyId: NEW_KEY,
      PerformanceInsightsRetentionPeriod: 731,
      Tags: [{ Key: 'owner', Value: 'dba' }, { Key: 'rekey:run-id', Value: 'ab12cd34' }],
    });

    // DMS endpoints: TLS, slot settings on the source, the password passed only to DMS
    const src = input<Record<string, unknown>>(dmsMock, CreateEndpointCommand, 0);
    const tgt = input<Record<string, unknown>>(dmsMock, CreateEndpointCommand, 1);
    expect(src).toMatchObject({
      EndpointIdentifier: 'rekey-ab12cd34-src',
      EndpointType: 'source',
      EngineName: 'aurora-postgresql',
      ServerName: 'app-db.cluster-abc.us-east-1.rds.amazonaws.com',
      Port: 5432,
      DatabaseName: 'app',
      Username: 'rekey_admin',
      Password: PASSWORD,
      SslMode: 'require',
      PostgreSQLSettings: { SlotName: 'rekey_ab12cd34', PluginName: 'test-decoding' },
    });
    expect(tgt).toMatchObject({
      EndpointIdentifier: 'rekey-ab12cd34-tgt',
      EndpointType: 'target',
      ServerName: `${n.targetCluster}.cluster-abc.us-east-1.rds.amazonaws.com`,
      SslMode: 'require',
      PostgreSQLSettings: { AfterConnectScript: "SET session_replication_role='replica'" },
    });
    expect(dmsMock.commandCalls(TestConnectionCommand).map((c) => c.args[0].input)).toEqual([
      { ReplicationInstanceArn: 'arn:aws:dms:us-east-1:111122223333:rep:RIRESOURCEID', EndpointArn: 'arn:aws:dms:us-east-1:111122223333:endpoint:EPREKEY-AB12CD34-SRC' },
      { ReplicationInstanceArn: 'arn:aws:dms:us-east-1:111122223333:rep:RIRESOURCEID', EndpointArn: 'arn:aws:dms:us-east-1:111122223333:endpoint:EPREKEY-AB12CD34-TGT' },
    ]);
    expect(dmsMock.commandCalls(DescribeConnectionsCommand).length).toBeGreaterThanOrEqual(2);
    const task = input<Record<string, string>>(dmsMock, CreateReplicationTaskCommand);
    expect(task).toMatchObject({
      ReplicationTaskIdentifier: 'rekey-ab12cd34-cdc',
      MigrationType: 'cdc',
      CdcStartPosition: SEED_LSN,
      SourceEndpointArn: 'arn:aws:dms:us-east-1:111122223333:endpoint:EPREKEY-AB12CD34-SRC',
      TargetEndpointArn: 'arn:aws:dms:us-east-1:111122223333:endpoint:EPREKEY-AB12CD34-TGT',
      ReplicationInstanceArn: 'arn:aws:dms:us-east-1:111122223333:rep:RIRESOURCEID',
    });
    expect(task).not.toHaveProperty('CdcStartTime');
    const rules = (JSON.parse(task.TableMappings ?? '{}') as { rules: Record<string, unknown>[] }).rules;
    expect(rules).toEqual([
      { 'rule-type': 'selection', 'rule-id': '1', 'rule-name': '1', 'object-locator': { 'schema-name': 'public', 'table-name': '%' }, 'rule-action': 'include' },
      { 'rule-type': 'selection', 'rule-id': '2', 'rule-name': '2', 'object-locator': { 'schema-name': 'public', 'table-name': 'rekey_sentinel' }, 'rule-action': 'include' },
      { 'rule-type': 'selection', 'rule-id': '3', 'rule-name': '3', 'object-locator': { 'schema-name': 'public', 'table-name': 'tmp_%' }, 'rule-action': 'exclude' },
    ]);
    expect(JSON.parse(task.ReplicationTaskSettings ?? '{}')).toMatchObject({ FullLoadSettings: { TargetTablePrepMode: 'DO_NOTHING' } });
    expect(input(dmsMock, StartReplicationTaskCommand)).toEqual({
      ReplicationTaskArn: 'arn:aws:dms:us-east-1:111122223333:task:TASKRESOURCEID7',
      StartReplicationTaskType: 'start-replication',
      CdcStartPosition: SEED_LSN,
    });

    // CloudWatch: dimensions discovered (the task's ARN resource id), then both metrics in ONE call per poll
    expect(input(cwMock, ListMetricsCommand)).toMatchObject({
      Namespace: 'AWS/DMS',
      MetricName: 'CDCLatencySource',
      Dimensions: [{ Name: 'ReplicationInstanceIdentifier', Value: 'rekey-ri' }],
    });
    const gmd = input<{ MetricDataQueries: { MetricStat: { Metric: { MetricName: string; Dimensions: unknown } } }[] }>(cwMock, GetMetricDataCommand);
    const dims = [{ Name: 'ReplicationInstanceIdentifier', Value: 'rekey-ri' }, { Name: 'ReplicationTaskIdentifier', Value: 'TASKRESOURCEID7' }];
    expect(gmd.MetricDataQueries.map((q) => q.MetricStat.Metric)).toEqual([
      { Namespace: 'AWS/DMS', MetricName: 'CDCLatencySource', Dimensions: dims },
      { Namespace: 'AWS/DMS', MetricName: 'CDCLatencyTarget', Dimensions: dims },
    ]);
    expect(ctx.outputs['catch-up']).toMatchObject({ latencySeconds: 3, sourceSeconds: 2, targetSeconds: 1 });

    // cutover
    expect(ctx.outputs.fence).toMatchObject({ principals: [{ name: 'app' }, { name: 'reporting' }] });
    expect(world.roles.get('rekey_admin')).toBe(true);
    expect(input(dmsMock, StopReplicationTaskCommand)).toEqual({ ReplicationTaskArn: 'arn:aws:dms:us-east-1:111122223333:task:TASKRESOURCEID7' });
    expect(ctx.outputs['final-validate']).toMatchObject({ tables: 2, mismatched: 0 });
    expect(ctx.outputs['fix-sequences']).toMatchObject({ checked: 2, behind: 0, raised: 2 });
    // Per sequence: the source's position, the target's before, what it was set to (at least both, never lower).
    const items = (ctx.outputs['fix-sequences'] as { items: { name: string; source: string | null; targetBefore: string | null; setTo?: string }[] }).items;
    expect(items.map((x) => x.name).sort()).toEqual(['public.orders_id_seq', 'public.shared_seq']);
    expect(items.find((x) => x.name === 'public.shared_seq')).toEqual({ name: 'public.shared_seq', source: '77', targetBefore: '10', setTo: '81' }); // max(column) + 1 is above the source's 77
    const orders = items.find((x) => x.name === 'public.orders_id_seq')!;
    expect(orders).toMatchObject({ source: '1001', targetBefore: '950' });
    expect(BigInt(orders.setTo!)).toBeGreaterThanOrEqual(1001n);
    expect(world.sequences.target.get('public.orders_id_seq')).toBe(1001n);
    expect(world.sequences.target.get('public.shared_seq')).toBe(81n);
    expect(rdsMock.commandCalls(ModifyDBClusterCommand).map((c) => c.args[0].input)).toEqual([
      { DBClusterIdentifier: 'app-db', NewDBClusterIdentifier: 'app-db-old-ab12cd34', ApplyImmediately: true },
      { DBClusterIdentifier: n.targetCluster, NewDBClusterIdentifier: 'app-db', ApplyImmediately: true },
    ]);
    expect(world.clusters.get('app-db')?.KmsKeyId).toBe(NEW_KEY);
    expect(ctx.outputs.verify).toMatchObject({ identifier: 'app-db', kmsKeyId: NEW_KEY });
    // The evidence, read back from AWS: the name clients use is under the new key, the old cluster under the old one.
    const evidence = (ctx.outputs.verify as { evidence: { resources: { kind: string; identifier: string; kmsKeyId?: string }[] } }).evidence.resources;
    expect(evidence.map((r) => [r.kind, r.identifier, r.kmsKeyId])).toEqual([
      ['cluster', 'app-db', NEW_KEY],
      // Every member of the new cluster: the writer and the recreated reader.
      ['instance', 'app-db-rekey-ab12cd34-w1', NEW_KEY],
      ['instance', 'app-db-rekey-ab12cd34-r1', NEW_KEY],
      ['cluster', 'app-db-old-ab12cd34', OLD_KEY],
      ['snapshot', 'app-db-rekey-ab12cd34-snap', undefined],
    ]);
    // cleanup: slot dropped on the OLD source, task then endpoints deleted, old cluster kept
    expect(t).toContain('source:dropSlotIfExists rekey_ab12cd34');
    expect(input(dmsMock, DeleteReplicationTaskCommand)).toEqual({ ReplicationTaskArn: 'arn:aws:dms:us-east-1:111122223333:task:TASKRESOURCEID7' });
    expect(dmsMock.commandCalls(DeleteEndpointCommand)).toHaveLength(2);
    expect(world.clusters.has('app-db-old-ab12cd34')).toBe(true);

    // secrets never reach events or the plan
    const plan = renderPlan(planFlow(flow, ctx));
    expect(plan).toContain('rds:RestoreDBClusterFromSnapshot');
    expect(JSON.stringify(world.events) + plan + JSON.stringify(ctx.outputs, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(PASSWORD);
  });

  test('re-running the creating steps finds what exists and creates nothing twice', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'start-cdc');
    for (const id of ['snapshot', 'restore', 'dms-setup', 'start-cdc']) {
      await flow.steps.find((s) => s.id === id)?.run({ ...ctx, attempt: 2 });
    }
    expect(rdsMock.commandCalls(CreateDBClusterSnapshotCommand)).toHaveLength(1);
    expect(rdsMock.commandCalls(RestoreDBClusterFromSnapshotCommand)).toHaveLength(1);
    // The writer and the source's one reader, each once.
    expect(rdsMock.commandCalls(CreateDBInstanceCommand)).toHaveLength(2);
    expect(dmsMock.commandCalls(CreateEndpointCommand)).toHaveLength(2);
    expect(dmsMock.commandCalls(CreateReplicationTaskCommand)).toHaveLength(1);
    expect(dmsMock.commandCalls(StartReplicationTaskCommand)).toHaveLength(1);
    expect(dmsMock.commandCalls(TestConnectionCommand)).toHaveLength(2);
  });

  test('the restore refuses a cluster that does not report the new key', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'snapshot');
    rdsMock.on(RestoreDBClusterFromSnapshotCommand).callsFake((i: { DBClusterIdentifier: string }) => {
      world.clusters.set(i.DBClusterIdentifier, { DBClusterIdentifier: i.DBClusterIdentifier, Status: 'available', KmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/other', Endpoint: 'x', Port: 5432 });
      return {};
    });
    await expect(step(flow, 'restore').run(ctx)).rejects.toThrow(/reports KmsKeyId .*other, expected/);
  });

  test('capture-position refuses an LSN older than the slot', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    world.slots.source.get('rekey_ab12cd34')!.confirmedFlushLsn = '0/4000000';
    await expect(step(flow, 'capture-position').run(ctx)).rejects.toThrow(/older than slot rekey_ab12cd34/);
  });

  test('a failed CDC task ends catch-up with its failure message', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'start-cdc');
    world.tasks.get('rekey-ab12cd34-cdc')!.Status = 'failed';
    world.tasks.get('rekey-ab12cd34-cdc')!.LastFailureMessage = 'slot rekey_ab12cd34 does not exist';
    await expect(step(flow, 'catch-up').run(ctx)).rejects.toThrow(/CDC task is failed: slot rekey_ab12cd34 does not exist/);
  });

  test('catch-up waits for latency to stay under the threshold for the sustain window, else times out retryable', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'start-cdc');
    world.latencies = [[30, 2], [3, 1], [9, 0], [1, 1], [1, 1], [1, 1], [1, 0], [1, 0]];
    const started = world.now;
    const out = (await step(flow, 'catch-up').run(ctx)) as { sustainedSeconds: number };
    expect(out.sustainedSeconds).toBeGreaterThanOrEqual(3);
    // the reading of 9 s reset the window: it must have started at the 4th reading or later
    expect(world.now - started).toBeGreaterThanOrEqual(6000);
    expect(world.events.some((e) => e.startsWith('metric cdc.latency=32'))).toBe(true);

    world.latencies = [[60, 0]];
    const err = await step(flow, 'catch-up').run(ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepError);
    expect(err).toMatchObject({ kind: 'retryable', message: expect.stringMatching(/timed out/) });
  });

  test('catch-up measures the backlog: latency down from its peak and the WAL the source retains for the slot, with an ETA', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'start-cdc');
    world.latencies = [[30, 2], [20, 2], [12, 2], [4, 1], [1, 1], [1, 1], [1, 0], [1, 0], [1, 0], [1, 0]];
    world.retainedWal = 48 * 1024 * 1024;
    const seen: { message: string; percent?: number; eta?: number }[] = [];
    ctx.report = { ...ctx.report, progress: (message, percent, eta) => seen.push({ message, ...(percent !== undefined ? { percent } : {}), ...(eta !== undefined ? { eta } : {}) }) };
    await step(flow, 'catch-up').run(ctx);
    expect(seen[0]).toMatchObject({ message: 'behind: latency 32 s (threshold 5 s, peak 32 s), source WAL retained for the slot 48.0 MB', percent: 0 });
    // 32 -> 22 of the way to 5: 10/27 of the backlog share (80 %), and the fall's rate gives the ETA.
    expect(seen[1]).toMatchObject({ message: expect.stringMatching(/^behind: latency 22 s/), percent: 30, eta: expect.any(Number) });
    expect(seen[2]!.percent).toBeGreaterThan(seen[1]!.percent!);
    const caughtUp = seen.filter((p) => p.message.startsWith('caught up'));
    expect(caughtUp[0]).toMatchObject({ message: expect.stringMatching(/^caught up: latency 5 s \(threshold 5 s\), source WAL retained for the slot 48\.0 MB; under it for \d+\/\d+ s$/), percent: 80 });
    const percents = seen.map((p) => p.percent ?? 0);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(Math.max(...percents)).toBeLessThanOrEqual(99);
    expect(world.events).toContain(`metric cdc.backlog.bytes=${48 * 1024 * 1024}`);
  });

  test('catchUpProgress: the sustain window fills the last part; without one the backlog is the whole bar', () => {
    const track = {};
    expect(catchUpProgress({ latency: 12, underForMs: 0 }, { thresholdSeconds: 2, sustainMs: 0 }, track, 0).percent).toBe(0);
    expect(catchUpProgress({ latency: 7, underForMs: 0 }, { thresholdSeconds: 2, sustainMs: 0 }, track, 10_000)).toMatchObject({ percent: 50, etaSeconds: 10 });
    expect(catchUpProgress({ latency: 1, underForMs: 5000 }, { thresholdSeconds: 2, sustainMs: 20_000 }, {}, 0)).toMatchObject({ percent: 85, etaSeconds: 15 });
    expect(catchUpProgress({ underForMs: 0, backlogBytes: 2048 }, { thresholdSeconds: 2, sustainMs: 0 }, {}, 0)).toEqual({ message: 'waiting for CDC latency datapoints, source WAL retained for the slot 2.0 kB' });
  });

  test('drain timeout unfences, goes back to catch-up and never switches', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'fence');
    expect(world.roles.get('app')).toBe(false);
    world.sentinelArrives = false;
    const err = (await step(flow, 'drain').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err).toBeInstanceOf(StepError);
    expect(err.kind).toBe('retryable');
    expect(err.retryFrom).toBe('catch-up');
    expect(err.message).toMatch(/went back to catch-up; nothing was switched/);
    expect(world.roles.get('app')).toBe(true);
    expect(world.roles.get('reporting')).toBe(true);
    expect(rdsMock.commandCalls(ModifyDBClusterCommand)).toHaveLength(0);
    // makeSafe is idempotent and marks the cutover steps for a re-run
    const reverted = await makeSafe(flow, ctx, 'drain');
    expect(reverted).toEqual(['catch-up', 'validate', 'consistent-validate', 'before-fence', 'fence']);
    expect(world.roles.get('app')).toBe(true);
  });

  test('a final validation mismatch fails; makeSafe unfences and sends the run back to start-cdc', async () => {
    world = new World(testRunbook({ validation: { final: 'counts' } }));
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    world.rows.target.set('public.items', 39);
    const err = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err.message).toMatch(/1 of 2 tables differ/);
    expect(err.details).toEqual(['public.items: source 40 rows, target 39 rows']);
    expect(world.roles.get('app')).toBe(false);
    const reverted = await makeSafe(flow, ctx, 'final-validate');
    expect(world.roles.get('app')).toBe(true);
    expect(reverted).toEqual(['start-cdc', 'catch-up', 'validate', 'consistent-validate', 'before-fence', 'fence', 'drain', 'stop-task']);
  });

  test('sessions of rekey\'s own login from another client: the fence refuses, and makeSafe lifts it; DMS\'s own sessions do not count', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'before-fence');
    world.foreignSessions = [
      { user: 'rekey_admin', client: DMS_ADDRESS, application: 'dms' },
      { user: 'rekey_admin', client: '10.1.2.3', application: 'billing-api' },
      { user: 'app', client: '10.1.2.4', application: 'not rekey\'s login' },
    ];
    const err = (await step(flow, 'fence').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err).toBeInstanceOf(StepError);
    expect(err.kind).toBe('retryable');
    expect(err.retryFrom).toBeUndefined();
    expect(err.message).toMatch(/^refusing to cut over: 1 session of rekey_admin from other clients is open once the fence is up: rekey_admin@10\.1\.2\.3 \(billing-api\)\. /);
    expect(err.details.join('\n')).toMatch(/cutover.openSessions: warn/);
    expect(world.roles.get('app')).toBe(false);
    await makeSafe(flow, ctx, 'fence');
    expect(world.roles.get('app')).toBe(true);
    // Only DMS's own session left: the fence holds.
    world.foreignSessions = [{ user: 'rekey_admin', client: DMS_ADDRESS, application: 'dms' }];
    const state = await step(flow, 'fence').run(ctx);
    expect(state).not.toHaveProperty('unfenced');
    expect(world.roles.get('app')).toBe(false);
  });

  test('a session of rekey\'s login that appears after the fence stops the cutover at final validation; a listing that fails refuses too', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    expect(ctx.outputs.fence).toMatchObject({ dmsAddresses: [DMS_ADDRESS] });
    world.foreignSessions = [{ user: 'rekey_admin', client: '10.1.2.5', application: 'cron' }];
    const late = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(late.kind).toBe('retryable');
    expect(late.message).toMatch(/^refusing to cut over: 1 session of rekey_admin from other clients is open after the final validation: rekey_admin@10\.1\.2\.5 \(cron\)/);
    expect(rdsMock.commandCalls(ModifyDBClusterCommand)).toHaveLength(0);
    world.foreignSessions = [];
    world.openSessionsFail = true;
    const blind = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(blind.message).toMatch(/^refusing to cut over: cannot list the sessions of rekey_admin after the final validation: /);
    world.openSessionsFail = false;
    await expect(step(flow, 'final-validate').run(ctx)).resolves.toMatchObject({ mismatched: 0 });
  });

  test('cutover.openSessions: warn goes on, reporting the sessions in the fence output', async () => {
    world = new World(testRunbook({ cutover: { openSessions: 'warn', fenceTimeoutSeconds: 120 } }));
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'before-fence');
    world.foreignSessions = [{ user: 'rekey_admin', client: 'local', application: 'psql' }];
    const state = await step(flow, 'fence').run(ctx);
    expect(state).toMatchObject({ unfenced: [{ user: 'rekey_admin', client: 'local', application: 'psql' }] });
    expect(world.events.some((e) => /^warn .*1 session of rekey_admin .*rekey_admin@local \(psql\).*Going on \(cutover.openSessions: warn\)/.test(e))).toBe(true);
  });

  test('the plan says which endpoints follow the cluster rename and which stay with the old cluster', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'preflight');
    const notes = step(flow, 'switch').describe(ctx).filter((a) => a.target === 'endpoints').map((a) => a.summary);
    expect(notes).toEqual([
      "the cluster endpoints (app-db.cluster-… and .cluster-ro-…) follow the rename; the readers were recreated on the new cluster and custom endpoints move by name around the switch (topology-release, topology-after-switch); instance endpoints such as app-db-w's keep their names on the old cluster, whose writer roles remain fenced: the new instances are named app-db-rekey-ab12cd34-w1 and app-db-rekey-ab12cd34-r<n> (cutover.renameInstances: true keeps the instance names)",
    ]);
  });

  test('after the slot fallback, a keyless table with extra target rows fails final validation with the way out', async () => {
    world = new World(testRunbook({ validation: { final: 'counts' } }));
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    (ctx.outputs.preflight as { tablesWithoutPk: string[] }).tablesWithoutPk = ['public.items'];
    world.rows.target.set('public.items', 41);
    const plain = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(plain.details).toEqual(['public.items: source 40 rows, target 41 rows']);
    ctx.outputs['capture-position'] = { position: '0/2000000', source: 'slot-fallback', overlap: { fromLsn: '0/2000000', snapshotAfter: true, reason: 'x' } };
    const err = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err.details).toEqual([
      'public.items: source 40 rows, target 41 rows',
      expect.stringMatching(/^public\.items: no primary key, and CDC started at 0\/2000000, before the snapshot .*Resuming cannot fix that\.$/),
      expect.stringMatching(/^undo with `rekey rollback`, then give those tables a primary key/),
    ]);
  });

  test('the fence time-box stops the cutover before the switch', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'final-validate');
    world.now += 121_000;
    await expect(step(flow, 'fix-sequences').run(ctx)).rejects.toThrow(/fenced for \d+ s, over cutover.fenceTimeoutSeconds/);
    expect(rdsMock.commandCalls(ModifyDBClusterCommand)).toHaveLength(0);
  });

  test('a failing before-fence hook stops the run before the fence', async () => {
    const rb = testRunbook({ hooks: { beforeFence: [{ run: 'pause-workers --fail', timeoutSeconds: 5 }], afterSwitch: [] } });
    world = new World(rb);
    world.install();
    const flow = buildFlow(rb);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    await expect(step(flow, 'before-fence').run(ctx)).rejects.toThrow(/before-fence hook 1 \(pause-workers --fail\) exited with code 3/);
    expect(world.timeline).toContain('exec pause-workers --fail before-fence');
    expect(world.roles.get('app')).toBe(true);
  });

  test('the cutover gate shows latency, validation age, predicted window and tables without PK', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    world.now += 42_000;
    const gate = step(flow, 'before-fence').gate!;
    expect(await gate.facts(ctx)).toMatchObject({
      latencySeconds: 3,
      validationAgeSeconds: 42,
      tablesWithoutPrimaryKey: 1,
      predictedWindowSeconds: expect.any(Number),
    });
    expect(gate.confirmText?.(ctx)).toBe('app-db');
    expect(await gate.facts(ctx)).not.toHaveProperty('sessionsOfRekeyLoginAtPreflight');
    expect(await gate.facts(ctx)).not.toHaveProperty('cdcStartedBeforeSnapshot');
  });

  test('the cutover gate reads latency when it opens (not catch-up\'s, which a resume makes old) and re-samples it while it waits', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    expect(ctx.outputs['catch-up']).toMatchObject({ latencySeconds: 3 });
    // Later (a resume, or a gate opened long after catch-up): CloudWatch now says 0.5 + 0.25.
    world.now += 600_000;
    world.latencies = [[0.5, 0.25], [4, 2], [1, 1]];
    world.events.length = 0;
    const gate = step(flow, 'before-fence').gate!;
    expect(await gate.facts(ctx)).toMatchObject({ latencySeconds: 0.75, latencySampledAt: new Date(world.now).toISOString() });
    expect(world.events).toEqual(['metric cdc.latency.source=0.5', 'metric cdc.latency.target=0.25', 'metric cdc.latency=0.75']);
    // While it waits: one reading per poll (at least 5 s apart), reported as the metrics the TUI draws; stops on abort.
    world.events.length = 0;
    const watching = new AbortController();
    const t0 = world.now;
    const services = ctx.services;
    const sleeps: number[] = [];
    const clock = { now: () => world.now, sleep: async (ms: number, signal: AbortSignal) => {
      sleeps.push(ms);
      if (sleeps.length === 3) watching.abort();
      await services.clock.sleep(ms, signal);
    } };
    await gate.watch!({ ...ctx, services: { ...services, clock } }, watching.signal);
    expect(sleeps).toEqual([5000, 5000, 5000]);
    expect(world.now - t0).toBe(10_000);
    expect(world.events).toEqual(['metric cdc.latency.source=4', 'metric cdc.latency.target=2', 'metric cdc.latency=6', 'metric cdc.latency.source=1', 'metric cdc.latency.target=1', 'metric cdc.latency=2']);
  });

  test('without a fresh datapoint the gate falls back to catch-up\'s latency and says when it was read', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    world.metricsPublished = false;
    const facts = await step(flow, 'before-fence').gate!.facts(ctx);
    expect(facts).toMatchObject({ latencySeconds: 3, latencySampledAt: (ctx.outputs['catch-up'] as { at: string }).at });
  });

  test('the cutover gate tells of sessions the fence cannot lock out and of a CDC start before the snapshot', async () => {
    world.foreignSessions = [{ user: 'rekey_admin', client: '10.1.2.3', application: 'billing-api' }];
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    ctx.outputs['capture-position'] = { position: '0/2000000', source: 'slot-fallback', overlap: { fromLsn: '0/2000000', snapshotAfter: true, reason: 'x' } };
    expect(await step(flow, 'before-fence').gate!.facts(ctx)).toMatchObject({
      sessionsOfRekeyLoginAtPreflight: 1,
      cdcStartedBeforeSnapshot: 'at 0/2000000: the overlap was replayed as upserts',
    });
  });

  test('rollback after the switch renames back and unfences the old source', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'verify');
    rdsMock.commandCalls(ModifyDBClusterCommand);
    await undoSteps(flow, ctx, { succeeded: new Set(Object.keys(ctx.outputs)) });
    const renames = rdsMock.commandCalls(ModifyDBClusterCommand).map((c) => c.args[0].input);
    expect(renames.slice(2)).toEqual([
      { DBClusterIdentifier: 'app-db', NewDBClusterIdentifier: world.names.targetCluster, ApplyImmediately: true },
      { DBClusterIdentifier: 'app-db-old-ab12cd34', NewDBClusterIdentifier: 'app-db', ApplyImmediately: true },
    ]);
    expect(world.clusters.get('app-db')?.KmsKeyId).not.toBe(NEW_KEY);
    expect(world.roles.get('app')).toBe(true);
  });

  test('rollback before the switch unfences and stops the task', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'fence');
    await undoSteps(flow, ctx, { succeeded: new Set(Object.keys(ctx.outputs)) });
    expect(world.roles.get('app')).toBe(true);
    expect(dmsMock.commandCalls(StopReplicationTaskCommand)).toHaveLength(1);
    expect(world.tasks.get('rekey-ab12cd34-cdc')?.Status).toBe('stopped');
    expect(rdsMock.commandCalls(ModifyDBClusterCommand)).toHaveLength(0);
  });
});
