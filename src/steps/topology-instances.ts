// Aurora instance names (cutover.renameInstances): the new cluster's instances take the names of the source instances
// they stand for, so instance endpoints (`writer-1.<id>.<region>.rds.amazonaws.com`) keep working. Two steps:
//   topology-park-instances (right after the switch): every old instance is renamed to `<name>-old-<runid>`; AWS
//     deletes the old DNS name at once, so the fenced old cluster stops answering under the original instance names
//     one API call after the switch;
//   topology-instance-names (after topology-after-switch): each new instance is renamed to its source instance's
//     name, one at a time, waited on; custom endpoint members are set to the kept names.
// Why after the switch and not inside the fence: writes (and the rehearsal's write load) go through the cluster
// endpoint, which the cluster rename already moved; an instance rename reboots the instance ("An outage occurs during
// this change", aws-facts §2.4) and its new DNS name takes minutes, so inside the fence it would multiply the
// write-unavailable window for names most clients do not use. Why two steps: the old names must stop serving the old
// cluster as early as possible (park right after the switch, no wait), while the custom endpoints (deleted inside the
// fence, their reads failing until topology-after-switch makes them again) must not wait for instance reboots. The
// new writer's own rename still reboots it: one more short write interruption after the switch, which the plan and
// the gate say. Each new name is given one instance at a time so the reader endpoint keeps a reader.
// Crash-safe like the cluster renames: which instance is which is told by its key (the new cluster's key), never by
// what the journal says was done, so a re-run (resume after a kill between the two renames of a pair) finds its
// place; each undo renames back (new -> its rekey name, then old -> its name), newest step first.
import { ModifyDBClusterEndpointCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import type { DBInstance } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { findCluster, findInstance, waitInstanceAvailable, waitInstanceRenamed } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { findCustomEndpoint } from '../topology/aurora.js';
import type { AuroraTopology } from '../topology/aurora.js';
import { checkAborted, mapLimit, newKeyArn, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import { isInstance } from './engine.js';
import { oldInstanceName } from './names.js';
import type { TopologyInstanceNamesOutput, TopologyParkInstancesOutput } from './outputs.js';
import type { RekeyServices } from './services.js';
import { runTopology } from './topology-readers.js';

/** One source instance whose name the new cluster keeps. */
export interface InstanceRename {
  role: 'writer' | 'reader';
  /** The source instance's name: the new instance takes it. */
  name: string;
  /** The new instance standing for it (its rekey name, `<new cluster>-w1` or `-r<n>`). */
  newInstance: string;
  /** Where the old instance goes: `<name>-old-<runid>`. */
  parked: string;
}

/** Whether the run keeps the instance names: asked for, Aurora, the cluster names switch, and rekey does the renames (not Blue/Green). */
export function keepsInstanceNames(rb: RekeyServices['runbook']): boolean {
  return rb.cutover.renameInstances && rb.cutover.switch === 'rename' && !isInstance(rb) && rb.strategy !== 'blue-green';
}

/** The writer first, then each reader in the order of its new name. */
export function instanceRenames(t: AuroraTopology | undefined, runId: string): InstanceRename[] {
  if (!t) return [];
  return [
    ...(t.writer ? [{ role: 'writer' as const, name: t.writer.source, newInstance: t.writer.target, parked: oldInstanceName(t.writer.source, runId) }] : []),
    ...t.readers.map((r) => ({ role: 'reader' as const, name: r.source, newInstance: r.target, parked: oldInstanceName(r.source, runId) })),
  ];
}

const renamesOf = (ctx: Ctx): InstanceRename[] => instanceRenames(runTopology(ctx), ctx.runId);

/** Whether an instance belongs to the cluster under the new key (its own KmsKeyId, else its cluster's). */
async function isNew(ctx: Ctx, i: DBInstance, newKey: string): Promise<boolean> {
  const key = i.KmsKeyId ?? (i.DBClusterIdentifier ? (await findCluster(ctx.services.cloud, i.DBClusterIdentifier))?.KmsKeyId : undefined);
  return key === newKey;
}

async function rename(ctx: Ctx, from: string, to: string, point: string): Promise<void> {
  await call(`rds:ModifyDBInstance ${from} -> ${to}`, () =>
    ctx.services.cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: from, NewDBInstanceIdentifier: to, ApplyImmediately: true })),
  );
  crashPoint(point);
  ctx.report.log('info', `renaming instance ${from} -> ${to} (AWS reboots it; its new DNS name takes a few minutes)`);
}

/** Waits until `name` is renamed and available, when an instance has it (a no-op for a name nobody has). */
async function settle(ctx: Ctx, name: string): Promise<void> {
  if (await findInstance(ctx.services.cloud, name)) await waitInstanceRenamed(ctx.services.cloud, name, waitEnv(ctx));
}

/**
 * Sets the members of the custom endpoints on the new cluster to the names its instances have now (`kept`: the source
 * names, else the rekey names). Whether AWS carries a renamed instance along in an endpoint's static or excluded list
 * is not documented: setting the lists makes the outcome the same either way (nothing is sent when they already match).
 */
async function alignEndpoints(ctx: Ctx, renames: InstanceRename[], kept: boolean, newKey: string): Promise<void> {
  const { cloud } = ctx.services;
  const fromNames = new Map(renames.map((r) => [r.newInstance.toLowerCase(), kept ? r.name.toLowerCase() : r.newInstance.toLowerCase()]));
  const want = (list: string[]): string[] => list.map((m) => fromNames.get(m.toLowerCase()) ?? m.toLowerCase());
  const same = (a: string[] | undefined, b: string[]): boolean => {
    const x = (a ?? []).map((m) => m.toLowerCase()).sort();
    const y = [...b].sort();
    return x.length === y.length && x.every((v, i) => v === y[i]);
  };
  for (const e of runTopology(ctx)?.customEndpoints ?? []) {
    const found = await findCustomEndpoint(cloud, e.name);
    if (!found?.DBClusterIdentifier || found.Status === 'deleting') continue;
    if ((await findCluster(cloud, found.DBClusterIdentifier))?.KmsKeyId !== newKey) continue;
    const wantStatic = want(e.newStaticMembers);
    const wantExcluded = want(e.newExcludedMembers);
    if (same(found.StaticMembers, wantStatic) && (wantStatic.length > 0 || same(found.ExcludedMembers, wantExcluded))) continue;
    await call(`rds:ModifyDBClusterEndpoint ${e.name}`, () =>
      cloud.rds.send(new ModifyDBClusterEndpointCommand({ DBClusterEndpointIdentifier: e.name, EndpointType: e.type, StaticMembers: wantStatic, ExcludedMembers: wantStatic.length > 0 ? [] : wantExcluded })),
    );
    ctx.report.log('info', `custom endpoint ${e.name}: members set to ${wantStatic.length > 0 ? wantStatic.join(', ') : `all but ${wantExcluded.join(', ') || 'none'}`}`);
  }
}

const note = (summary: string): PlannedAction => ({ kind: 'note', target: 'instance names', summary });

export const topologyParkInstances: Step<RekeyServices, TopologyParkInstancesOutput> = {
  id: 'topology-park-instances',
  title: 'Rename the old instances away (cutover.renameInstances)',
  describe(ctx) {
    const rs = renamesOf(ctx);
    if (rs.length === 0) return [note(`each instance of the old cluster (found at preflight) is renamed to <name>-old-${ctx.runId}, so its name stops answering for the fenced old cluster`)];
    return [
      ...rs.map((r): PlannedAction => ({
        kind: 'aws', target: 'rds:ModifyDBInstance', summary: `rename old ${r.role} ${r.name} -> ${r.parked} (its instance endpoint stops answering for the fenced old cluster)`,
        detail: `NewDBInstanceIdentifier=${r.parked} ApplyImmediately=true`,
      })),
      note('not waited on here: the custom endpoints come back first (topology-after-switch); the old instances reboot, their writer roles stay fenced'),
    ];
  },
  async run(ctx) {
    const { cloud } = ctx.services;
    const rs = renamesOf(ctx);
    const newKey = await newKeyArn(ctx);
    for (const r of rs) {
      checkAborted(ctx);
      const atName = await findInstance(cloud, r.name);
      if (!atName || (await isNew(ctx, atName, newKey))) continue;
      if (await findInstance(cloud, r.parked)) throw new StepError(`cannot rename ${r.name} to ${r.parked}: that name is taken`, 'fatal');
      // AWS refuses to rename an instance that is busy (rebooting, modifying): wait until it is available.
      if (atName.DBInstanceStatus !== 'available') await waitInstanceAvailable(cloud, r.name, waitEnv(ctx));
      await rename(ctx, r.name, r.parked, 'topology-instances:after-park-call');
    }
    return { parked: rs.map((r) => ({ name: r.name, parked: r.parked })) };
  },
  async undo(ctx) {
    // After topology-instance-names' undo: the source names are free again (the new instances have their rekey names).
    const { cloud } = ctx.services;
    const newKey = await newKeyArn(ctx);
    const back: string[] = [];
    for (const r of renamesOf(ctx)) {
      const atName = await findInstance(cloud, r.name);
      if (atName) {
        if (await isNew(ctx, atName, newKey)) throw new StepError(`${r.name} names the new instance: undo topology-instance-names first`, 'fatal');
        back.push(r.name);
        continue;
      }
      if (!(await findInstance(cloud, r.parked))) continue;
      await settle(ctx, r.parked);
      await rename(ctx, r.parked, r.name, 'topology-instances:after-unpark-call');
      back.push(r.name);
    }
    for (const name of back) await settle(ctx, name);
  },
};

export const topologyInstanceNames: Step<RekeyServices, TopologyInstanceNamesOutput> = {
  id: 'topology-instance-names',
  title: 'Give the new instances the source instance names',
  describe(ctx) {
    const rs = renamesOf(ctx);
    if (rs.length === 0) return [note('each new instance takes the name of the source instance it stands for (the writer the old writer\'s, reader n old reader n\'s), one at a time, waited on')];
    const actions: PlannedAction[] = [{ kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until ${rs.map((r) => r.parked).join(', ')} are renamed and available` }];
    for (const r of rs) {
      actions.push(
        { kind: 'aws', target: 'rds:ModifyDBInstance', summary: `rename new ${r.role} ${r.newInstance} -> ${r.name}${r.role === 'writer' ? ' (AWS reboots it: writes through the cluster endpoint pause briefly, outside the fence)' : ''}`, detail: `NewDBInstanceIdentifier=${r.name} ApplyImmediately=true` },
        { kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until ${r.name} went through renaming to available and its Endpoint.Address starts with ${r.name}` },
      );
    }
    if ((runTopology(ctx)?.customEndpoints.length ?? 0) > 0) actions.push({ kind: 'aws', target: 'rds:ModifyDBClusterEndpoint', summary: 'custom endpoint members set to the kept names, where they differ' });
    return actions;
  },
  async run(ctx) {
    const { cloud } = ctx.services;
    const rs = renamesOf(ctx);
    const newKey = await newKeyArn(ctx);
    // The old ones first out of the way (topology-park-instances did not wait); their renames ran side by side.
    await mapLimit(rs, 4, (r) => settle(ctx, r.parked));
    for (const r of rs) {
      checkAborted(ctx);
      const atName = await findInstance(cloud, r.name);
      if (atName) {
        if (!(await isNew(ctx, atName, newKey))) throw new StepError(`${r.name} still names the old instance: topology-park-instances has not renamed it away`, 'fatal');
      } else {
        const moving = await findInstance(cloud, r.newInstance);
        if (!moving || !(await isNew(ctx, moving, newKey))) throw new StepError(`${r.newInstance} is not the new cluster's instance (missing or under another key)`, 'fatal');
        await rename(ctx, r.newInstance, r.name, 'topology-instances:after-name-call');
      }
      // One at a time: each rename reboots the instance, and the others keep serving meanwhile.
      await settle(ctx, r.name);
    }
    await alignEndpoints(ctx, rs, true, newKey);
    if (rs.length > 0) ctx.report.progress(`instance names kept: ${rs.map((r) => r.name).join(', ')}`);
    return { kept: rs.map((r) => r.name) };
  },
  async undo(ctx) {
    const { cloud } = ctx.services;
    const rs = renamesOf(ctx);
    const newKey = await newKeyArn(ctx);
    for (const r of rs) {
      const atName = await findInstance(cloud, r.name);
      if (!atName || !(await isNew(ctx, atName, newKey))) continue;
      if (await findInstance(cloud, r.newInstance)) throw new StepError(`cannot rename ${r.name} back to ${r.newInstance}: that name is taken`, 'fatal');
      await settle(ctx, r.name);
      await rename(ctx, r.name, r.newInstance, 'topology-instances:after-unname-call');
      await settle(ctx, r.newInstance);
    }
    await alignEndpoints(ctx, rs, false, newKey);
  },
};
