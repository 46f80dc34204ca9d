// The Aurora topology steps' requests, against the fake world (aws-sdk-client-mock): the reader's CreateDBInstance
// with every setting of the source reader, the custom endpoint made on the new cluster under its pre-switch name, the
// old one deleted before the switch and its name made on the new cluster after it, and Aurora Auto Scaling registered
// again. Plus the read verdict of the rehearsal's read load.
import { describe, expect, test } from '@jest/globals';
import { PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { CreateDBClusterEndpointCommand, CreateDBInstanceCommand, DeleteDBClusterEndpointCommand, ModifyDBClusterEndpointCommand } from '@aws-sdk/client-rds';
import { buildFlow } from '../../src/flows/index.js';
import { readVerdict } from '../../src/rehearsal/workload/read-load.js';
import { asMock, inputs, NEW_KEY, rdsMock, RUN_ID, runUntil, step, World } from './steps-world.js';

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

  test('the read verdict counts reads the old server answered after the switch began, not before', () => {
    const stats = [{ name: 'reader endpoint', ok: 4, failed: 1, served: [{ at: 100, port: 5001 }, { at: 199, port: 5001 }, { at: 200, port: 5001 }, { at: 300, port: 5002 }] }];
    expect(readVerdict(stats, 5001, 200)).toEqual({ ok: 4, failed: 1, servedByOldAfterSwitch: 1, byEndpoint: { 'reader endpoint': { ok: 4, failed: 1, servedByOldAfterSwitch: 1 } } });
    expect(readVerdict(stats, 5001, undefined).servedByOldAfterSwitch).toBe(0);
  });
});
