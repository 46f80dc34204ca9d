// switch: rename old -> <id>-old-<runid>, wait; new -> <id>, wait; each wait polls the NEW name until the
// rename really took effect. Which cluster is which is told by the key, so a resume finds its place.
import { ModifyDBClusterCommand } from '@aws-sdk/client-rds';
import type { DBCluster } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { endpointOf, findCluster, waitClusterAvailable, waitClusterRenamed } from '../aws/rds.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { newKeyArn, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import { fenceBudgetMs } from './fence.js';
import type { RekeyServices } from './services.js';

/** What the switch did. */
export interface SwitchOutput {
  mode: 'rename' | 'none';
  /** Where the old cluster now lives. */
  oldName?: string;
  /** The identifier the new cluster answers to. */
  newName: string;
}

async function rename(ctx: Ctx, from: DBCluster, to: string): Promise<DBCluster> {
  const id = from.DBClusterIdentifier as string;
  const before = endpointOf(from);
  await call(`rds:ModifyDBCluster ${id} -> ${to}`, () =>
    ctx.services.cloud.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: id, NewDBClusterIdentifier: to, ApplyImmediately: true })),
  );
  ctx.report.log('info', `renaming ${id} -> ${to}`);
  return waitClusterRenamed(ctx.services.cloud, to, before, waitEnv(ctx, true));
}

/**
 * Moves the cluster encrypted with `movingKey` from `fromId` to `toId`, after moving whatever else is at
 * `toId` out of the way to `parkId`. Each part is skipped when already done, so a re-run continues.
 */
async function swap(ctx: Ctx, newKey: string, plan: { park: string; parkAt: string; bring: string; bringTo: string; bringIsNew: boolean }): Promise<void> {
  const cloud = ctx.services.cloud;
  const isMoving = (c: DBCluster | undefined) => c !== undefined && (c.KmsKeyId === newKey) === plan.bringIsNew;
  let atDest = await findCluster(cloud, plan.bringTo);
  if (isMoving(atDest)) {
    await waitClusterAvailable(cloud, plan.bringTo, waitEnv(ctx, true));
    return;
  }
  if (atDest) {
    if (await findCluster(cloud, plan.parkAt)) throw new StepError(`cannot rename ${plan.park} to ${plan.parkAt}: that name is taken`, 'fatal');
    await rename(ctx, atDest, plan.parkAt);
  } else if (await findCluster(cloud, plan.parkAt)) {
    await waitClusterAvailable(cloud, plan.parkAt, waitEnv(ctx, true));
  }
  atDest = await findCluster(cloud, plan.bringTo);
  if (isMoving(atDest)) return;
  const moving = await findCluster(cloud, plan.bring);
  if (!isMoving(moving)) throw new StepError(`cluster ${plan.bring} is not the one expected (key mismatch or missing)`, 'fatal');
  await rename(ctx, moving as DBCluster, plan.bringTo);
}

export const switchStep: Step<RekeyServices, SwitchOutput> = {
  id: 'switch',
  title: 'Switch: rename the new cluster into place',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    if (rb.cutover.switch === 'none') return [{ kind: 'note', target: 'switch', summary: `switch: none; clients must be repointed to ${names.targetCluster}` }];
    return [
      { kind: 'aws', target: 'rds:ModifyDBCluster', summary: `rename ${rb.source.identifier} -> ${names.oldName}`, detail: 'ApplyImmediately=true' },
      { kind: 'wait', target: 'rds:DescribeDBClusters', summary: `until ${names.oldName} exists, is available and its endpoint changed` },
      { kind: 'aws', target: 'rds:ModifyDBCluster', summary: `rename ${names.targetCluster} -> ${rb.source.identifier}`, detail: 'ApplyImmediately=true' },
      { kind: 'wait', target: 'rds:DescribeDBClusters', summary: `until ${rb.source.identifier} exists, is available and its endpoint changed` },
    ];
  },
  async run(ctx) {
    const { names, runbook: rb } = ctx.services;
    if (rb.cutover.switch === 'none') return { mode: 'none', newName: names.targetCluster };
    const newKey = await newKeyArn(ctx);
    // The fence time-box only guards the start: once a rename began, finishing it is the safe direction.
    const atSource = await findCluster(ctx.services.cloud, rb.source.identifier);
    if (atSource && atSource.KmsKeyId !== newKey && !(await findCluster(ctx.services.cloud, names.oldName))) fenceBudgetMs(ctx, 'switch');
    await swap(ctx, newKey, { park: rb.source.identifier, parkAt: names.oldName, bring: names.targetCluster, bringTo: rb.source.identifier, bringIsNew: true });
    return { mode: 'rename', oldName: names.oldName, newName: rb.source.identifier };
  },
  async undo(ctx) {
    // Rename back: new -> its rekey name, old -> the source identifier.
    const { names, runbook: rb } = ctx.services;
    if (rb.cutover.switch === 'none') return;
    const newKey = await newKeyArn(ctx);
    await swap(ctx, newKey, { park: rb.source.identifier, parkAt: names.targetCluster, bring: names.oldName, bringTo: rb.source.identifier, bringIsNew: false });
  },
};
