// bg-create: CreateBlueGreenDeployment with TargetResourceConfigurations naming the new key (Aurora: the cluster;
// RDS: the instance and each read replica), found again by its deterministic name on a resume, then the wait for
// AVAILABLE. A refusal leaves nothing behind and says to use strategy dms-cdc; undo deletes green with it.
import { CreateBlueGreenDeploymentCommand } from '@aws-sdk/client-rds';
import type { BlueGreenDeployment, CreateBlueGreenDeploymentCommandInput } from '@aws-sdk/client-rds';
import { awsErrorName } from '../aws/errors.js';
import { poll } from '../aws/poll.js';
import type { Verdict } from '../aws/poll.js';
import { pollTiming } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { deleteDeployment, deploymentName, deploymentProgress, findOwnDeployment, greenMembers, sourceMembers } from './bg-common.js';
import { newKeyArn, rekeyTags, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import type { BgCreateOutput } from './outputs.js';
import type { RekeyServices } from './services.js';

export type { BgCreateOutput };

const FALLBACK = 'AWS refused the Blue/Green deployment with a target key; nothing was created. Use strategy: dms-cdc for this database (it changes the key by snapshot, restore and DMS CDC).';

/** What a rollback after the switchover says instead of acting: AWS has no reverse switchover. */
export const AFTER_SWITCHOVER = [
  'the switchover happened: green (on the new key) serves the names and endpoints; blue is the -old1 resources, still on the old key; rekey deletes nothing',
  'to go back, point clients at the -old1 endpoints (or rename them back yourself): AWS has no reverse switchover',
  'writes made to the new primary since the switchover are not on -old1 and would be lost',
];

/** The request, pure given the source members and the key. */
export function createRequest(ctx: Ctx, sourceArn: string, keyed: string[], keyArn: string): CreateBlueGreenDeploymentCommandInput {
  const bg = ctx.services.runbook.blueGreen;
  return {
    BlueGreenDeploymentName: deploymentName(ctx.services.runbook.source.identifier, ctx.runId),
    Source: sourceArn,
    TargetResourceConfigurations: keyed.map((SourceArn) => ({ SourceArn, TargetKmsKeyId: keyArn })),
    ...(bg.targetEngineVersion ? { TargetEngineVersion: bg.targetEngineVersion } : {}),
    ...(bg.targetDBParameterGroupName ? { TargetDBParameterGroupName: bg.targetDBParameterGroupName } : {}),
    ...(bg.targetDBClusterParameterGroupName ? { TargetDBClusterParameterGroupName: bg.targetDBClusterParameterGroupName } : {}),
    Tags: rekeyTags(ctx),
  };
}

/** Pure: what one observation of a new deployment means. */
export function classifyProvisioning(d: BlueGreenDeployment | undefined): Verdict {
  if (!d) return { state: 'failure', reason: 'the deployment disappeared' };
  switch (d.Status) {
    case 'AVAILABLE':
      return { state: 'success' };
    case 'PROVISIONING':
      return { state: 'retry', note: 'PROVISIONING' };
    case 'INVALID_CONFIGURATION':
    case 'PROVISIONING_FAILED':
    case 'DELETING':
      return { state: 'failure', reason: `status ${d.Status}${d.StatusDetails ? `: ${d.StatusDetails}` : ''}` };
    case undefined:
    default:
      return { state: 'failure', reason: `unexpected status ${d.Status ?? 'unknown'} before a switchover` };
  }
}

function outputOf(d: BlueGreenDeployment): BgCreateOutput {
  return {
    identifier: d.BlueGreenDeploymentIdentifier ?? '',
    name: d.BlueGreenDeploymentName ?? '',
    source: d.Source ?? '',
    ...(d.Target ? { target: d.Target } : {}),
    members: greenMembers(d),
  };
}

export const bgCreate: Step<RekeyServices, BgCreateOutput> = {
  id: 'bg-create',
  title: 'Create the Blue/Green deployment under the new key',
  describe(ctx) {
    const rb = ctx.services.runbook;
    const name = deploymentName(rb.source.identifier, ctx.runId);
    return [
      {
        kind: 'aws',
        target: 'rds:CreateBlueGreenDeployment',
        summary: `deployment ${name} of ${rb.source.identifier}, green under ${rb.target.kmsKeyId}`,
        detail: `TargetResourceConfigurations=[{SourceArn: ${rb.source.engine.startsWith('aurora') ? 'the cluster ARN' : 'the instance ARN, and one entry per read replica'}, TargetKmsKeyId: ${rb.target.kmsKeyId}}]${rb.blueGreen.targetEngineVersion ? ` TargetEngineVersion=${rb.blueGreen.targetEngineVersion}` : ''}`,
      },
      { kind: 'wait', target: 'rds:DescribeBlueGreenDeployments', summary: 'until AVAILABLE (PROVISIONING: green restored under the new key, replication from blue)' },
    ];
  },
  async run(ctx) {
    let d = await findOwnDeployment(ctx);
    if (!d) {
      const { sourceArn, keyed } = await sourceMembers(ctx);
      const request = createRequest(ctx, sourceArn, keyed, await newKeyArn(ctx));
      try {
        d = (await ctx.services.cloud.rds.send(new CreateBlueGreenDeploymentCommand(request))).BlueGreenDeployment;
      } catch (error) {
        // A refusal creates nothing: no cleanup, and the advice is the other strategy.
        const name = awsErrorName(error);
        const message = error instanceof Error ? error.message : String(error);
        throw new StepError(`rds:CreateBlueGreenDeployment refused: ${name}: ${message}`, 'rejected', [FALLBACK], { cause: error });
      }
      if (!d) throw new StepError('rds:CreateBlueGreenDeployment returned no deployment', 'fatal');
      ctx.report.log('info', `created Blue/Green deployment ${d.BlueGreenDeploymentName ?? '?'} (${d.BlueGreenDeploymentIdentifier ?? '?'})`);
      crashPoint('bg-create:after-create-call');
    } else {
      ctx.report.log('info', `found this run's deployment ${d.BlueGreenDeploymentName ?? '?'} (${d.Status ?? '?'}): not creating a second one`);
    }
    if (d.Status === 'SWITCHOVER_COMPLETED' || d.Status === 'SWITCHOVER_IN_PROGRESS') return outputOf(d);
    const env = waitEnv(ctx);
    try {
      d = await poll({
        what: `Blue/Green deployment ${d.BlueGreenDeploymentName ?? '?'} available`,
        observe: () => findOwnDeployment(ctx),
        classify: classifyProvisioning,
        onRetry: (o) => {
          if (!o) return;
          const p = deploymentProgress(o);
          ctx.report.progress(p.message, p.percent);
        },
        ...pollTiming(env),
      });
    } catch (error) {
      if (error instanceof StepError && error.kind === 'fatal') {
        // AWS could not build green (unsupported engine/version/key): remove what it made, then advise.
        const left = await findOwnDeployment(ctx);
        if (left && left.Status !== 'DELETING') await deleteDeployment(ctx, left, true);
        throw new StepError(error.message, 'rejected', [FALLBACK, 'the deployment and its green resources were deleted'], { cause: error });
      }
      throw error;
    }
    if (!d) throw new StepError('the deployment disappeared', 'fatal');
    const p = deploymentProgress(d);
    ctx.report.progress(p.message, 100);
    return outputOf(d);
  },
  async undo(ctx) {
    const d = await findOwnDeployment(ctx);
    if (!d) return;
    if (d.Status === 'SWITCHOVER_COMPLETED') {
      for (const line of AFTER_SWITCHOVER) ctx.report.log('warn', line);
      return;
    }
    await deleteDeployment(ctx, d, true);
    ctx.report.log('info', `deleted deployment ${d.BlueGreenDeploymentName ?? '?'} and its green resources (DeleteTarget)`);
  },
};
