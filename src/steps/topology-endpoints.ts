// The custom endpoints and Aurora Auto Scaling around the switch. A custom endpoint cannot be renamed and belongs to one
// cluster, so its name moves by delete and create:
//   topology-endpoints (before the gate): each one made on the new cluster under a pre-switch name, members mapped
//     onto the new instances, so the gate can show them ready;
//   topology-release (fenced, just before the switch): the old cluster's endpoints are deleted (asked for, not waited
//     on: how long AWS takes is not documented, and the write window must not carry it), so no client keeps reading the
//     old cluster through them after the switch (their reads fail until the name is back);
//   topology-after-switch: the original names created on the new cluster (now answering to the source identifier),
//     the pre-switch ones deleted; Aurora Auto Scaling registered again for cluster:<source identifier>.
// Every part finds what an earlier attempt did, by name, and ModifyDBClusterEndpoint corrects members that differ.
import { PutScalingPolicyCommand, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import type { PutScalingPolicyCommandInput } from '@aws-sdk/client-application-auto-scaling';
import { CreateDBClusterEndpointCommand, DeleteDBClusterEndpointCommand, ModifyDBClusterEndpointCommand } from '@aws-sdk/client-rds';
import type { DBClusterEndpoint } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { poll } from '../aws/poll.js';
import { findCluster, pollTiming } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { findCustomEndpoint, READ_REPLICA_COUNT } from '../topology/aurora.js';
import type { AutoScalingSpec, CustomEndpointSpec } from '../topology/aurora.js';
import { checkAborted, newKeyArn, rekeyTags, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import type { RekeyServices } from './services.js';
import type { TopologyAfterSwitchOutput, TopologyEndpointsOutput, TopologyReleaseOutput } from './outputs.js';
import { runTopology } from './topology-readers.js';

const sameSet = (a: readonly string[] | undefined, b: readonly string[]): boolean => {
  const x = [...(a ?? [])].map((s) => s.toLowerCase()).sort();
  const y = [...b].map((s) => s.toLowerCase()).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

/** The members a custom endpoint gets on a cluster: the new ones, or (back on the old cluster) the original ones. */
function members(e: CustomEndpointSpec, side: 'new' | 'old'): { StaticMembers?: string[]; ExcludedMembers?: string[] } {
  const s = side === 'new' ? e.newStaticMembers : e.staticMembers;
  const x = side === 'new' ? e.newExcludedMembers : e.excludedMembers;
  return s.length > 0 ? { StaticMembers: s } : x.length > 0 ? { ExcludedMembers: x } : {};
}

/** Whether a cluster identifier names the cluster under the new key (so which side an endpoint is on is told by the key). */
async function isNewCluster(ctx: Ctx, clusterId: string | undefined): Promise<boolean> {
  if (!clusterId) return false;
  const c = await findCluster(ctx.services.cloud, clusterId);
  return c !== undefined && c.KmsKeyId === (await newKeyArn(ctx));
}

/** Makes `name` on `clusterId` with the members of `side`; an existing one with other members is modified. Idempotent. */
async function ensureEndpoint(ctx: Ctx, name: string, clusterId: string, e: CustomEndpointSpec, side: 'new' | 'old'): Promise<void> {
  const { cloud } = ctx.services;
  const want = members(e, side);
  const found = await findCustomEndpoint(cloud, name);
  if (!found) {
    await call(`rds:CreateDBClusterEndpoint ${name}`, () =>
      cloud.rds.send(new CreateDBClusterEndpointCommand({ DBClusterEndpointIdentifier: name, DBClusterIdentifier: clusterId, EndpointType: e.type, ...want, Tags: rekeyTags(ctx) })),
    );
    crashPoint('topology:after-endpoint-create');
    ctx.report.log('info', `custom endpoint ${name} created on ${clusterId}`);
    return;
  }
  const sameMembers = sameSet(found.StaticMembers, want.StaticMembers ?? []) && (want.StaticMembers ? true : sameSet(found.ExcludedMembers, want.ExcludedMembers ?? []));
  if (found.CustomEndpointType !== e.type || !sameMembers) {
    await call(`rds:ModifyDBClusterEndpoint ${name}`, () =>
      cloud.rds.send(new ModifyDBClusterEndpointCommand({ DBClusterEndpointIdentifier: name, EndpointType: e.type, StaticMembers: want.StaticMembers ?? [], ExcludedMembers: want.ExcludedMembers ?? [] })),
    );
    ctx.report.log('info', `custom endpoint ${name}: members set to ${JSON.stringify(want)}`);
  }
}

async function waitEndpoint(ctx: Ctx, name: string, gone: boolean): Promise<DBClusterEndpoint | undefined> {
  return poll({
    what: `custom endpoint ${name} ${gone ? 'deleted' : 'available'}`,
    observe: () => findCustomEndpoint(ctx.services.cloud, name),
    classify: (e) => (gone ? (e ? { state: 'retry', note: e.Status ?? '?' } : { state: 'success' }) : e?.Status === 'available' ? { state: 'success' } : { state: 'retry', note: e?.Status ?? 'not visible yet' }),
    onRetry: (e) => ctx.report.progress(`custom endpoint ${name}: ${e?.Status ?? (gone ? 'gone' : 'not visible yet')}`),
    ...pollTiming(waitEnv(ctx, gone)),
  });
}

async function deleteEndpoint(ctx: Ctx, name: string): Promise<boolean> {
  if (!(await findCustomEndpoint(ctx.services.cloud, name))) return false;
  await call(`rds:DeleteDBClusterEndpoint ${name}`, () => ctx.services.cloud.rds.send(new DeleteDBClusterEndpointCommand({ DBClusterEndpointIdentifier: name })));
  return true;
}

const endpointsOf = (ctx: Ctx): CustomEndpointSpec[] => runTopology(ctx)?.customEndpoints ?? [];

export const topologyEndpoints: Step<RekeyServices, TopologyEndpointsOutput> = {
  id: 'topology-endpoints',
  title: 'Custom endpoints on the new cluster (pre-switch names)',
  describe(ctx) {
    const es = endpointsOf(ctx);
    if (es.length === 0) return [{ kind: 'note', target: 'custom endpoints', summary: `each custom endpoint of ${ctx.services.runbook.source.identifier} (none found at preflight) is made on the new cluster under a pre-switch name` }];
    return [
      ...es.map((e): PlannedAction => ({ kind: 'aws', target: 'rds:CreateDBClusterEndpoint', summary: `${e.temporary} on ${ctx.services.names.targetCluster} for ${e.name} (${e.type})`, detail: JSON.stringify(members(e, 'new')) })),
      { kind: 'wait', target: 'rds:DescribeDBClusterEndpoints', summary: 'until each is available' },
    ];
  },
  async run(ctx) {
    const available: string[] = [];
    for (const e of endpointsOf(ctx)) {
      checkAborted(ctx);
      await ensureEndpoint(ctx, e.temporary, ctx.services.names.targetCluster, e, 'new');
    }
    for (const e of endpointsOf(ctx)) {
      await waitEndpoint(ctx, e.temporary, false);
      available.push(e.temporary);
    }
    return { available };
  },
  async undo(ctx) {
    for (const e of endpointsOf(ctx)) await deleteEndpoint(ctx, e.temporary);
  },
};

export const topologyRelease: Step<RekeyServices, TopologyReleaseOutput> = {
  id: 'topology-release',
  title: 'Release the custom endpoint names of the old cluster',
  describe(ctx) {
    const es = endpointsOf(ctx);
    if (ctx.services.runbook.cutover.switch === 'none') return [{ kind: 'note', target: 'custom endpoints', summary: 'switch: none; the custom endpoints stay with the old cluster' }];
    if (es.length === 0) return [{ kind: 'note', target: 'custom endpoints', summary: 'no custom endpoint to move (as found at preflight); each one found is deleted here and created on the new cluster after the switch' }];
    return es.map((e) => ({ kind: 'aws' as const, target: 'rds:DeleteDBClusterEndpoint', summary: `${e.name} of ${ctx.services.runbook.source.identifier} (fenced): asked for, not waited on inside the fence; its reads fail until it is created on the new cluster after the switch, once AWS has finished deleting it` }));
  },
  async run(ctx) {
    if (ctx.services.runbook.cutover.switch === 'none') return { released: [] };
    const released: string[] = [];
    for (const e of endpointsOf(ctx)) {
      const found = await findCustomEndpoint(ctx.services.cloud, e.name);
      // Already on the new cluster (a resumed run after the switch began): nothing of the old cluster left to release.
      if (found && !(await isNewCluster(ctx, found.DBClusterIdentifier))) {
        if (found.Status !== 'deleting') await deleteEndpoint(ctx, e.name);
        ctx.report.log('info', `custom endpoint ${e.name} of the old cluster is being deleted; it is created on the new cluster after the switch, once the deletion is done`);
      }
      released.push(e.name);
    }
    // Nothing waits here, inside the fence: topology-after-switch waits for each deletion before it makes the name.
    return { released };
  },
  async undo(ctx) {
    // Back on the old cluster under the original names (the switch's undo has renamed the old cluster back first).
    const { runbook } = ctx.services;
    for (const e of endpointsOf(ctx)) {
      const found = await findCustomEndpoint(ctx.services.cloud, e.name);
      const onOld = found !== undefined && !(await isNewCluster(ctx, found.DBClusterIdentifier));
      // Still on the old cluster and not being deleted: nothing to give back.
      if (onOld && found?.Status !== 'deleting') continue;
      // On the new cluster: taken away from it; being deleted (release does not wait): made again once it is gone.
      if (found && !onOld) await deleteEndpoint(ctx, e.name);
      if (found) await waitEndpoint(ctx, e.name, true);
      const old = (await isNewCluster(ctx, runbook.source.identifier)) ? ctx.services.names.oldName : runbook.source.identifier;
      await ensureEndpoint(ctx, e.name, old, e, 'old');
    }
  },
};

/** RegisterScalableTarget and PutScalingPolicy requests that give `resourceId` the Auto Scaling read at the source. */
export function autoScalingRequests(a: AutoScalingSpec): { target: ConstructorParameters<typeof RegisterScalableTargetCommand>[0]; policies: PutScalingPolicyCommandInput[] } {
  return {
    target: { ServiceNamespace: 'rds', ResourceId: a.resourceId, ScalableDimension: READ_REPLICA_COUNT, MinCapacity: a.minCapacity, MaxCapacity: a.maxCapacity, ...(a.suspended ? { SuspendedState: a.suspended } : {}) },
    policies: a.policies.map((p) => ({
      PolicyName: p.name, ServiceNamespace: 'rds', ResourceId: a.resourceId, ScalableDimension: READ_REPLICA_COUNT, PolicyType: p.type as PutScalingPolicyCommandInput['PolicyType'],
      ...(p.type === 'StepScaling' ? { StepScalingPolicyConfiguration: p.configuration } : { TargetTrackingScalingPolicyConfiguration: p.configuration as unknown as PutScalingPolicyCommandInput['TargetTrackingScalingPolicyConfiguration'] }),
    })),
  };
}

export const topologyAfterSwitch: Step<RekeyServices, TopologyAfterSwitchOutput> = {
  id: 'topology-after-switch',
  title: 'Custom endpoints and Auto Scaling on the new cluster',
  describe(ctx) {
    const { runbook } = ctx.services;
    const t = runTopology(ctx);
    if (runbook.cutover.switch === 'none') return [{ kind: 'note', target: 'topology', summary: 'switch: none; the custom endpoints keep their pre-switch names on the new cluster and Auto Scaling is not moved' }];
    const actions: PlannedAction[] = (t?.customEndpoints ?? []).flatMap((e): PlannedAction[] => [
      { kind: 'aws', target: 'rds:CreateDBClusterEndpoint', summary: `${e.name} on ${runbook.source.identifier} (the new cluster)`, detail: JSON.stringify(members(e, 'new')) },
      { kind: 'aws', target: 'rds:DeleteDBClusterEndpoint', summary: `the pre-switch name ${e.temporary}` },
    ]);
    if (t?.autoScaling) {
      actions.push({ kind: 'aws', target: 'application-autoscaling:RegisterScalableTarget', summary: `${t.autoScaling.resourceId} ${READ_REPLICA_COUNT} ${t.autoScaling.minCapacity}-${t.autoScaling.maxCapacity}` });
      for (const p of t.autoScaling.policies) actions.push({ kind: 'aws', target: 'application-autoscaling:PutScalingPolicy', summary: `${p.name} (${p.type}) on ${t.autoScaling.resourceId}` });
    }
    if (actions.length === 0) actions.push({ kind: 'note', target: 'topology', summary: 'custom endpoints found before the gate are created here under their names; Aurora Auto Scaling is registered again (none found at preflight)' });
    return actions;
  },
  async run(ctx) {
    const { runbook, cloud } = ctx.services;
    if (runbook.cutover.switch === 'none') return { moved: [], autoScaling: { registered: false, policies: 0 } };
    const es = endpointsOf(ctx);
    for (const e of es) {
      checkAborted(ctx);
      const found = await findCustomEndpoint(cloud, e.name);
      if (found && !(await isNewCluster(ctx, found.DBClusterIdentifier))) {
        // topology-release deleted it; a name still on the old cluster is still being deleted: wait for it.
        await waitEndpoint(ctx, e.name, true);
      }
      await ensureEndpoint(ctx, e.name, runbook.source.identifier, e, 'new');
    }
    const moved: string[] = [];
    for (const e of es) {
      await waitEndpoint(ctx, e.name, false);
      if (await deleteEndpoint(ctx, e.temporary)) ctx.report.log('info', `pre-switch custom endpoint ${e.temporary} deleted; ${e.name} serves the new cluster`);
      moved.push(e.name);
    }
    const a = runTopology(ctx)?.autoScaling;
    if (!a) return { moved, autoScaling: { registered: false, policies: 0 } };
    const req = autoScalingRequests(a);
    await call(`application-autoscaling:RegisterScalableTarget ${a.resourceId}`, () => cloud.autoscaling.send(new RegisterScalableTargetCommand(req.target)));
    for (const p of req.policies) {
      await call(`application-autoscaling:PutScalingPolicy ${p.PolicyName ?? ''}`, () => cloud.autoscaling.send(new PutScalingPolicyCommand(p)));
    }
    ctx.report.log('info', `Aurora Auto Scaling registered again for ${a.resourceId}: ${a.minCapacity}-${a.maxCapacity} readers, ${req.policies.length} polic${req.policies.length === 1 ? 'y' : 'ies'}`);
    return { moved, autoScaling: { registered: true, policies: req.policies.length } };
  },
  async undo(ctx) {
    // Before the switch's undo: the original names leave the new cluster (topology-release's undo makes them on the old one
    // again); the pre-switch names come back so topology-endpoints' undo finds what it made. Auto Scaling is registered
    // by name (cluster:<source identifier>): once the switch is undone it applies to the old cluster again by itself.
    for (const e of endpointsOf(ctx)) {
      const found = await findCustomEndpoint(ctx.services.cloud, e.name);
      if (found && (await isNewCluster(ctx, found.DBClusterIdentifier))) {
        await deleteEndpoint(ctx, e.name);
        await waitEndpoint(ctx, e.name, true);
      }
    }
  },
};
