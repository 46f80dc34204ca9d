// bg-switchover: behind the cutover gate, SwitchoverBlueGreenDeployment with the runbook's timeout, then the wait for
// SWITCHOVER_COMPLETED. AWS's guardrails decide; a SWITCHOVER_FAILED (or the timeout) is AWS's revert: blue keeps
// its names and stays writable, nothing switched, and the run stops (exit 5) to be resumed or rolled back.
import { SwitchoverBlueGreenDeploymentCommand } from '@aws-sdk/client-rds';
import type { BlueGreenDeployment } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { poll } from '../aws/poll.js';
import type { Verdict } from '../aws/poll.js';
import { pollTiming } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { deploymentProgress, findOwnDeployment, greenMembers } from './bg-common.js';
import { required, waitEnv } from './common.js';
import { cutoverGate } from './hooks.js';
import type { BgSwitchoverOutput } from './outputs.js';
import type { RekeyServices } from './services.js';

export type { BgSwitchoverOutput };

/** Pure: what one observation after the request means. A return to AVAILABLE is AWS's revert too. */
export function classifySwitchover(d: BlueGreenDeployment | undefined): Verdict {
  if (!d) return { state: 'failure', reason: 'the deployment disappeared' };
  switch (d.Status) {
    case 'SWITCHOVER_COMPLETED':
      return { state: 'success' };
    case 'SWITCHOVER_IN_PROGRESS':
      return { state: 'retry', note: 'SWITCHOVER_IN_PROGRESS' };
    case 'SWITCHOVER_FAILED':
    case 'AVAILABLE':
      return { state: 'failure', reason: `reverted by AWS (${d.Status}${d.StatusDetails ? `: ${d.StatusDetails}` : ''})` };
    case undefined:
    default:
      return { state: 'failure', reason: `status ${d.Status ?? 'unknown'}` };
  }
}

const REVERTED = [
  'AWS rolled the switchover back: blue kept its names and endpoints and is writable; nothing was switched',
  'look at the guardrails (replica lag, long-running writes or DDL on blue), then `rekey resume` to try again, or `rekey rollback` to delete green',
];

export const bgSwitchover: Step<RekeyServices, BgSwitchoverOutput> = {
  id: 'bg-switchover',
  title: 'Switch over to green (AWS renames, blue becomes -old1)',
  gate: { ...cutoverGate, question: 'Switch over to the green environment on the new key? (AWS blocks writes on blue, catches up, swaps names)' },
  describe: (ctx) => [
    { kind: 'aws', target: 'rds:SwitchoverBlueGreenDeployment', summary: `switch over, AWS reverts after ${ctx.services.runbook.blueGreen.switchoverTimeoutSeconds} s`, detail: `SwitchoverTimeout=${ctx.services.runbook.blueGreen.switchoverTimeoutSeconds}` },
    { kind: 'wait', target: 'rds:DescribeBlueGreenDeployments', summary: 'until SWITCHOVER_COMPLETED; SWITCHOVER_FAILED is AWS\'s revert (nothing switched)' },
  ],
  async run(ctx) {
    const created = required(ctx, 'bg-create', 'bg-switchover');
    const timeout = ctx.services.runbook.blueGreen.switchoverTimeoutSeconds;
    const started = ctx.services.clock.now();
    let d = await findOwnDeployment(ctx);
    if (!d) throw new StepError(`deployment ${created.name} not found`, 'fatal');
    // As created (before any switchover): after it, AWS reports the renamed ARNs.
    const members = created.members.length > 0 ? created.members : greenMembers(d);
    if (d.Status === 'AVAILABLE' || d.Status === 'SWITCHOVER_FAILED') {
      await call('rds:SwitchoverBlueGreenDeployment', () =>
        ctx.services.cloud.rds.send(new SwitchoverBlueGreenDeploymentCommand({ BlueGreenDeploymentIdentifier: created.identifier, SwitchoverTimeout: timeout })),
      );
      ctx.report.log('info', `switchover of ${created.name} requested (timeout ${timeout} s)`);
      crashPoint('bg-switchover:after-switchover-call');
    }
    // AWS itself gives up after the timeout; the wait allows it that long and a little more to report.
    const env = waitEnv(ctx, true, timeout + 120);
    try {
      d = await poll({
        what: `switchover of ${created.name}`,
        observe: () => findOwnDeployment(ctx),
        classify: classifySwitchover,
        onRetry: (o) => {
          if (o) ctx.report.progress(deploymentProgress(o).message);
        },
        ...pollTiming(env),
      });
    } catch (error) {
      if (error instanceof StepError) throw new StepError(`switchover of ${created.name} did not complete: ${error.message}`, 'fatal', REVERTED, { cause: error });
      throw error;
    }
    ctx.report.progress(`switchover completed in ${Math.round((ctx.services.clock.now() - started) / 100) / 10} s`);
    return { requestedAt: new Date(started).toISOString(), durationMs: ctx.services.clock.now() - started, members };
  },
};
