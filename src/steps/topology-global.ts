// topology-global (Aurora, after the switch): when the source was the primary of a global database, the new cluster
// becomes the primary of a global database of the same name and every secondary Region is added again under that
// Region's key (target.regionKeys). With a switch: the old global cluster is renamed `<id>-old-<runid>` and each old
// secondary `<name>-old-<runid>` (they keep replicating from the old, fenced cluster and stay for rollback); the new
// global cluster takes the original name (CreateGlobalCluster from the new cluster's ARN) and each new secondary the
// old secondary's name (CreateDBCluster in its Region with GlobalClusterIdentifier and the Region's KmsKeyId), with as
// many instances of the same classes as the old one had. Without a switch both sit beside the old ones (`-rekey-<runid>`).
// Every part is found first (by name; a secondary and its instances by the rekey:run-id tag), so a resumed run
// creates nothing twice; undo takes back what the run made and renames the old parts back.
import {
  CreateDBClusterCommand, CreateDBInstanceCommand, CreateGlobalClusterCommand, DeleteDBClusterCommand, DeleteDBInstanceCommand,
  DeleteGlobalClusterCommand, ModifyDBClusterCommand, ModifyGlobalClusterCommand, RemoveFromGlobalClusterCommand,
} from '@aws-sdk/client-rds';
import type { DBCluster, GlobalCluster } from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';
import { call } from '../aws/errors.js';
import { readGlobalReplicationLag } from '../aws/metrics.js';
import { poll } from '../aws/poll.js';
import { findCluster, findInstance, pollTiming, waitClusterAvailable, waitInstanceAvailable } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { findGlobal, globalClusterRequest, globalNames, parseClusterArn, secondaryClusterRequest, secondaryInstanceRequest } from '../topology/global.js';
import type { GlobalNames, GlobalPlan, GlobalSecondaryInfo } from '../topology/global.js';
import { madeByRun, regionCloud, regionKeyRef } from '../topology/replicas.js';
import { checkAborted, newKeyArn, output, rekeyTags, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import type { GlobalSecondaryResult, TopologyGlobalOutput } from './outputs.js';
import type { RekeyServices } from './services.js';

export type { GlobalSecondaryResult, TopologyGlobalOutput } from './outputs.js';

const renames = (ctx: Ctx): boolean => ctx.services.runbook.cutover.switch === 'rename';
const planOf = (ctx: Ctx): GlobalPlan | undefined => output(ctx, 'preflight')?.globalDatabase;
const namesOf = (ctx: Ctx, plan: GlobalPlan): GlobalNames => globalNames(plan.identifier, ctx.runId, renames(ctx));

function cloudOf(ctx: Ctx, region: string): Cloud {
  const c = regionCloud(ctx.services.cloud, region);
  if (!c) throw new StepError(`cannot reach ${region}, where a secondary of the global database lives`, 'fatal');
  return c;
}

/** The Region's key as preflight resolved it (a Region without one is a preflight problem; this is the guard). */
function regionKey(plan: GlobalPlan, region: string): string {
  const key = plan.regionKeys.find((k) => k.region === region)?.arn;
  if (!key) throw new StepError(`no checked key for ${region}: add it to target.regionKeys and run preflight again`, 'fatal');
  return key;
}

/** The new cluster: under the source identifier after a switch, else under its own name; always under the new key. */
async function newPrimary(ctx: Ctx): Promise<DBCluster> {
  const { runbook: rb, names, cloud } = ctx.services;
  const id = renames(ctx) ? rb.source.identifier : names.targetCluster;
  const c = await findCluster(cloud, id);
  const key = await newKeyArn(ctx);
  if (!c?.DBClusterArn || c.KmsKeyId !== key) throw new StepError(`the new cluster ${id} is not there under the new key ${key}`, 'fatal');
  return c;
}

async function waitGlobal(ctx: Ctx, id: string, until: 'available' | 'gone' | ((g: GlobalCluster) => boolean)): Promise<void> {
  await poll({
    what: `global cluster ${id} ${typeof until === 'string' ? until : 'member removed'}`,
    observe: () => findGlobal(ctx.services.cloud, id),
    classify: (g) => {
      if (until === 'gone') return g ? { state: 'retry', note: g.Status ?? '?' } : { state: 'success' };
      if (!g) return { state: 'retry', note: 'not visible yet' };
      if (until === 'available') return g.Status === 'available' ? { state: 'success' } : { state: 'retry', note: g.Status ?? '?' };
      return until(g) ? { state: 'success' } : { state: 'retry', note: 'member still attached' };
    },
    ...pollTiming(waitEnv(ctx)),
  });
}

async function waitClusterGone(ctx: Ctx, cloud: Cloud, id: string): Promise<void> {
  await poll({
    what: `cluster ${id} deleted`,
    observe: () => findCluster(cloud, id),
    classify: (c) => (c ? { state: 'retry', note: c.Status ?? '?' } : { state: 'success' }),
    ...pollTiming(waitEnv(ctx)),
  });
}

async function waitInstanceGone(ctx: Ctx, cloud: Cloud, id: string): Promise<void> {
  await poll({
    what: `instance ${id} deleted`,
    observe: () => findInstance(cloud, id),
    classify: (i) => (i ? { state: 'retry', note: i.DBInstanceStatus ?? '?' } : { state: 'success' }),
    ...pollTiming(waitEnv(ctx)),
  });
}

const hasMember = (g: GlobalCluster | undefined, arn: string | undefined): boolean => arn !== undefined && (g?.GlobalClusterMembers ?? []).some((m) => m.DBClusterArn === arn);

/** The new global cluster, headed by the new cluster: the old one (holding the name) parked first. Idempotent. */
async function headGlobal(ctx: Ctx, plan: GlobalPlan, primary: DBCluster): Promise<void> {
  const { cloud } = ctx.services;
  const n = namesOf(ctx, plan);
  const at = await findGlobal(cloud, n.global);
  if (at && hasMember(at, primary.DBClusterArn)) {
    ctx.report.log('info', `global database ${n.global} already has ${primary.DBClusterIdentifier ?? 'the new cluster'} as its primary; not creating another`);
  } else {
    if (at) {
      if (!n.oldGlobal) throw new StepError(`global cluster ${n.global} exists and is not headed by the new cluster`, 'fatal');
      if (await findGlobal(cloud, n.oldGlobal)) throw new StepError(`cannot rename global cluster ${n.global} to ${n.oldGlobal}: that name is taken`, 'fatal');
      await call(`rds:ModifyGlobalCluster ${n.global} -> ${n.oldGlobal}`, () =>
        cloud.rds.send(new ModifyGlobalClusterCommand({ GlobalClusterIdentifier: n.global, NewGlobalClusterIdentifier: n.oldGlobal })),
      );
      crashPoint('topology-global:after-rename-global');
      ctx.report.log('info', `old global database ${n.global} renamed to ${n.oldGlobal}; it keeps the old cluster and the old secondaries`);
      await waitGlobal(ctx, n.oldGlobal, 'available');
    }
    checkAborted(ctx);
    await call(`rds:CreateGlobalCluster ${n.global}`, () => cloud.rds.send(new CreateGlobalClusterCommand(globalClusterRequest(n.global, primary.DBClusterArn ?? '', rekeyTags(ctx)))));
    crashPoint('topology-global:after-create-global');
    ctx.report.log('info', `global database ${n.global} created with ${primary.DBClusterIdentifier ?? 'the new cluster'} as its primary`);
  }
  await waitGlobal(ctx, n.global, 'available');
}

/** The old secondary moves to `-old-<runid>` (it stays in the old global database), freeing its name. */
async function parkOldSecondary(ctx: Ctx, plan: GlobalPlan, s: GlobalSecondaryInfo): Promise<void> {
  const parked = namesOf(ctx, plan).oldSecondary(s.identifier);
  if (!parked) return;
  const there = cloudOf(ctx, s.region);
  const atName = await findCluster(there, s.identifier);
  let renamed = false;
  if (atName && !madeByRun(atName, ctx.runId)) {
    if (await findCluster(there, parked)) throw new StepError(`cannot rename secondary ${s.identifier} in ${s.region} to ${parked}: that name is taken`, 'fatal');
    await call(`rds:ModifyDBCluster ${s.identifier} -> ${parked} (${s.region})`, () =>
      there.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: s.identifier, NewDBClusterIdentifier: parked, ApplyImmediately: true })),
    );
    renamed = true;
    ctx.report.log('info', `old secondary ${s.identifier} (${s.region}) renamed to ${parked}; it stays in the old global database`);
  }
  if (renamed || (await findCluster(there, parked))) await waitClusterAvailable(there, parked, waitEnv(ctx));
}

/** The new secondary in the new global cluster under the Region's key, and its instances; each unless this run made it. */
async function addSecondary(ctx: Ctx, plan: GlobalPlan, s: GlobalSecondaryInfo, primary: DBCluster): Promise<void> {
  const n = namesOf(ctx, plan);
  const there = cloudOf(ctx, s.region);
  const name = n.secondary(s.identifier);
  const tags = rekeyTags(ctx);
  const existing = await findCluster(there, name);
  if (existing) {
    if (!madeByRun(existing, ctx.runId)) throw new StepError(`${name} in ${s.region} exists and was not made by this run: the old secondary still holds the name`, 'fatal');
    ctx.report.log('info', `secondary ${name} (${s.region}) already exists; not creating another`);
  } else {
    await call(`rds:CreateDBCluster ${name} (${s.region})`, () => there.rds.send(new CreateDBClusterCommand(secondaryClusterRequest(s, name, n.global, primary, regionKey(plan, s.region), tags))));
    crashPoint('topology-global:after-create-secondary');
    ctx.report.log('info', `adding ${s.region} to global database ${n.global}: secondary ${name} under ${regionKey(plan, s.region)}`);
  }
  const engine = primary.Engine ?? profile(ctx.services.runbook).clusterEngine;
  for (const [k, i] of s.instances.entries()) {
    checkAborted(ctx);
    const id = n.instance(s.identifier, k + 1);
    if (await findInstance(there, id)) continue;
    await call(`rds:CreateDBInstance ${id} (${s.region})`, () => there.rds.send(new CreateDBInstanceCommand(secondaryInstanceRequest(i, id, name, engine, tags))));
    crashPoint('topology-global:after-create-instance');
    ctx.report.log('info', `creating ${id} (${i.instanceClass}) in secondary ${name} for ${i.identifier}`);
  }
}

/** A new secondary available under its Region's key, its instances available, its replication lag read. */
async function settle(ctx: Ctx, plan: GlobalPlan, s: GlobalSecondaryInfo): Promise<GlobalSecondaryResult> {
  const n = namesOf(ctx, plan);
  const there = cloudOf(ctx, s.region);
  const name = n.secondary(s.identifier);
  const key = regionKey(plan, s.region);
  const c = await waitClusterAvailable(there, name, waitEnv(ctx));
  if (c.KmsKeyId !== key) throw new StepError(`secondary ${name} in ${s.region} reports KmsKeyId ${c.KmsKeyId ?? 'none'}, expected ${key}`, 'fatal');
  const instances: string[] = [];
  for (const k of s.instances.keys()) {
    const id = n.instance(s.identifier, k + 1);
    await waitInstanceAvailable(there, id, waitEnv(ctx));
    instances.push(id);
  }
  const lagMs = await readGlobalReplicationLag(there, name, ctx.services.timing.metricPeriodSeconds, ctx.services.clock.now()).catch(() => undefined);
  const member = (await findGlobal(ctx.services.cloud, n.global))?.GlobalClusterMembers?.find((m) => m.DBClusterArn === c.DBClusterArn);
  ctx.report.progress(`secondary ${name} (${s.region}) in ${n.global}: available under ${key}${lagMs !== undefined ? `, replication lag ${lagMs} ms` : ''}`);
  return {
    oldIdentifier: s.identifier,
    oldNow: n.oldSecondary(s.identifier) ?? s.identifier,
    identifier: name,
    region: s.region,
    ...(c.DBClusterArn ? { arn: c.DBClusterArn } : {}),
    ...(c.KmsKeyId ? { kmsKeyId: c.KmsKeyId } : {}),
    instances,
    ...(lagMs !== undefined ? { lagMs } : {}),
    ...(member?.SynchronizationStatus ? { synchronization: member.SynchronizationStatus } : {}),
  };
}

/** Undo for one secondary: its instances and itself deleted (detached from the global cluster first), the old one renamed back. */
async function takeBackSecondary(ctx: Ctx, plan: GlobalPlan, s: GlobalSecondaryInfo): Promise<void> {
  const n = namesOf(ctx, plan);
  const there = cloudOf(ctx, s.region);
  const name = n.secondary(s.identifier);
  const made = await findCluster(there, name);
  if (made && madeByRun(made, ctx.runId)) {
    const present: string[] = [];
    for (const k of s.instances.keys()) {
      const id = n.instance(s.identifier, k + 1);
      const i = await findInstance(there, id);
      if (!i || !madeByRun(i, ctx.runId)) continue;
      present.push(id);
      if (i.DBInstanceStatus !== 'deleting') await call(`rds:DeleteDBInstance ${id} (${s.region})`, () => there.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: id, SkipFinalSnapshot: true })));
    }
    for (const id of present) await waitInstanceGone(ctx, there, id);
    // A member of a global cluster cannot be deleted: detach it first.
    const g = await findGlobal(ctx.services.cloud, made.GlobalClusterIdentifier ?? n.global);
    if (g && hasMember(g, made.DBClusterArn)) {
      // Sent in the secondary's Region, as AWS's own example of detaching a secondary does.
      await call(`rds:RemoveFromGlobalCluster ${name} (${s.region})`, () => there.rds.send(new RemoveFromGlobalClusterCommand({ GlobalClusterIdentifier: g.GlobalClusterIdentifier, DbClusterIdentifier: made.DBClusterArn })));
      await waitGlobal(ctx, g.GlobalClusterIdentifier ?? n.global, (x) => !hasMember(x, made.DBClusterArn));
    }
    if (made.Status !== 'deleting') await call(`rds:DeleteDBCluster ${name} (${s.region})`, () => there.rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: name, SkipFinalSnapshot: true })));
    await waitClusterGone(ctx, there, name);
    ctx.report.log('info', `new secondary ${name} (${s.region}) deleted`);
  }
  const parked = n.oldSecondary(s.identifier);
  if (parked && (await findCluster(there, parked)) && !(await findCluster(there, s.identifier))) {
    await call(`rds:ModifyDBCluster ${parked} -> ${s.identifier} (${s.region})`, () =>
      there.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: parked, NewDBClusterIdentifier: s.identifier, ApplyImmediately: true })),
    );
    await waitClusterAvailable(there, s.identifier, waitEnv(ctx));
    ctx.report.log('info', `old secondary ${parked} (${s.region}) renamed back to ${s.identifier}`);
  }
}

/** Whether a global cluster is the one this run made: its writer is a cluster under the new key. */
async function headedByNewCluster(ctx: Ctx, g: GlobalCluster): Promise<DBCluster | undefined> {
  const writer = g.GlobalClusterMembers?.find((m) => m.IsWriter)?.DBClusterArn;
  const ref = writer ? parseClusterArn(writer) : undefined;
  const c = ref ? await findCluster(ctx.services.cloud, ref.identifier) : undefined;
  return c && c.KmsKeyId === (await newKeyArn(ctx)) ? c : undefined;
}

export const topologyGlobal: Step<RekeyServices, TopologyGlobalOutput> = {
  id: 'topology-global',
  title: 'Global database: the new cluster heads it, secondaries added again',
  describe(ctx) {
    const plan = planOf(ctx);
    const rb = ctx.services.runbook;
    if (!plan) {
      return [{ kind: 'note', target: 'global database', summary: `when the source is the primary of an Aurora global database (found by preflight), the new cluster heads it after the switch and each secondary Region is added again under its key from target.regionKeys${Object.keys(rb.target.regionKeys).length > 0 ? ` (${Object.entries(rb.target.regionKeys).map(([g, k]) => `${g}: ${k}`).join(', ')})` : ''}` }];
    }
    const n = namesOf(ctx, plan);
    const actions: PlannedAction[] = [];
    if (n.oldGlobal) actions.push({ kind: 'aws', target: 'rds:ModifyGlobalCluster', summary: `rename global database ${plan.identifier} -> ${n.oldGlobal} (keeps the old cluster and the old secondaries, for rollback)`, detail: `NewGlobalClusterIdentifier=${n.oldGlobal}` });
    actions.push({ kind: 'aws', target: 'rds:CreateGlobalCluster', summary: `${n.global} with the new cluster as its primary`, detail: `SourceDBClusterIdentifier=<ARN of ${renames(ctx) ? rb.source.identifier : ctx.services.names.targetCluster}>` });
    for (const s of plan.secondaries) {
      const parked = n.oldSecondary(s.identifier);
      if (parked) actions.push({ kind: 'aws', target: 'rds:ModifyDBCluster', summary: `rename old secondary ${s.identifier} (${s.region}) -> ${parked} (stays in the old global database)`, detail: 'ApplyImmediately=true' });
      actions.push({
        kind: 'aws', target: 'rds:CreateDBCluster',
        summary: `secondary ${n.secondary(s.identifier)} in ${s.region}, in ${n.global}`,
        detail: `GlobalClusterIdentifier=${n.global} KmsKeyId=${regionKeyRef(rb, s.region) ?? '(missing in target.regionKeys)'} StorageEncrypted=true${s.parameterGroup ? ` DBClusterParameterGroupName=${s.parameterGroup}` : ''}`,
      });
      s.instances.forEach((i, k) => actions.push({ kind: 'aws', target: 'rds:CreateDBInstance', summary: `${n.instance(s.identifier, k + 1)} (${i.instanceClass}) in ${n.secondary(s.identifier)} for ${i.identifier}` }));
    }
    actions.push({ kind: 'wait', target: 'rds:DescribeDBClusters', summary: 'until every secondary and its instances are available under the Region\'s key; then CloudWatch AuroraGlobalDBReplicationLag in each Region' });
    for (const line of plan.actions) actions.push({ kind: 'note', target: 'global database', summary: line });
    return actions;
  },
  async run(ctx) {
    const plan = planOf(ctx);
    if (!plan) return { secondaries: [] };
    const n = namesOf(ctx, plan);
    const primary = await newPrimary(ctx);
    await headGlobal(ctx, plan, primary);
    for (const s of plan.secondaries) {
      checkAborted(ctx);
      await parkOldSecondary(ctx, plan, s);
      await addSecondary(ctx, plan, s, primary);
    }
    const secondaries: GlobalSecondaryResult[] = [];
    for (const s of plan.secondaries) secondaries.push(await settle(ctx, plan, s));
    return { globalCluster: n.global, oldGlobalCluster: n.oldGlobal ?? plan.identifier, secondaries };
  },
  async undo(ctx) {
    const plan = planOf(ctx);
    if (!plan) return;
    const { cloud } = ctx.services;
    const n = namesOf(ctx, plan);
    for (const s of plan.secondaries) await takeBackSecondary(ctx, plan, s);
    const g = await findGlobal(cloud, n.global);
    const head = g ? await headedByNewCluster(ctx, g) : undefined;
    if (g && head) {
      if (hasMember(g, head.DBClusterArn)) {
        await call(`rds:RemoveFromGlobalCluster ${head.DBClusterIdentifier ?? ''}`, () => cloud.rds.send(new RemoveFromGlobalClusterCommand({ GlobalClusterIdentifier: n.global, DbClusterIdentifier: head.DBClusterArn })));
        await waitGlobal(ctx, n.global, (x) => !hasMember(x, head.DBClusterArn));
      }
      await call(`rds:DeleteGlobalCluster ${n.global}`, () => cloud.rds.send(new DeleteGlobalClusterCommand({ GlobalClusterIdentifier: n.global })));
      await waitGlobal(ctx, n.global, 'gone');
      ctx.report.log('info', `global database ${n.global} of the new cluster deleted`);
    }
    if (n.oldGlobal && (await findGlobal(cloud, n.oldGlobal)) && !(await findGlobal(cloud, n.global))) {
      await call(`rds:ModifyGlobalCluster ${n.oldGlobal} -> ${n.global}`, () => cloud.rds.send(new ModifyGlobalClusterCommand({ GlobalClusterIdentifier: n.oldGlobal, NewGlobalClusterIdentifier: n.global })));
      await waitGlobal(ctx, n.global, 'available');
      ctx.report.log('info', `old global database ${n.oldGlobal} renamed back to ${n.global}`);
    }
  },
};

/** Secondary Regions of the global database with no new secondary in `out` (all of them before the step succeeded). */
export function regionsWithoutSecondary(plan: GlobalPlan | undefined, out: TopologyGlobalOutput | undefined): string[] {
  const made = new Set((out?.secondaries ?? []).map((s) => s.region));
  return (plan?.regions ?? []).filter((r) => !made.has(r));
}
