// What `rekey rollback --discard` deletes, against the fake world (which refuses as RDS does: a snapshot that is not
// `available`, a database with deletion protection): a snapshot still being created (a runner killed inside the
// snapshot step) is waited for, then deleted; the restored database or clone that copied the source's deletion
// protection gets it lifted, only when it carries this run's rekey:run-id tag; every call is in the IAM policy.
import { DeleteDBClusterSnapshotCommand, DeleteDBSnapshotCommand, ModifyDBClusterCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import type { DBClusterSnapshot, DBSnapshot } from '@aws-sdk/client-rds';
import { commandResources, iamPolicy, isAllowed } from '../../src/estate/iam-policy.js';
import { buildFlow } from '../../src/flows/index.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { inputs, OLD_KEY, rdsMock, RUN_ID, runUntil, step, testRunbook, World } from './steps-world.js';

const pgInstance = (strategy: 'dms-cdc' | 'snapshot' = 'dms-cdc'): Runbook =>
  testRunbook({
    strategy,
    source: { engine: 'postgres', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'require', tables: { include: ['public.%'], exclude: [] } },
  });

/** Every RDS call the mock received is allowed by the runbook's generated policy. */
function expectAllowed(world: World): void {
  const { policy } = iamPolicy(world.runbook, { oldKeyArn: OLD_KEY });
  const calls = (rdsMock as unknown as { calls(): { args: [{ constructor: { name: string }; input: Record<string, unknown> }] }[] }).calls()
    .map((c) => ({ action: `rds:${c.args[0].constructor.name.replace(/Command$/, '')}`, input: c.args[0].input }));
  const denied = calls.filter((c) => !isAllowed(policy, c.action, commandResources('rds', c.action.slice(4), c.input, world.runbook.region, '111122223333')));
  expect(denied).toEqual([]);
}

describe('rollback --discard of a snapshot still being created', () => {
  test('Aurora: RDS refuses to delete it while creating; the undo waits for available, then deletes it once', async () => {
    const world = new World(testRunbook());
    world.install();
    const ctx = world.context();
    const id = ctx.services.names.snapshot;
    const creating: DBClusterSnapshot = { DBClusterSnapshotIdentifier: id, DBClusterIdentifier: 'app-db', Status: 'creating', PercentProgress: 0 };
    world.snapshots.set(id, creating);
    // Without the wait the deletion fails (what `rollback --discard` right after a kill inside the snapshot hit).
    await expect(ctx.services.cloud.rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: id }))).rejects.toMatchObject({ name: 'InvalidDBClusterSnapshotStateFault' });
    await step(buildFlow(world.runbook), 'snapshot').undo?.(ctx);
    expect(world.snapshots.has(id)).toBe(false);
    expect(world.timeline.filter((t) => t.startsWith('rds:DeleteDBClusterSnapshot'))).toEqual([`rds:DeleteDBClusterSnapshot ${id}`, `rds:DeleteDBClusterSnapshot ${id}`]);
    expect(world.events).toContain(`progress snapshot ${id}: creating, deleted once it is available`);
    expect(world.events).toContain(`info deleted snapshot ${id}`);
    expectAllowed(world);
  });

  test('RDS instance: the snapshot and its copy under the new key, both still in progress, are waited for and deleted', async () => {
    const world = new World(pgInstance());
    world.install();
    const ctx = world.context();
    const { snapshot, snapshotCopy } = ctx.services.names;
    world.dbSnapshots.set(snapshot, { DBSnapshotIdentifier: snapshot, DBInstanceIdentifier: 'app-db', Status: 'creating', PercentProgress: 0 } satisfies DBSnapshot);
    world.dbSnapshots.set(snapshotCopy, { DBSnapshotIdentifier: snapshotCopy, DBInstanceIdentifier: 'app-db', Status: 'pending', PercentProgress: 0 } satisfies DBSnapshot);
    await expect(ctx.services.cloud.rds.send(new DeleteDBSnapshotCommand({ DBSnapshotIdentifier: snapshotCopy }))).rejects.toMatchObject({ name: 'InvalidDBSnapshotStateFault' });
    const flow = buildFlow(world.runbook);
    await step(flow, 'copy-snapshot').undo?.(ctx);
    await step(flow, 'snapshot').undo?.(ctx);
    expect([...world.dbSnapshots.keys()]).toEqual([]);
    expect(world.events).toEqual(expect.arrayContaining([`info deleted snapshot ${snapshotCopy}`, `info deleted snapshot ${snapshot}`]));
    expectAllowed(world);
  });
});

describe('rollback --discard of the database this run made, which copied the source\'s deletion protection', () => {
  test.each(['clone', 'dms-cdc'] as const)('Aurora, strategy %s: lifted on the new cluster (tagged with this run), then the writer and the cluster deleted', async (strategy) => {
    const world = new World(testRunbook({ strategy }));
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    const id = ctx.services.names.targetCluster;
    expect(world.clusters.get(id)).toMatchObject({ DeletionProtection: true, TagList: expect.arrayContaining([{ Key: 'rekey:run-id', Value: RUN_ID }]) });
    await step(flow, 'restore').undo?.(ctx);
    expect(world.clusters.has(id)).toBe(false);
    expect(world.clusters.get('app-db')).toMatchObject({ DeletionProtection: true });
    expect(inputs(rdsMock, ModifyDBClusterCommand).filter((i) => i.DeletionProtection !== undefined)).toEqual([{ DBClusterIdentifier: id, DeletionProtection: false, ApplyImmediately: true }]);
    expect(world.events).toContain(`info lifted the deletion protection ${id} copied from the source (made by this run: rekey:run-id ${RUN_ID}) to delete it`);
    expectAllowed(world);
  });

  test('Aurora: a protected cluster with the name but not this run\'s tag is left alone, named', async () => {
    const world = new World(testRunbook({ strategy: 'clone' }));
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    const id = ctx.services.names.targetCluster;
    const cluster = world.clusters.get(id);
    if (cluster) cluster.TagList = [{ Key: 'rekey:run-id', Value: 'someone-else' }];
    await step(flow, 'restore').undo?.(ctx);
    expect(world.clusters.get(id)).toMatchObject({ DeletionProtection: true });
    expect(inputs(rdsMock, ModifyDBClusterCommand).filter((i) => i.DeletionProtection !== undefined)).toEqual([]);
    expect(world.events).toContain(`warn ${id} has deletion protection and no rekey:run-id tag of run ${RUN_ID}; leaving it for you to delete`);
  });

  test('RDS instance: lifted on the restored instance, then it is deleted', async () => {
    const world = new World(pgInstance());
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'restore');
    const id = ctx.services.names.targetCluster;
    expect(world.instances.get(id)).toMatchObject({ DeletionProtection: true });
    await step(flow, 'restore').undo?.(ctx);
    expect(world.instances.has(id)).toBe(false);
    expect(inputs(rdsMock, ModifyDBInstanceCommand).filter((i) => i.DeletionProtection !== undefined && i.DBInstanceIdentifier === id)).toEqual([{ DBInstanceIdentifier: id, DeletionProtection: false, ApplyImmediately: true }]);
    expectAllowed(world);
  });
});
