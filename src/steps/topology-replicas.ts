// recreate-replicas (RDS instances): after the switch, the source's read replicas are recreated from the new primary.
// The old replicas stay attached to the old primary (RDS keeps replicas with a renamed instance) and are renamed
// to `<name>-old-<runid>`, so their names are free for the new ones; a same-Region replica gets the primary's key,
// a cross-Region one its Region's key (target.regionKeys). Each new replica carries rekey:run-id, which is how a
// re-run tells it from the old one holding the same name: it finds, never creates twice.
import { CreateDBInstanceReadReplicaCommand, DeleteDBInstanceCommand, ModifyDBInstanceCommand } from '@aws-sdk/client-rds';
import type { DBInstance } from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';
import { call } from '../aws/errors.js';
import { readReplicaLag } from '../aws/metrics.js';
import { poll } from '../aws/poll.js';
import { findInstance, pollTiming, waitInstanceAvailable, waitInstanceRenamed } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { madeByRun, newReplicaNameBeside, oldReplicaName, regionCloud, regionKeyRef, replicaRequest } from '../topology/replicas.js';
import type { ReplicaInfo } from '../topology/replicas.js';
import { mapLimit, newKeyArn, output, rekeyTags, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import type { RecreateReplicasOutput, ReplicaResult } from './outputs.js';
import type { RekeyServices } from './services.js';

export type { RecreateReplicasOutput, ReplicaResult } from './outputs.js';

/** The replicas preflight found (none: nothing to do). */
function found(ctx: Ctx): ReplicaInfo[] {
  return output(ctx, 'preflight')?.replicas?.found ?? [];
}

const renames = (ctx: Ctx): boolean => ctx.services.runbook.cutover.switch === 'rename';

/** The new replica's name: the old one's (freed by renaming it) or, without a switch, one beside it. */
function newName(ctx: Ctx, r: ReplicaInfo): string {
  return renames(ctx) ? r.identifier : newReplicaNameBeside(r.identifier, ctx.runId);
}

function cloudOf(ctx: Ctx, r: ReplicaInfo): Cloud {
  const c = regionCloud(ctx.services.cloud, r.region);
  if (!c) throw new StepError(`cannot reach ${r.region}, where read replica ${r.identifier} lives`, 'fatal');
  return c;
}

/** The key a new replica must have: the new key (same Region, inherited) or its Region's key as preflight resolved it. */
function wantedKey(ctx: Ctx, r: ReplicaInfo, newKey: string): string {
  if (!r.crossRegion) return newKey;
  const key = output(ctx, 'preflight')?.replicas?.regionKeys.find((k) => k.region === r.region)?.arn;
  if (!key) throw new StepError(`no checked key for ${r.region}: add it to target.regionKeys and run preflight again`, 'fatal');
  return key;
}

/** Step 1 for one replica: the old one moves to `-old-<runid>` (it stays attached to the old primary). */
async function moveOldAway(ctx: Ctx, r: ReplicaInfo): Promise<void> {
  const cloud = cloudOf(ctx, r);
  const parked = oldReplicaName(r.identifier, ctx.runId);
  const atName = await findInstance(cloud, r.identifier);
  if (atName && !madeByRun(atName, ctx.runId)) {
    if (await findInstance(cloud, parked)) throw new StepError(`cannot rename read replica ${r.identifier} to ${parked}: that name is taken`, 'fatal');
    await call(`rds:ModifyDBInstance ${r.identifier} -> ${parked}`, () =>
      cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: r.identifier, NewDBInstanceIdentifier: parked, ApplyImmediately: true })),
    );
    crashPoint('replicas:after-rename-call');
    ctx.report.log('info', `old read replica ${r.identifier}${r.crossRegion ? ` (${r.region})` : ''} renamed to ${parked}; it stays attached to the old primary`);
  }
  if (await findInstance(cloud, parked)) await waitInstanceRenamed(cloud, parked, waitEnv(ctx));
}

/** Step 2 for one replica: create it from the new primary, unless this run already did. */
async function createNew(ctx: Ctx, r: ReplicaInfo, primary: DBInstance, newKey: string): Promise<void> {
  const { runbook: rb } = ctx.services;
  const cloud = cloudOf(ctx, r);
  const name = newName(ctx, r);
  const existing = await findInstance(cloud, name);
  if (existing) {
    if (!madeByRun(existing, ctx.runId)) throw new StepError(`${name} in ${r.region} exists and was not made by this run: the old replica still holds the name`, 'fatal');
    ctx.report.log('info', `read replica ${name}${r.crossRegion ? ` (${r.region})` : ''} already exists; not creating another`);
    return;
  }
  const primaryId = primary.DBInstanceIdentifier ?? rb.source.identifier;
  const request = replicaRequest(r, name, { id: primaryId, arn: primary.DBInstanceArn ?? primaryId, region: ctx.services.cloud.region }, r.crossRegion ? wantedKey(ctx, r, newKey) : undefined, rekeyTags(ctx));
  await call(`rds:CreateDBInstanceReadReplica ${name}`, () => cloud.rds.send(new CreateDBInstanceReadReplicaCommand(request)));
  crashPoint('replicas:after-create-call');
  ctx.report.log('info', `creating read replica ${name}${r.crossRegion ? ` in ${r.region}` : ''} of ${primaryId}`);
}

/** Step 3 for one replica: available, under the right key; its lag read back. */
async function settle(ctx: Ctx, r: ReplicaInfo, primaryId: string, newKey: string): Promise<ReplicaResult> {
  const cloud = cloudOf(ctx, r);
  const name = newName(ctx, r);
  const i = await waitInstanceAvailable(cloud, name, waitEnv(ctx));
  const key = wantedKey(ctx, r, newKey);
  if (i.KmsKeyId !== key) throw new StepError(`read replica ${name} in ${r.region} reports KmsKeyId ${i.KmsKeyId ?? 'none'}, expected ${key}`, 'fatal');
  const lag = await readReplicaLag(cloud, name, ctx.services.timing.metricPeriodSeconds, ctx.services.clock.now()).catch(() => undefined);
  ctx.report.progress(`read replica ${name}${r.crossRegion ? ` (${r.region})` : ''}: available under ${key}${lag !== undefined ? `, lag ${lag} s` : ''}`);
  return {
    oldIdentifier: r.identifier,
    oldNow: renames(ctx) ? oldReplicaName(r.identifier, ctx.runId) : r.identifier,
    identifier: name,
    region: r.region,
    crossRegion: r.crossRegion,
    kmsKeyId: i.KmsKeyId,
    ...(i.DBInstanceArn ? { arn: i.DBInstanceArn } : {}),
    primary: primaryId,
    ...(lag !== undefined ? { lagSeconds: lag } : {}),
  };
}

/** Waits until an instance is gone (its name free again). */
async function waitGone(ctx: Ctx, cloud: Cloud, id: string): Promise<void> {
  await poll({
    what: `${id} deleted`,
    observe: () => findInstance(cloud, id),
    classify: (i) => (i === undefined ? { state: 'success' } : { state: 'retry', note: `status ${i.DBInstanceStatus ?? '?'}` }),
    ...pollTiming(waitEnv(ctx)),
  });
}

export const recreateReplicas: Step<RekeyServices, RecreateReplicasOutput> = {
  id: 'recreate-replicas',
  title: 'Recreate the read replicas from the new primary',
  describe(ctx) {
    const plan = output(ctx, 'preflight')?.replicas;
    const rb = ctx.services.runbook;
    if (!plan) {
      return [{ kind: 'note', target: 'replicas', summary: `the source's read replicas (found by preflight) are recreated from the new primary: same-Region under the new key, cross-Region under target.regionKeys${Object.keys(rb.target.regionKeys).length > 0 ? ` (${Object.entries(rb.target.regionKeys).map(([g, k]) => `${g}: ${k}`).join(', ')})` : ''}` }];
    }
    if (plan.found.length === 0) return [{ kind: 'note', target: 'replicas', summary: 'the source has no read replicas: nothing to recreate' }];
    const actions: PlannedAction[] = [];
    for (const r of plan.found) {
      const where = r.crossRegion ? ` (${r.region})` : '';
      if (renames(ctx)) {
        actions.push({ kind: 'aws', target: 'rds:ModifyDBInstance', summary: `rename old replica ${r.identifier}${where} -> ${oldReplicaName(r.identifier, ctx.runId)} (stays attached to the old primary)`, detail: 'ApplyImmediately=true' });
      }
      actions.push({
        kind: 'aws', target: 'rds:CreateDBInstanceReadReplica',
        summary: `${newName(ctx, r)}${where} from the new primary, class ${r.instanceClass ?? '?'}, ${r.storageType ?? '?'} ${r.allocatedStorage ?? '?'} GiB, parameter group ${r.parameterGroup ?? 'default'}`,
        detail: r.crossRegion ? `in ${r.region}: SourceDBInstanceIdentifier=<new primary ARN> KmsKeyId=${regionKeyRef(rb, r.region) ?? '(missing in target.regionKeys)'} SourceRegion=${rb.region}` : 'same Region: no KmsKeyId (the replica has the primary\'s key)',
      });
    }
    actions.push({ kind: 'wait', target: 'rds:DescribeDBInstances', summary: `until every new replica is available under its key (about ${plan.withoutReplicasSeconds} s without replicas); then CloudWatch ReplicaLag` });
    return actions;
  },
  async run(ctx) {
    const replicas = found(ctx);
    if (replicas.length === 0) return { replicas: [], regionsWithoutReplica: [] };
    const { names, runbook: rb, cloud } = ctx.services;
    const newKey = await newKeyArn(ctx);
    const primaryId = renames(ctx) ? rb.source.identifier : names.targetCluster;
    const primary = await findInstance(cloud, primaryId);
    if (!primary || primary.KmsKeyId !== newKey) throw new StepError(`the new primary ${primaryId} is not there under the new key ${newKey}`, 'fatal');
    if (renames(ctx)) for (const r of replicas) await moveOldAway(ctx, r);
    for (const r of replicas) await createNew(ctx, r, primary, newKey);
    const results = await mapLimit(replicas, 4, (r) => settle(ctx, r, primaryId, newKey));
    return { replicas: results, regionsWithoutReplica: [] };
  },
  async undo(ctx) {
    const replicas = found(ctx);
    for (const r of replicas) {
      const cloud = cloudOf(ctx, r);
      const name = newName(ctx, r);
      const made = await findInstance(cloud, name);
      if (made && madeByRun(made, ctx.runId)) {
        if (made.DBInstanceStatus !== 'deleting') {
          await call(`rds:DeleteDBInstance ${name}`, () => cloud.rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: name, SkipFinalSnapshot: true })));
          ctx.report.log('info', `deleting new read replica ${name}${r.crossRegion ? ` (${r.region})` : ''}`);
        }
        await waitGone(ctx, cloud, name);
      }
      if (!renames(ctx)) continue;
      const parked = oldReplicaName(r.identifier, ctx.runId);
      if (await findInstance(cloud, parked)) {
        await call(`rds:ModifyDBInstance ${parked} -> ${r.identifier}`, () =>
          cloud.rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: parked, NewDBInstanceIdentifier: r.identifier, ApplyImmediately: true })),
        );
        ctx.report.log('info', `old read replica ${parked} renamed back to ${r.identifier}`);
        await waitInstanceRenamed(cloud, r.identifier, waitEnv(ctx));
      }
    }
  },
};

/** Regions of cross-Region replicas that have no new replica in `out` (all of them before the step succeeded). */
export function regionsWithoutReplica(found: readonly ReplicaInfo[], out: RecreateReplicasOutput | undefined): string[] {
  const made = new Set((out?.replicas ?? []).map((r) => r.region));
  return [...new Set(found.filter((r) => r.crossRegion && !made.has(r.region)).map((r) => r.region))].sort();
}
