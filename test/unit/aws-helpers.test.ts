// The AWS layer on its own: bounded poller, error mapping, lookups returning undefined on NotFound,
// the rename classifier, metric queries, client construction, and deterministic names.
import { GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeDBClusterParametersCommand, DescribeDBClustersCommand, DescribeEventsCommand } from '@aws-sdk/client-rds';
import { arnResourceId, classifyTask } from '../../src/aws/dms.js';
import { awsStepError, classifyAwsError } from '../../src/aws/errors.js';
import { createAwsCloud } from '../../src/aws/create-cloud.js';
import { discoverTaskDimensions, readLatency } from '../../src/aws/metrics.js';
import { poll } from '../../src/aws/poll.js';
import type { Verdict } from '../../src/aws/poll.js';
import { classifyRenamed, clusterParameters, findCluster, listEvents } from '../../src/aws/rds.js';
import { InterruptedError, StepError } from '../../src/engine/types.js';
import { resourceNames } from '../../src/steps/names.js';
import { World, cwMock, rdsMock, testRunbook } from './steps-world.js';

const err = (name: string, extra: object = {}) => Object.assign(new Error(name), { name, ...extra });

function fakeClock() {
  const clock = { t: 0, sleeps: [] as number[], now: () => clock.t, sleep: (ms: number) => ((clock.t += ms), clock.sleeps.push(ms), Promise.resolve()) };
  return clock;
}

describe('poll', () => {
  test('backs off from min to max delay and returns the successful observation', async () => {
    const clock = fakeClock();
    let n = 0;
    const out = await poll({
      what: 'thing',
      observe: () => Promise.resolve(++n),
      classify: (v): Verdict => (v >= 5 ? { state: 'success' } : { state: 'retry' }),
      clock,
      signal: new AbortController().signal,
      minDelayMs: 100,
      maxDelayMs: 300,
      timeoutMs: 10_000,
    });
    expect(out).toBe(5);
    expect(clock.sleeps).toEqual([100, 200, 300, 300]);
  });

  test('a failure verdict throws a fatal StepError with the reason', async () => {
    const p = poll({ what: 'cluster x available', observe: () => Promise.resolve('failed'), classify: (s): Verdict => ({ state: 'failure', reason: `status is ${s}` }), clock: fakeClock(), signal: new AbortController().signal, minDelayMs: 1, maxDelayMs: 1, timeoutMs: 10 });
    await expect(p).rejects.toMatchObject({ kind: 'fatal', message: 'cluster x available: status is failed' });
  });

  test('the deadline gives a retryable timeout naming the last note', async () => {
    const p = poll({ what: 'x', observe: () => Promise.resolve(1), classify: (): Verdict => ({ state: 'retry', note: 'status creating' }), clock: fakeClock(), signal: new AbortController().signal, minDelayMs: 1000, maxDelayMs: 1000, timeoutMs: 5000 });
    await expect(p).rejects.toMatchObject({ kind: 'retryable', message: 'timed out after 5 s waiting for x (last: status creating)' });
  });

  test('throttling is retried, access denied is not', async () => {
    const clock = fakeClock();
    let calls = 0;
    const out = await poll({
      what: 'x',
      observe: () => (++calls < 3 ? Promise.reject(err('ThrottlingException')) : Promise.resolve('ok')),
      classify: (): Verdict => ({ state: 'success' }),
      clock,
      signal: new AbortController().signal,
      minDelayMs: 10,
      maxDelayMs: 10,
      timeoutMs: 1000,
    });
    expect(out).toBe('ok');
    const denied = poll({ what: 'x', observe: () => Promise.reject(err('AccessDeniedException')), classify: (): Verdict => ({ state: 'success' }), clock, signal: new AbortController().signal, minDelayMs: 1, maxDelayMs: 1, timeoutMs: 1000 });
    await expect(denied).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  test('an aborted signal ends the wait as interrupted', async () => {
    const ac = new AbortController();
    const clock = { now: () => 0, sleep: () => (ac.abort(), Promise.reject(new Error('aborted'))) };
    const p = poll({ what: 'x', observe: () => Promise.resolve(0), classify: (): Verdict => ({ state: 'retry' }), clock, signal: ac.signal, minDelayMs: 1, maxDelayMs: 1, timeoutMs: 1000 });
    await expect(p).rejects.toBeInstanceOf(InterruptedError);
  });
});

describe('AWS error mapping', () => {
  test.each([
    ['DBClusterNotFoundFault', {}, 'not-found'],
    ['ResourceNotFoundFault', {}, 'not-found'],
    ['NotFoundException', {}, 'not-found'],
    ['ThrottlingException', {}, 'throttled'],
    ['Throttling', {}, 'throttled'],
    ['InternalFailure', { $fault: 'server' }, 'server'],
    ['ServiceUnavailable', { $metadata: { httpStatusCode: 503 } }, 'server'],
    ['AccessDeniedException', {}, 'access-denied'],
    ['AccessDeniedFault', {}, 'access-denied'],
    ['InvalidDBClusterStateFault', { $fault: 'client' }, 'other'],
  ])('%s -> %s', (name, extra, cls) => {
    expect(classifyAwsError(err(name, extra))).toBe(cls);
  });

  test('StepError kinds: throttling retryable, access denied rejected, the rest fatal', () => {
    expect(awsStepError('rds:X', err('ThrottlingException')).kind).toBe('retryable');
    expect(awsStepError('rds:X', err('AccessDeniedException')).kind).toBe('rejected');
    const e = awsStepError('rds:ModifyDBCluster', err('InvalidDBClusterStateFault'));
    expect(e).toBeInstanceOf(StepError);
    expect(e.kind).toBe('fatal');
    expect(e.message).toBe('rds:ModifyDBCluster failed: InvalidDBClusterStateFault: InvalidDBClusterStateFault');
  });

  test('lookups answer undefined on NotFound and throw a StepError otherwise', async () => {
    const world = new World();
    world.install();
    const cloud = world.cloud();
    expect(await findCluster(cloud, 'nope')).toBeUndefined();
    rdsMock.on(DescribeDBClustersCommand).rejects(err('AccessDenied'));
    await expect(findCluster(cloud, 'app-db')).rejects.toMatchObject({ kind: 'rejected' });
  });

  test('a command the world does not know fails loudly', async () => {
    const world = new World();
    world.install();
    // The world deletes clusters (rollback's discard path) and lists proxies (blue-green preflight); engine defaults it never models.
    const { DescribeEngineDefaultParametersCommand } = await import('@aws-sdk/client-rds');
    await expect(world.cloud().rds.send(new DescribeEngineDefaultParametersCommand({ DBParameterGroupFamily: 'postgres15' }))).rejects.toThrow(/unexpected command/);
  });
});

describe('classifiers', () => {
  const avail = { DBClusterIdentifier: 'new', Status: 'available', Endpoint: 'new.cluster', Port: 5432 };
  test('rename: not done until the new name exists, is available and its endpoint moved', () => {
    expect(classifyRenamed({ cluster: undefined, sawTransition: false, elapsedMs: 0 }, 'old.cluster:5432', 1000).state).toBe('retry');
    expect(classifyRenamed({ cluster: { ...avail, Status: 'renaming' }, sawTransition: true, elapsedMs: 0 }, 'old.cluster:5432', 1000).state).toBe('retry');
    expect(classifyRenamed({ cluster: { ...avail, Endpoint: 'old.cluster' }, sawTransition: false, elapsedMs: 10 }, 'old.cluster:5432', 1000)).toEqual({ state: 'retry', note: 'rename not started yet' });
    expect(classifyRenamed({ cluster: { ...avail, Endpoint: 'old.cluster' }, sawTransition: true, elapsedMs: 10 }, 'old.cluster:5432', 1000)).toEqual({ state: 'retry', note: 'endpoint not changed yet' });
    expect(classifyRenamed({ cluster: avail, sawTransition: false, elapsedMs: 10 }, 'old.cluster:5432', 1000).state).toBe('success');
    expect(classifyRenamed({ cluster: { ...avail, Status: 'failed' }, sawTransition: true, elapsedMs: 10 }, 'x', 1000).state).toBe('failure');
  });

  test('task waits fail on the statuses the SDK waiters fail on', () => {
    expect(classifyTask({ Status: 'running' }, 'running').state).toBe('success');
    expect(classifyTask({ Status: 'starting' }, 'running').state).toBe('retry');
    expect(classifyTask({ Status: 'failed', LastFailureMessage: 'boom' }, 'running')).toEqual({ state: 'failure', reason: 'task is failed: boom' });
    expect(classifyTask({ Status: 'running' }, 'ready').state).toBe('failure');
    expect(classifyTask({ Status: 'stopping' }, 'stopped').state).toBe('retry');
  });
});

describe('metrics', () => {
  test('dimensions come from ListMetrics (following pages) matched on the task ARN resource id', async () => {
    const world = new World();
    world.install();
    cwMock
      .on(ListMetricsCommand)
      .resolvesOnce({ Metrics: [{ Dimensions: [{ Name: 'ReplicationTaskIdentifier', Value: 'OTHER' }] }], NextToken: 't2' })
      .resolvesOnce({ Metrics: [{ Dimensions: [{ Name: 'ReplicationInstanceIdentifier', Value: 'ri' }, { Name: 'ReplicationTaskIdentifier', Value: 'ABC123' }] }] });
    const dims = await discoverTaskDimensions(world.cloud(), 'ri', 'arn:aws:dms:us-east-1:1:task:ABC123');
    expect(dims).toEqual([{ Name: 'ReplicationInstanceIdentifier', Value: 'ri' }, { Name: 'ReplicationTaskIdentifier', Value: 'ABC123' }]);
    expect(cwMock.commandCalls(ListMetricsCommand)[1]?.args[0].input).toMatchObject({ NextToken: 't2', RecentlyActive: 'PT3H' });
    expect(arnResourceId('arn:aws:dms:us-east-1:1:task:ABC123')).toBe('ABC123');
  });

  test('one GetMetricData call reads both latencies; the newest point wins; missing data is undefined', async () => {
    const world = new World();
    world.install();
    const t = (s: number) => new Date(1_000_000 + s * 1000);
    cwMock.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'latency_source', Timestamps: [t(0), t(60)], Values: [40, 4] },
        { Id: 'latency_target', Timestamps: [], Values: [] },
      ],
    });
    const r = await readLatency(world.cloud(), [{ Name: 'A', Value: 'b' }], 60, 2_000_000);
    expect(r).toEqual({ source: 4, target: undefined, total: undefined });
    const req = cwMock.commandCalls(GetMetricDataCommand)[0]?.args[0].input;
    expect(req).toMatchObject({ StartTime: new Date(2_000_000 - 300_000), EndTime: new Date(2_000_000), ScanBy: 'TimestampDescending' });
    expect(req?.MetricDataQueries?.map((q) => [q.Id, q.MetricStat?.Period, q.MetricStat?.Stat])).toEqual([
      ['latency_source', 60, 'Maximum'],
      ['latency_target', 60, 'Maximum'],
    ]);
  });
});

describe('createAwsCloud', () => {
  test('real clients in the region with adaptive retries and ~10 attempts', async () => {
    const cloud = createAwsCloud({ region: 'eu-central-1', profile: 'ops' });
    expect(cloud.provider).toBe('aws');
    expect(cloud.region).toBe('eu-central-1');
    const config = (cloud.rds as unknown as { config: { region: () => Promise<string>; maxAttempts: () => Promise<number>; retryStrategy: () => Promise<{ mode: string }>; profile?: string } }).config;
    expect(await config.region()).toBe('eu-central-1');
    expect(await config.maxAttempts()).toBe(10);
    expect((await config.retryStrategy()).mode).toBe('adaptive');
    expect(config.profile).toBe('ops');
  });
});

describe('resource names', () => {
  test('are deterministic from the identifier and run id', () => {
    expect(resourceNames(testRunbook(), 'ab12cd34')).toEqual({
      snapshot: 'app-db-rekey-ab12cd34-snap',
      snapshotCopy: 'app-db-rekey-ab12cd34-copy',
      readReplica: 'app-db-rekey-ab12cd34-rr',
      targetCluster: 'app-db-rekey-ab12cd34',
      targetWriter: 'app-db-rekey-ab12cd34-w1',
      oldName: 'app-db-old-ab12cd34',
      slot: 'rekey_ab12cd34',
      publication: 'rekey_ab12cd34',
      subscription: 'rekey_ab12cd34_sub',
      sourceEndpoint: 'rekey-ab12cd34-src',
      targetEndpoint: 'rekey-ab12cd34-tgt',
      task: 'rekey-ab12cd34-cdc',
      replicationInstance: 'rekey-ri',
    });
  });

  test('long identifiers are trimmed to valid 63-char RDS identifiers that keep the run id', () => {
    const long = `a${'b-'.repeat(30)}cc`;
    const rb = testRunbook({ source: { engine: 'aurora-postgresql', identifier: long, database: 'd', username: 'u', password: { env: 'X' } } });
    const n = resourceNames(rb, 'zz99yy88');
    for (const id of [n.snapshot, n.targetCluster, n.targetWriter, n.oldName]) {
      expect(id.length).toBeLessThanOrEqual(63);
      expect(id).toMatch(/^[a-z][a-z0-9-]*[a-z0-9]$/);
      expect(id).not.toContain('--');
      expect(id).toContain('zz99yy88');
    }
    expect(() => resourceNames(rb, 'BAD')).toThrow(/8 lower-case/);
  });
});

describe('RDS pages', () => {
  test('listEvents sends StartTime and SourceType, follows Marker and returns the events oldest first', async () => {
    const world = new World();
    world.install();
    const start = new Date('2026-01-01T10:00:00Z');
    const at = (m: number) => new Date(start.getTime() + m * 60_000);
    rdsMock
      .on(DescribeEventsCommand)
      .resolvesOnce({ Events: [{ Message: 'b', Date: at(2) }, { Message: 'a', Date: at(1) }], Marker: 'm1' })
      .resolvesOnce({ Events: [{ Message: 'c', Date: at(3) }] });
    const events = await listEvents(world.cloud(), 'db-instance', 'w1', start);
    expect(events.map((e) => e.Message)).toEqual(['a', 'b', 'c']);
    expect(rdsMock.commandCalls(DescribeEventsCommand).map((c) => c.args[0].input)).toEqual([
      { SourceIdentifier: 'w1', SourceType: 'db-instance', StartTime: start },
      { SourceIdentifier: 'w1', SourceType: 'db-instance', StartTime: start, Marker: 'm1' },
    ]);
  });

  test('clusterParameters reads several names in one pass and stops paging once all are found', async () => {
    const world = new World();
    world.install();
    rdsMock
      .on(DescribeDBClusterParametersCommand)
      .resolvesOnce({ Parameters: [{ ParameterName: 'binlog_format', ParameterValue: 'ROW' }, { ParameterName: 'x', ParameterValue: '1' }], Marker: 'p2' })
      .resolvesOnce({ Parameters: [{ ParameterName: 'binlog_row_image' }], Marker: 'p3' })
      .resolvesOnce({ Parameters: [] });
    const values = await clusterParameters(world.cloud(), 'g', ['binlog_format', 'binlog_row_image']);
    expect([...values]).toEqual([['binlog_format', 'ROW'], ['binlog_row_image', undefined]]);
    expect(rdsMock.commandCalls(DescribeDBClusterParametersCommand)).toHaveLength(2);
  });
});
