// switch: rename old -> <id>-old-<runid>, wait; new -> <id>, wait; each wait polls the NEW name until the
// rename really took effect. Which cluster is which is told by the key, so a resume finds its place.
// RDS instances: ModifyDBInstance NewDBInstanceIdentifier, polled until the instance went through `renaming` to
// `available` under an endpoint address that starts with the new identifier.
import { ModifyDBClusterCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { crashPoint } from '../engine/crash.js';
import { waitClusterAvailable, waitClusterRenamed, waitInstanceAvailable, waitInstanceRenamed } from '../aws/rds.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { findDb, newKeyArn, output, waitEnv } from './common.js';
import type { Ctx, DbView } from './common.js';
import { isInstance } from './engine.js';
import { fenceBudgetMs } from './fence.js';
import type { RekeyServices } from './services.js';
import type { SwitchOutput } from './outputs.js';

export type { SwitchOutput } from './outputs.js';

/** AWS's documented DNS time of an instance rename ("about 10 minutes"): part of the write-unavailable window. */
export const INSTANCE_RENAME_DNS_SECONDS = 600;

async function rename(ctx: Ctx, from: DbView, to: string): Promise<void> {
  const { cloud } = ctx.services;
  const id = from.id;
  if (isInstance(ctx.services.runbook)) {
    await call(`rds:ModifyDBInstance ${id} -> ${to}`, () =>
      cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: id, NewDBInstanceIdentifier: to, ApplyImmediately: true })),
    );
    crashPoint('switch:after-rename-call');
    ctx.report.log('info', `renaming instance ${id} -> ${to} (AWS: the new DNS name takes about ${INSTANCE_RENAME_DNS_SECONDS / 60} minutes)`);
    await waitInstanceRenamed(cloud, to, waitEnv(ctx, true));
    return;
  }
  const before = `${from.host ?? ''}:${from.port ?? ''}`;
  await call(`rds:ModifyDBCluster ${id} -> ${to}`, () =>
    cloud.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: id, NewDBClusterIdentifier: to, ApplyImmediately: true })),
  );
  crashPoint('switch:after-rename-call');
  ctx.report.log('info', `renaming ${id} -> ${to}`);
  await waitClusterRenamed(cloud, to, before, waitEnv(ctx, true));
}

async function waitAvailable(ctx: Ctx, id: string): Promise<void> {
  if (isInstance(ctx.services.runbook)) await waitInstanceAvailable(ctx.services.cloud, id, waitEnv(ctx, true));
  else await waitClusterAvailable(ctx.services.cloud, id, waitEnv(ctx, true));
}

/**
 * Moves the cluster encrypted with `movingKey` from `fromId` to `toId`, after moving whatever else is at
 * `toId` out of the way to `parkId`. Each part is skipped when already done, so a re-run continues.
 */
async function swap(ctx: Ctx, newKey: string, plan: { park: string; parkAt: string; bring: string; bringTo: string; bringIsNew: boolean }): Promise<void> {
  const isMoving = (c: DbView | undefined) => c !== undefined && (c.kmsKeyId === newKey) === plan.bringIsNew;
  let atDest = await findDb(ctx, plan.bringTo);
  if (isMoving(atDest)) {
    await waitAvailable(ctx, plan.bringTo);
    return;
  }
  if (atDest) {
    if (await findDb(ctx, plan.parkAt)) throw new StepError(`cannot rename ${plan.park} to ${plan.parkAt}: that name is taken`, 'fatal');
    await rename(ctx, atDest, plan.parkAt);
  } else if (await findDb(ctx, plan.parkAt)) {
    await waitAvailable(ctx, plan.parkAt);
  }
  crashPoint('switch:between-renames');
  atDest = await findDb(ctx, plan.bringTo);
  if (isMoving(atDest)) return;
  const moving = await findDb(ctx, plan.bring);
  if (!moving || !isMoving(moving)) throw new StepError(`${plan.bring} is not the one expected (key mismatch or missing)`, 'fatal');
  await rename(ctx, moving, plan.bringTo);
}

/** Whether the source identifier still names the old database (the switch has not happened, even partly). */
export async function sourceStillOld(ctx: Ctx): Promise<boolean> {
  const { names, runbook: rb } = ctx.services;
  const [atSource, parked] = await Promise.all([findDb(ctx, rb.source.identifier), findDb(ctx, names.oldName)]);
  if (!atSource || parked) return false;
  return atSource.kmsKeyId !== (await newKeyArn(ctx));
}

export const switchStep: Step<RekeyServices, SwitchOutput> = {
  id: 'switch',
  title: 'Switch: rename the new cluster into place',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    if (rb.cutover.switch === 'none') return [{ kind: 'note', target: 'switch', summary: `switch: none; clients must be repointed to ${names.targetCluster}` }];
    const writer = output(ctx, 'preflight')?.source?.writer;
    if (isInstance(rb)) {
      return [
        { kind: 'aws', target: 'rds:ModifyDBInstance', summary: `rename ${rb.source.identifier} -> ${names.oldName}`, detail: `NewDBInstanceIdentifier=${names.oldName} ApplyImmediately=true` },
        { kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until ${names.oldName} went through renaming to available and its Endpoint.Address starts with ${names.oldName}` },
        { kind: 'aws', target: 'rds:ModifyDBInstance', summary: `rename ${names.targetCluster} -> ${rb.source.identifier}`, detail: `NewDBInstanceIdentifier=${rb.source.identifier} ApplyImmediately=true` },
        { kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until ${rb.source.identifier} went through renaming to available and its Endpoint.Address starts with ${rb.source.identifier}` },
        { kind: 'note', target: 'AWS', summary: `AWS's part of the window: the renamed instance's DNS name takes about ${INSTANCE_RENAME_DNS_SECONDS / 60} minutes (documented)` },
      ];
    }
    return [
      { kind: 'aws', target: 'rds:ModifyDBCluster', summary: `rename ${rb.source.identifier} -> ${names.oldName}`, detail: 'ApplyImmediately=true' },
      { kind: 'wait', target: 'rds:DescribeDBClusters', summary: `until ${names.oldName} exists, is available and its endpoint changed` },
      { kind: 'aws', target: 'rds:ModifyDBCluster', summary: `rename ${names.targetCluster} -> ${rb.source.identifier}`, detail: 'ApplyImmediately=true' },
      { kind: 'wait', target: 'rds:DescribeDBClusters', summary: `until ${rb.source.identifier} exists, is available and its endpoint changed` },
      {
        kind: 'note', target: 'endpoints',
        summary: rb.cutover.renameInstances
          ? `the cluster endpoints (${rb.source.identifier}.cluster-… and .cluster-ro-…) follow the rename; the readers were recreated on the new cluster and custom endpoints move by name around the switch (topology-release, topology-after-switch); instance names are kept after the switch (cutover.renameInstances): the old instances${writer ? ` such as ${writer}` : ''} are renamed to <name>-old-${ctx.runId}, the new ones take their names (topology-park-instances, topology-instance-names)`
          : `the cluster endpoints (${rb.source.identifier}.cluster-… and .cluster-ro-…) follow the rename; the readers were recreated on the new cluster and custom endpoints move by name around the switch (topology-release, topology-after-switch); instance endpoints${writer ? ` such as ${writer}'s` : ''} keep their names on the old cluster, whose writer roles remain fenced: the new instances are named ${names.targetWriter} and ${names.targetCluster}-r<n> (cutover.renameInstances: true keeps the instance names)`,
      },
    ];
  },
  async run(outer) {
    const { names, runbook: rb } = outer.services;
    if (rb.cutover.switch === 'none') return { mode: 'none', newName: names.targetCluster };
    // An interrupt (Ctrl-C) must not stop the rename pair halfway, with nothing answering on the database's name:
    // the switch finishes (its waits ignore the signal) and the runner stops after it. A second Ctrl-C still exits.
    const ctx = { ...outer, signal: new AbortController().signal };
    if (outer.signal.aborted) ctx.report.log('warn', 'interrupt received: finishing the switch (both renames) before stopping');
    else outer.signal.addEventListener('abort', () => ctx.report.log('warn', 'interrupt received: finishing the switch (both renames) before stopping'), { once: true });
    const newKey = await newKeyArn(ctx);
    // The fence time-box only guards the start: once a rename began, finishing it is the safe direction.
    const atSource = await findDb(ctx, rb.source.identifier);
    if (atSource && atSource.kmsKeyId !== newKey && !(await findDb(ctx, names.oldName))) fenceBudgetMs(ctx, 'switch');
    await swap(ctx, newKey, { park: rb.source.identifier, parkAt: names.oldName, bring: names.targetCluster, bringTo: rb.source.identifier, bringIsNew: true });
    return { mode: 'rename', oldName: names.oldName, newName: rb.source.identifier };
  },
  // The engine looks before unfencing after a failure from here on: a begun rename is finished or rolled back.
  inEffect: async (ctx) => !(await sourceStillOld(ctx)),
  async undo(ctx) {
    // Rename back: new -> its rekey name, old -> the source identifier.
    const { names, runbook: rb } = ctx.services;
    if (rb.cutover.switch === 'none') return;
    const newKey = await newKeyArn(ctx);
    await swap(ctx, newKey, { park: rb.source.identifier, parkAt: names.targetCluster, bring: names.oldName, bringTo: rb.source.identifier, bringIsNew: false });
  },
};
