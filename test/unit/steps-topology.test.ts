// The Aurora topology steps' requests, against the fake world (aws-sdk-client-mock): the reader's CreateDBInstance
// with every setting of the source reader, the custom endpoint made on the new cluster under its pre-switch name, the
// old one deleted before the switch and its name made on the new cluster after it, and Aurora Auto Scaling registered
// again. Plus the read verdict of the rehearsal's read load.
import { describe, expect, test } from '@jest/globals';
import { PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CreateDBClusterEndpointCommand, CreateDBInstanceCommand, DeleteDBClusterEndpointCommand, DescribeGlobalClustersCommand, ModifyDBClusterEndpointCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { replay } from '../../src/engine/journal.js';
import { buildFlow, planFlow } from '../../src/flows/index.js';
import { summaryLines } from '../../src/present/summary-text.js';
import { readVerdict } from '../../src/rehearsal/workload/read-load.js';
import { runFindings } from '../../src/report/findings.js';
import { renderReport } from '../../src/report/markdown.js';
import { preflight } from '../../src/steps/preflight.js';
import { REPLICA_CLUSTER_LEFT, discoverAurora, replicaClustersOf } from '../../src/topology/aurora.js';
import { asMock, inputs, NEW_KEY, OLD_KEY, rdsMock, RUN_ID, runUntil, step, testRunbook, World } from './steps-world.js';

describe('Aurora topology steps', () => {
  test('the reader, the custom endpoint and Auto Scaling: exact requests, in order around the switch', async () => {
    const world = new World();
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'topology-endpoints');
    const target = world.names.targetCluster;
    expect(inputs(rdsMock, CreateDBInstanceCommand).find((i) => i.DBInstanceIdentifier === `${target}-r1`)).toEqual({
      DBInstanceIdentifier: `${target}-r1`, DBClusterIdentifier: target, Engine: 'aurora-postgresql', DBInstanceClass: 'db.r6g.large', AvailabilityZone: 'us-east-1c', PromotionTier: 2,
      DBParameterGroupName: 'app-pg15-instance', MonitoringInterval: 60, MonitoringRoleArn: 'arn:aws:iam::111122223333:role/rds-monitoring',
      // Performance Insights data was on the old storage key: on the new key now.
      EnablePerformanceInsights: true, PerformanceInsightsKMSKeyId: NEW_KEY, PerformanceInsightsRetentionPeriod: 7, AutoMinorVersionUpgrade: false, PubliclyAccessible: false,
      Tags: [{ Key: 'team', Value: 'payments' }, { Key: 'owner', Value: 'dba' }, { Key: 'rekey:run-id', Value: RUN_ID }],
    });
    expect(inputs(rdsMock, CreateDBClusterEndpointCommand)).toEqual([
      { DBClusterEndpointIdentifier: `app-db-analytics-rekey-${RUN_ID}`, DBClusterIdentifier: target, EndpointType: 'READER', StaticMembers: [`${target}-r1`], Tags: [{ Key: 'owner', Value: 'dba' }, { Key: 'rekey:run-id', Value: RUN_ID }] },
    ]);
    // A pre-switch endpoint whose members drifted is corrected, not made again.
    world.clusterEndpoints.get(`app-db-analytics-rekey-${RUN_ID}`)!.StaticMembers = [];
    ctx.outputs['topology-endpoints'] = await step(flow, 'topology-endpoints').run(ctx);
    expect(inputs(rdsMock, ModifyDBClusterEndpointCommand)).toEqual([{ DBClusterEndpointIdentifier: `app-db-analytics-rekey-${RUN_ID}`, EndpointType: 'READER', StaticMembers: [`${target}-r1`], ExcludedMembers: [] }]);
    expect(inputs(rdsMock, CreateDBClusterEndpointCommand)).toHaveLength(1);

    await runUntil(flow, ctx, 'topology-after-switch');
    const order = world.timeline.filter((t) => /ClusterEndpoint|ModifyDBCluster |ScalableTarget|ScalingPolicy/.test(t));
    expect(order).toEqual([
      `rds:CreateDBClusterEndpoint app-db-analytics-rekey-${RUN_ID} on ${target}`,
      `rds:ModifyDBClusterEndpoint app-db-analytics-rekey-${RUN_ID}`,
      // Fenced, just before the switch: the old name leaves the old cluster.
      'rds:DeleteDBClusterEndpoint app-db-analytics',
      `rds:ModifyDBCluster app-db -> ${world.names.oldName}`,
      `rds:ModifyDBCluster ${target} -> app-db`,
      'rds:CreateDBClusterEndpoint app-db-analytics on app-db',
      `rds:DeleteDBClusterEndpoint app-db-analytics-rekey-${RUN_ID}`,
      'application-autoscaling:RegisterScalableTarget cluster:app-db',
      'application-autoscaling:PutScalingPolicy cpu60',
    ]);
    expect(inputs(rdsMock, DeleteDBClusterEndpointCommand)).toEqual([{ DBClusterEndpointIdentifier: 'app-db-analytics' }, { DBClusterEndpointIdentifier: `app-db-analytics-rekey-${RUN_ID}` }]);
    expect(inputs(asMock, RegisterScalableTargetCommand)).toEqual([{ ServiceNamespace: 'rds', ResourceId: 'cluster:app-db', ScalableDimension: 'rds:cluster:ReadReplicaCount', MinCapacity: 1, MaxCapacity: 4 }]);
    expect(inputs(asMock, PutScalingPolicyCommand)).toEqual([{
      PolicyName: 'cpu60', ServiceNamespace: 'rds', ResourceId: 'cluster:app-db', ScalableDimension: 'rds:cluster:ReadReplicaCount', PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: { TargetValue: 60, PredefinedMetricSpecification: { PredefinedMetricType: 'RDSReaderAverageCPUUtilization' } },
    }]);
    // The gate listed the reader and the endpoint before the cutover.
    const gate = (await step(flow, 'before-fence').gate!.facts(ctx)) as Record<string, unknown>;
    expect(gate).toMatchObject({ readersOnNewCluster: `1/1: ${target}-r1`, customEndpointsReady: `1/1: app-db-analytics -> app-db-analytics-rekey-${RUN_ID}`, autoScalingAfterSwitch: 'cluster:app-db 1-4, 1 policy' });
  });

  test('inside the fence the old custom endpoint\'s deletion is only asked for; after the switch, or on rollback, rekey waits until AWS has deleted it', async () => {
    const world = new World();
    world.endpointDeletingDescribes = 3;
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'topology-release');
    // Not waited on: still listed, being deleted, when the switch begins.
    expect(world.clusterEndpoints.get('app-db-analytics')).toMatchObject({ DBClusterIdentifier: 'app-db', Status: 'deleting' });
    // Rolled back before the switch: the name comes back on the old cluster once AWS has finished deleting it.
    await step(flow, 'topology-release').undo!(ctx);
    expect(world.clusterEndpoints.get('app-db-analytics')).toMatchObject({ DBClusterIdentifier: 'app-db', Status: 'available', StaticMembers: ['app-db-r'] });
    // Run again and through the switch: topology-after-switch waits for the deletion, then makes the name on the new cluster.
    ctx.outputs['topology-release'] = await step(flow, 'topology-release').run(ctx);
    ctx.outputs.switch = await step(flow, 'switch').run(ctx);
    ctx.outputs['topology-after-switch'] = await step(flow, 'topology-after-switch').run(ctx);
    expect(world.clusterEndpoints.get('app-db-analytics')).toMatchObject({ DBClusterIdentifier: 'app-db', Status: 'available', StaticMembers: [`${world.names.targetCluster}-r1`] });
    expect(world.clusterEndpoints.get(`app-db-analytics-rekey-${RUN_ID}`)?.Status).toBe('deleting');
  });

  test('the read verdict counts reads the old server answered after the switch began, not before', () => {
    const stats = [{ name: 'reader endpoint', ok: 4, failed: 1, served: [{ at: 100, port: 5001 }, { at: 199, port: 5001 }, { at: 200, port: 5001 }, { at: 300, port: 5002 }] }];
    expect(readVerdict(stats, 5001, 200)).toEqual({ ok: 4, failed: 1, servedByOldAfterSwitch: 1, byEndpoint: { 'reader endpoint': { ok: 4, failed: 1, servedByOldAfterSwitch: 1 } } });
    expect(readVerdict(stats, 5001, undefined).servedByOldAfterSwitch).toBe(0);
  });
});

describe('cutover.renameInstances: the new instances keep the source instance names', () => {
  const renamesRunbook = () => testRunbook({ cutover: { maxLatencySeconds: 5, sustainSeconds: 3, drainTimeoutSeconds: 5, fenceTimeoutSeconds: 120, renameInstances: true } });

  test('old ones renamed away right after the switch, new ones into their names after the custom endpoints: exact requests, plan, gate, undo', async () => {
    const world = new World(renamesRunbook());
    world.install();
    const flow = buildFlow(world.runbook);
    const ids = flow.steps.map((s) => s.id);
    expect(ids.slice(ids.indexOf('topology-release'), ids.indexOf('verify'))).toEqual(['topology-release', 'switch', 'topology-park-instances', 'topology-after-switch', 'topology-instance-names', 'topology-global']);
    const ctx = world.context();
    await runUntil(flow, ctx, 'topology-instance-names');
    const target = world.names.targetCluster;
    const old = (name: string) => `${name}-old-${RUN_ID}`;
    expect(inputs(rdsMock, ModifyDBInstanceCommand)).toEqual([
      { DBInstanceIdentifier: 'app-db-w', NewDBInstanceIdentifier: old('app-db-w'), ApplyImmediately: true },
      { DBInstanceIdentifier: 'app-db-r', NewDBInstanceIdentifier: old('app-db-r'), ApplyImmediately: true },
      { DBInstanceIdentifier: `${target}-w1`, NewDBInstanceIdentifier: 'app-db-w', ApplyImmediately: true },
      { DBInstanceIdentifier: `${target}-r1`, NewDBInstanceIdentifier: 'app-db-r', ApplyImmediately: true },
    ]);
    const order = world.timeline.filter((t) => /ModifyDBInstance|ModifyDBCluster |ClusterEndpoint app-db-analytics /.test(t));
    expect(order).toEqual([
      `rds:ModifyDBCluster app-db -> ${world.names.oldName}`,
      `rds:ModifyDBCluster ${target} -> app-db`,
      `rds:ModifyDBInstance app-db-w -> ${old('app-db-w')}`,
      `rds:ModifyDBInstance app-db-r -> ${old('app-db-r')}`,
      'rds:CreateDBClusterEndpoint app-db-analytics on app-db',
      `rds:ModifyDBInstance ${target}-w1 -> app-db-w`,
      `rds:ModifyDBInstance ${target}-r1 -> app-db-r`,
    ]);
    // The names now name the new cluster's instances (the new key), the old ones carry -old-<run id>.
    expect(world.instances.get('app-db-w')).toMatchObject({ KmsKeyId: NEW_KEY });
    expect(world.instances.get('app-db-r')).toMatchObject({ KmsKeyId: NEW_KEY });
    expect(world.instances.has(old('app-db-w')) && world.instances.has(old('app-db-r'))).toBe(true);
    expect(ctx.outputs['topology-instance-names']).toEqual({ kept: ['app-db-w', 'app-db-r'] });
    expect(world.clusterEndpoints.get('app-db-analytics')?.StaticMembers).toEqual(['app-db-r']);
    // Plan and gate: each rename listed; the gate says the names move after the switch.
    const plan = planFlow(flow, ctx).filter((e) => e.id.startsWith('topology-') && /instance/.test(e.id)).flatMap((e) => e.actions.filter((a) => a.target === 'rds:ModifyDBInstance').map((a) => a.summary));
    expect(plan).toEqual([
      `rename old writer app-db-w -> ${old('app-db-w')} (its instance endpoint stops answering for the fenced old cluster)`,
      `rename old reader app-db-r -> ${old('app-db-r')} (its instance endpoint stops answering for the fenced old cluster)`,
      `rename new writer ${target}-w1 -> app-db-w (AWS reboots it: writes through the cluster endpoint pause briefly, outside the fence)`,
      `rename new reader ${target}-r1 -> app-db-r`,
    ]);
    const gate = (await step(flow, 'before-fence').gate!.facts(ctx)) as Record<string, unknown>;
    expect(gate.instanceNamesAfterSwitch).toBe(`app-db-w <- ${target}-w1, app-db-r <- ${target}-r1 (outside the fence; the new writer reboots once: writes pause briefly)`);
    expect(gate.customEndpointDeleteSeconds).toBe(1);
    // Rollback, newest step first: the new instances get their rekey names back, then the old ones their names.
    await step(flow, 'topology-instance-names').undo!(ctx);
    await step(flow, 'topology-after-switch').undo!(ctx);
    await step(flow, 'topology-park-instances').undo!(ctx);
    expect(world.instances.get('app-db-w')?.KmsKeyId).toBeUndefined();
    expect(world.instances.get(`${target}-w1`)?.KmsKeyId).toBe(NEW_KEY);
    expect(world.instances.get(`${target}-r1`)?.KmsKeyId).toBe(NEW_KEY);
    expect([...world.instances.keys()].filter((k) => k.includes('-old-'))).toEqual([]);
  });

  test('a kill between the two renames of a pair: the re-run finishes it; custom endpoint members are set when AWS did not carry them', async () => {
    const world = new World(renamesRunbook());
    world.endpointMembersFollowRenames = false;
    world.install();
    const flow = buildFlow(world.runbook);
    const ctx = world.context();
    await runUntil(flow, ctx, 'topology-after-switch');
    const target = world.names.targetCluster;
    // Killed after the new writer's rename call: the writer pair is done, the reader's old name is parked, its new one not taken.
    await ctx.services.cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: `${target}-w1`, NewDBInstanceIdentifier: 'app-db-w', ApplyImmediately: true }));
    const before = inputs(rdsMock, ModifyDBInstanceCommand).length;
    ctx.outputs['topology-instance-names'] = await step(flow, 'topology-instance-names').run(ctx);
    expect(inputs(rdsMock, ModifyDBInstanceCommand).slice(before)).toEqual([{ DBInstanceIdentifier: `${target}-r1`, NewDBInstanceIdentifier: 'app-db-r', ApplyImmediately: true }]);
    expect(inputs(rdsMock, ModifyDBClusterEndpointCommand).at(-1)).toEqual({ DBClusterEndpointIdentifier: 'app-db-analytics', EndpointType: 'READER', StaticMembers: ['app-db-r'], ExcludedMembers: [] });
    // A re-run finds everything in place: nothing more.
    const after = inputs(rdsMock, ModifyDBInstanceCommand).length;
    await step(flow, 'topology-instance-names').run(ctx);
    expect(inputs(rdsMock, ModifyDBInstanceCommand)).toHaveLength(after);
  });

  test('off by default: no instance step in the flow; RDS DB instances are not affected', () => {
    expect(buildFlow(testRunbook()).steps.map((s) => s.id)).not.toContain('topology-park-instances');
    const rds = testRunbook({ source: { engine: 'postgres', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } }, cutover: { renameInstances: true } });
    expect(buildFlow(rds).steps.map((s) => s.id).filter((id) => id.includes('instance'))).toEqual([]);
  });
});

describe('Aurora read replica clusters (binlog replication): found, said, never silently left behind', () => {
  const EU = 'arn:aws:rds:eu-west-1:111122223333:cluster:app-db-eu';
  const SECONDARY = 'arn:aws:rds:ap-southeast-2:111122223333:cluster:app-db-syd';

  test('preflight warns and the plan says it is not recreated; the run\'s topology, summary and report say the same', async () => {
    const world = new World();
    world.install();
    world.clusters.get('app-db')!.ReadReplicaIdentifiers = [EU];
    const report = await preflight.run(world.context());
    expect(report.topology?.found.replicaClusters).toEqual([{ identifier: 'app-db-eu', region: 'eu-west-1', ref: EU }]);
    expect(report.topology?.plan).toContain(`read replica cluster app-db-eu (eu-west-1, binlog replication): ${REPLICA_CLUSTER_LEFT}`);
    expect(report.warnings).toContainEqual(expect.stringMatching(/^source\.replica_clusters: app-db has read replica cluster app-db-eu \(eu-west-1\): NOT recreated by rekey/));

    const readers = { topology: report.topology!.found, available: [`${world.names.targetCluster}-r1`] };
    const state = replay([{ t: 'step_succeeded', at: '2026-01-01T00:00:00.000Z', stepId: 'topology-readers', output: readers, durationMs: 1 }], ['topology-readers']);
    const findings = runFindings(state);
    expect(findings.topology).toMatchObject({
      readers: { expected: 1, recreated: 1 },
      replicas: { expected: 1, recreated: 0, regions: [{ region: 'eu-west-1', identifier: 'app-db-eu', recreated: false }] },
      regionsWithoutReplica: ['eu-west-1'],
    });
    expect(summaryLines({ ok: true, ...findings }).join('\n')).toContain('1 read replica cluster(s) NOT recreated by rekey (binlog replication): app-db-eu (eu-west-1)');
    const md = renderReport({ runId: RUN_ID, runbook: world.runbook, outcome: { status: 'succeeded' }, state, summary: { ...findings }, steps: [{ id: 'topology-readers', title: 'readers' }] });
    expect(md).toContain('  - eu-west-1: `app-db-eu`, **read replica cluster (binlog replication): not recreated by rekey**');
    expect(md).toContain('- **Regions without a replica**: eu-west-1');
  });

  test('the encryption evidence lists the replica cluster left behind, read back with the key it still has', async () => {
    const world = new World();
    world.install();
    const arn = 'arn:aws:rds:us-east-1:111122223333:cluster:app-db-ro';
    world.clusters.set('app-db-ro', { DBClusterIdentifier: 'app-db-ro', DBClusterArn: arn, Status: 'available', KmsKeyId: OLD_KEY, ReplicationSourceIdentifier: world.clusters.get('app-db')!.DBClusterArn });
    world.clusters.get('app-db')!.ReadReplicaIdentifiers = [arn];
    const ctx = world.context();
    await runUntil(buildFlow(world.runbook), ctx, 'verify');
    const verified = ctx.outputs.verify as { evidence: { resources: { kind: string; role: string; identifier: string; kmsKeyId?: string }[] } };
    expect(verified.evidence.resources.filter((r) => r.identifier === 'app-db-ro')).toEqual([
      { kind: 'cluster', role: 'read replica cluster in us-east-1 (binlog replication from the old cluster; NOT recreated by rekey)', identifier: 'app-db-ro', region: 'us-east-1', arn, kmsKeyId: OLD_KEY },
    ]);
  });

  test('a global database\'s secondary listed among the replicas is left to topology-global; none: replicas 0 of 0, no report section', async () => {
    const world = new World();
    world.install();
    const source = { ...world.clusters.get('app-db')!, ReadReplicaIdentifiers: [SECONDARY, EU] };
    rdsMock.on(DescribeGlobalClustersCommand).resolves({
      GlobalClusters: [{ GlobalClusterIdentifier: 'app-global', GlobalClusterMembers: [{ DBClusterArn: source.DBClusterArn, IsWriter: true }, { DBClusterArn: SECONDARY, IsWriter: false }] }],
    });
    expect(await replicaClustersOf(world.context().services.cloud, source, 'us-east-1')).toEqual([{ identifier: 'app-db-eu', region: 'eu-west-1', ref: EU }]);
    expect(await replicaClustersOf(world.context().services.cloud, { ...source, ReadReplicaIdentifiers: [] }, 'us-east-1')).toEqual([]);

    const found = await discoverAurora(world.context().services.cloud, { ...source, ReadReplicaIdentifiers: [] }, { targetWriter: 'w', reader: (n) => `r${n}`, temporaryEndpoint: (n) => `${n}-t` }, 'us-east-1');
    expect(found.replicaClusters).toBeUndefined();
    const state = replay([{ t: 'step_succeeded', at: '2026-01-01T00:00:00.000Z', stepId: 'topology-readers', output: { topology: found, available: [] }, durationMs: 1 }], ['topology-readers']);
    const findings = runFindings(state);
    expect(findings.topology?.replicas).toEqual({ expected: 0, recreated: 0, regions: [] });
    expect(findings.topology?.regionsWithoutReplica).toEqual([]);
    expect(summaryLines({ ok: true, ...findings }).join('\n')).not.toContain('replica');
  });
});
