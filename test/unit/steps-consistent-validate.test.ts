// Consistent-point validation before the cutover gate, the O(changes) checks inside the cutover fence, the fence
// time box's rewind to a stopped task, and preflight's refusal of a plan that cannot fit in the time box.
import { DescribeTableStatisticsCommand, StartReplicationTaskCommand } from '@aws-sdk/client-database-migration-service';
import { ModifyDBClusterCommand } from '@aws-sdk/client-rds';
import { makeSafe } from '../../src/engine/compensation.js';
import { StepError } from '../../src/engine/types.js';
import { buildFlow } from '../../src/flows/index.js';
import { describeRange, differingKeys, digestJobs, digestRanges, integerRanges, planTable, rangesFromBounds } from '../../src/steps/consistent-validate.js';
import type { SnapshotReader, TableRef } from '../../src/db/types.js';
import type { ConsistentValidationOutput } from '../../src/steps/consistent-validate.js';
import { runPreflight } from '../../src/steps/preflight.js';
import { dmsMock, inputs, rdsMock, runUntil, step, testRunbook, World } from './steps-world.js';

let world: World;
beforeEach(() => {
  world = new World(testRunbook({ validation: { checksums: true, chunkRows: 1000, concurrency: 2 } }));
  world.rows.source.set('public.orders', 5000);
  world.rows.target.set('public.orders', 5000);
  world.install();
});

describe('key ranges', () => {
  test('an integer key is cut by value into ranges open at both ends', () => {
    expect(integerRanges(1n, 5000n, 1000)).toEqual([
      { to: ['1001'] },
      { from: ['1001'], to: ['2001'] },
      { from: ['2001'], to: ['3001'] },
      { from: ['3001'], to: ['4001'] },
      { from: ['4001'] },
    ]);
    expect(integerRanges(7n, 7n, 1000)).toEqual([{}]);
    expect(rangesFromBounds([['a', '1'], ['b', '2']])).toEqual([{ to: ['a', '1'] }, { from: ['a', '1'], to: ['b', '2'] }, { from: ['b', '2'] }]);
  });

  test('ranges and differing keys read as people write them', () => {
    expect(describeRange(['id'], { from: ['1001'], to: ['2001'] })).toBe('id in [1001, 2001)');
    expect(describeRange(['id'], { to: ['1001'] })).toBe('id < 1001');
    expect(describeRange(['a', 'b'], { from: ['x', '1'] })).toBe('(a, b) >= (x, 1)');
    const source = new Map([['[1]', 'h1'], ['[2]', 'h2'], ['[3]', 'h3']]);
    const target = new Map([['[1]', 'h1'], ['[2]', 'zz'], ['[4]', 'h4']]);
    expect(differingKeys(source, target, 5)).toEqual(['[2] differs', '[3] missing on the target', '[4] only on the target']);
    expect(differingKeys(source, target, 1)).toEqual(['[2] differs']);
  });
});

describe('the compare\'s jobs', () => {
  const plan = (name: string, ranges: number, estimatedRows: number | undefined, key = true) => ({
    table: { schema: 'public', name },
    name: `public.${name}`,
    hash: true,
    ...(estimatedRows !== undefined ? { estimatedRows } : {}),
    ...(key ? { key: ['id'] } : {}),
    ranges: key ? integerRanges(1n, BigInt(ranges * 1000), 1000) : [{}],
  });

  test('a table is read in one pass unless it holds more than a pair\'s share; the largest jobs go first', () => {
    const big = plan('big', 10, 1_000_000);
    const small = plan('small', 1, 10_000);
    const bag = plan('bag', 1, 300_000, false);
    const jobs = digestJobs([small, big, bag], 2, 1000);
    // 1.31M rows over 2 pairs: a share of 655k, so big (1M) is read in 2 passes of 5 ranges each.
    expect(jobs.map((j) => [j.plan.name, j.first, j.last, j.size])).toEqual([
      ['public.big', 0, 4, 500_000],
      ['public.big', 5, 9, 500_000],
      ['public.bag', 0, 0, 300_000],
      ['public.small', 0, 0, 10_000],
    ]);
    // One pair: every table whole. Without statistics, ranges x chunkRows stand in for the rows.
    expect(digestJobs([small, big, bag], 1, 1000).map((j) => [j.plan.name, j.first, j.last])).toEqual([
      ['public.big', 0, 9],
      ['public.bag', 0, 0],
      ['public.small', 0, 0],
    ]);
    expect(digestJobs([plan('a', 4, undefined), plan('b', 2, undefined)], 2, 1000).map((j) => [j.plan.name, j.first, j.last, j.size])).toEqual([
      ['public.a', 0, 1, 2000],
      ['public.a', 2, 3, 2000],
      ['public.b', 0, 1, 2000],
    ]);
  });

  test('a segment that matches is one read per side; one that differs is read again range by range, on the same snapshots', async () => {
    const reads: string[] = [];
    const counted = (side: 'source' | 'target'): SnapshotReader => {
      const r = world.snapshotReader(side);
      return { ...r, digest: (t: TableRef, hash, on) => (reads.push(`${side} ${on ? describeRange(on.key, on.range) : 'whole'}`), r.digest(t, hash, on)) };
    };
    const pairs = [{ source: counted('source'), target: counted('target') }, { source: counted('source'), target: counted('target') }];
    await Promise.all(pairs.flatMap((p) => [p.source.begin(), p.target.begin()]));
    const orders = { schema: 'public', name: 'orders' };
    const p = await planTable(pairs[0]!.source, orders, true, 1000, 5000, pairs[0]!.target);
    expect(p.ranges).toHaveLength(5);
    // After the snapshots began: not seen.
    world.corrupt.target.add('public.orders:4500');
    const clean = await digestRanges(pairs, [p], undefined, 1000);
    expect(reads.filter((r) => r.startsWith('source')).sort()).toEqual(['source id < 2001', 'source id >= 2001']);
    expect(clean.get(p)!.map((d) => d.range)).toEqual([{ to: ['2001'] }, { from: ['2001'] }]);

    reads.length = 0;
    const later = [{ source: counted('source'), target: counted('target') }, { source: counted('source'), target: counted('target') }];
    await Promise.all(later.flatMap((x) => [x.source.begin(), x.target.begin()]));
    const progress: number[] = [];
    const digests = (await digestRanges(later, [p], (_rows, ranges) => progress.push(ranges), 1000)).get(p)!;
    // The second segment differs: its three ranges are read again one by one; the differing one is named.
    expect(reads.filter((r) => r.startsWith('target')).sort()).toEqual(['target id < 2001', 'target id >= 2001', 'target id >= 4001', 'target id in [2001, 3001)', 'target id in [3001, 4001)']);
    expect(digests.map((d) => [describeRange(['id'], d.range), d.source.rows, d.source.sum === d.target.sum])).toEqual([
      ['id < 2001', 2000, true],
      ['id in [2001, 3001)', 1000, true],
      ['id in [3001, 4001)', 1000, true],
      ['id >= 4001', 1000, false],
    ]);
    expect(progress.sort()).toEqual([2, 5]);
  });
});

describe('consistent-validate', () => {
  test('fences briefly, opens snapshots on both sides at the drained point, unfences, then compares by range', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    const out = (await step(flow, 'consistent-validate').run(ctx)) as ConsistentValidationOutput;
    // Two connections per side, each in its own snapshot transaction.
    expect(world.snapshotsBegun).toEqual({ source: 2, target: 2 });
    // Unfenced, a sentinel reaches the target first (CDC caught up), so the brief fence's drain finds no backlog.
    // Fenced, drained, unfenced: the writer roles can log in again. After the compare, unfenced, one more sentinel
    // must reach the target (CDC caught up again), so the cutover's drain finds no backlog.
    expect(world.timeline.filter((e) => /^source:(fence|unfence|writeSentinel)/.test(e)).map((e) => e.replace(/writeSentinel .*/, 'writeSentinel'))).toEqual([
      'source:writeSentinel',
      'source:fence app,reporting',
      'source:writeSentinel',
      'source:unfence app,reporting',
      'source:writeSentinel',
    ]);
    expect(out.caughtUpMs).toEqual(expect.any(Number));
    expect(world.events.some((e) => /^metric consistent-point\.catch-up\.ms=\d+$/.test(e))).toBe(true);
    expect(world.events.some((e) => /^metric consistent-point\.catch-up-before\.ms=\d+$/.test(e))).toBe(true);
    expect(world.roles.get('app')).toBe(true);
    expect(out).toMatchObject({ tables: 2, mismatched: 0, rows: 5040, keyless: ['public.items'], applyExceptions: 0, applied: { 'public.orders': { applied: 10 } } });
    expect(out.results.find((r) => r.table === 'public.orders')).toMatchObject({ ranges: 5, sourceRows: 5000, targetRows: 5000, checksumMatch: true, matches: true });
    expect(out.results.find((r) => r.table === 'public.items')).toMatchObject({ ranges: 1, keyless: true, matches: true });
    expect(world.events).toContain('info public.items has no primary key: compared as a whole table, not by range');
    expect(world.events.some((e) => /^metric consistent-point\.window\.ms=\d+$/.test(e))).toBe(true);
    expect(world.events.some((e) => /^progress consistent-point validation: 6\/6 ranges, 5040 rows$/.test(e))).toBe(true);
    // The gate shows it.
    const facts = await step(flow, 'before-fence').gate!.facts({ ...ctx, outputs: { ...ctx.outputs, 'consistent-validate': out } });
    expect(facts).toMatchObject({ tablesEqualAtConsistentPoint: '2/2', rowsCompared: 5040, comparedWholeWithoutPrimaryKey: 'public.items' });
  });

  test('a corrupted target row fails the step before the gate, naming the table, the key range and the key', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    world.corrupt.target.add('public.orders:2500');
    const err = (await step(flow, 'consistent-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err).toBeInstanceOf(StepError);
    expect(err.kind).toBe('fatal');
    expect(err.message).toMatch(/^consistent-point validation failed: 1 of 2 tables differ between the source and the target at .*; the cutover is not offered$/);
    expect(err.details.slice(0, 2)).toEqual([
      'public.orders: source 5000 rows, target 5000 rows, checksums differ',
      '  public.orders id in [2001, 3001): source 1000 rows, target 1000 rows, checksums differ; keys: [2500] differs',
    ]);
    // The brief fence was lifted all the same, and nothing of the cutover happened.
    expect(world.roles.get('app')).toBe(true);
    expect(inputs(rdsMock, ModifyDBClusterCommand)).toHaveLength(0);
  });

  test('a change after the consistent point is not seen: the comparison reads the snapshots', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    const reader = world.snapshotReader('target');
    await reader.begin();
    world.rows.target.set('public.orders', 5001);
    expect(await reader.digest({ schema: 'public', name: 'orders' }, false)).toEqual({ rows: 5000 });
  });

  test('killed inside its brief fence: the engine lifts it from what the step journaled, and catch-up runs again', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    // The roles as the brief fence journals them, then fenced; the process dies before it unfences.
    const before = await step(flow, 'fence').run(ctx);
    expect(world.roles.get('app')).toBe(false);
    const fresh = buildFlow(world.runbook);
    const { fence: _f, ...outputs } = ctx.outputs;
    const resumed = { ...ctx, outputs, checkpoints: { 'consistent-validate': { before, lifted: false } } };
    expect(await step(fresh, 'consistent-validate').inEffect!(resumed)).toBe(true);
    expect(await step(fresh, 'fence').inEffect!(resumed)).toBe(false);
    const reverted = await makeSafe(fresh, resumed, 'consistent-validate');
    expect(world.roles.get('app')).toBe(true);
    expect(reverted).toEqual(['catch-up', 'validate']);
    // Once lifted (journaled), it is no longer in effect.
    expect(await step(fresh, 'consistent-validate').inEffect!({ ...resumed, checkpoints: { 'consistent-validate': { before, lifted: true } } })).toBe(false);
  });

  test('once it succeeded its brief fence is no guard: a failing before-fence hook rewinds nothing', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'consistent-validate');
    expect(await step(flow, 'consistent-validate').inEffect!(ctx)).toBe(false);
    expect(await makeSafe(flow, ctx, 'before-fence')).toEqual([]);
    expect(world.roles.get('app')).toBe(true);
  });

  test('a drain that never arrives unfences and goes back to catch-up', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'validate');
    world.sentinelArrives = false;
    const err = (await step(flow, 'consistent-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err).toMatchObject({ kind: 'retryable', retryFrom: 'catch-up' });
    expect(world.roles.get('app')).toBe(true);
    expect(world.snapshotsBegun).toEqual({ source: 0, target: 0 });
  });
});

describe('final-validate inside the cutover fence', () => {
  test('by default only what changed since the consistent point: statistics and apply exceptions, no table read', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    world.tableStatistics = [{ SchemaName: 'public', TableName: 'orders', AppliedInserts: 25, AppliedUpdates: 5, AppliedDeletes: 0, TableState: 'Table completed' }];
    // A count inside the fence would see this; the O(changes) check must not count.
    world.rows.target.set('public.items', 39);
    const out = await step(flow, 'final-validate').run(ctx);
    expect(out).toMatchObject({ final: 'none', tables: 2, mismatched: 0, changesSincePoint: 20, applyExceptionsSincePoint: 0 });
    expect(inputs(dmsMock, DescribeTableStatisticsCommand).length).toBeGreaterThanOrEqual(2);
  });

  test('an apply exception or a table in error since the consistent point fails the cutover', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    world.rows.target.set('public.awsdms_apply_exceptions', 2);
    const err = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err.kind).toBe('fatal');
    expect(err.details).toEqual(['DMS logged 2 apply exceptions on the target since the consistent point (public.awsdms_apply_exceptions): changes were not applied']);
    world.rows.target.delete('public.awsdms_apply_exceptions');
    world.tableStatistics = [{ SchemaName: 'public', TableName: 'orders', AppliedInserts: 10, AppliedUpdates: 0, AppliedDeletes: 0, TableState: 'Table error' }];
    const err2 = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    expect(err2.details).toEqual(['public.orders: DMS reports the table in error (TableState Table error)']);
  });

  test('validation.final: counts counts inside the fence, and the plan shows the predicted cost', async () => {
    world = new World(testRunbook({ validation: { final: 'counts' } }));
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    const plan = step(flow, 'final-validate').describe(ctx);
    expect(plan.find((a) => /validation.final: counts/.test(a.summary))?.detail).toMatch(/^predicted 1 s of write downtime for about 8000040 rows$/);
    world.rows.target.set('public.items', 39);
    await expect(step(flow, 'final-validate').run(ctx)).rejects.toThrow(/final validation failed: 1 of 2 tables differ/);
  });
});

describe('the fence time box', () => {
  test('spent after the task was stopped: the rewind resumes the task from its recorded position', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    world.now += 121_000;
    const err = (await step(flow, 'final-validate').run(ctx).catch((e: unknown) => e)) as StepError;
    // The step says catch-up; the engine's safety data sends a run whose task was stopped to start-cdc first.
    expect(err).toMatchObject({ kind: 'retryable' });
    const reverted = await makeSafe(flow, ctx, 'final-validate');
    expect(world.roles.get('app')).toBe(true);
    expect(reverted[0]).toBe('start-cdc');
    for (const id of reverted) delete ctx.outputs[id];
    const started = await step(flow, 'start-cdc').run(ctx);
    expect(started).toMatchObject({ startType: 'resume-processing' });
    expect(inputs<{ StartReplicationTaskType: string }>(dmsMock, StartReplicationTaskCommand).at(-1)).toMatchObject({ StartReplicationTaskType: 'resume-processing' });
    await expect(step(flow, 'catch-up').run(ctx)).resolves.toMatchObject({ latencySeconds: 3 });
  });

  test('a stop-task failure also rewinds to start-cdc (the task may be stopped half-way)', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'drain');
    const reverted = await makeSafe(flow, ctx, 'stop-task');
    expect(reverted[0]).toBe('start-cdc');
  });

  test('every statement inside the fence runs with a timeout from what is left of the time box', async () => {
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'stop-task');
    world.opened.length = 0;
    world.now += 100_000;
    await step(flow, 'final-validate').run(ctx);
    await step(flow, 'fix-sequences').run(ctx);
    const timeouts = world.opened.map((e) => e.statementTimeoutMs);
    expect(timeouts.length).toBeGreaterThan(0);
    expect(timeouts.every((t) => t !== undefined && t <= 20_000)).toBe(true);
  });

  test('preflight refuses a plan whose fenced part cannot fit in cutover.fenceTimeoutSeconds', async () => {
    world = new World(testRunbook({ validation: { final: 'counts' }, cutover: { fenceTimeoutSeconds: 30 } }));
    world.install();
    const report = await runPreflight(world.context());
    // The world's source has a custom endpoint: asking for its deletion inside the fence is counted (1 s on AWS).
    expect(report.problems.find((p) => p.startsWith('cutover.fence_time_box'))).toMatch(/predicted at 36\.5 s .*1 s asking for the old custom endpoints' deletion\), over cutover.fenceTimeoutSeconds \(30 s\).*validation.final: none/);
    world = new World(testRunbook({ cutover: { fenceTimeoutSeconds: 70 } }));
    world.install();
    const ok = await runPreflight(world.context());
    expect(ok.problems.filter((p) => p.startsWith('cutover.fence_time_box'))).toEqual([]);
  });
});
