// stop-task: the sentinel arrived, so the task has nothing left to apply; stop it before any rename
// (DMS endpoints hold hostnames that the switch moves).
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { fenceBudgetMs } from './fence.js';
import type { RekeyServices } from './services.js';
import { stopTask } from './start-cdc.js';
import type { StopTaskOutput } from './outputs.js';

export type { StopTaskOutput } from './outputs.js';

export const stopTaskStep: Step<RekeyServices, StopTaskOutput> = {
  id: 'stop-task',
  title: 'Stop the CDC task',
  describe(ctx) {
    return [
      { kind: 'aws', target: 'dms:StopReplicationTask', summary: `stop ${ctx.services.names.task}` },
      { kind: 'wait', target: 'dms:DescribeReplicationTasks', summary: 'until stopped' },
    ];
  },
  async run(ctx) {
    const budget = fenceBudgetMs(ctx, 'stop-task');
    let status: string | undefined;
    try {
      // Waited for at most what is left of the fence time box.
      status = await stopTask(ctx, true, budget / 1000);
    } catch (error) {
      if (!(error instanceof StepError && error.kind === 'retryable')) throw error;
      throw new StepError(
        `the CDC task did not stop within the fence time box (${Math.round(budget / 1000)} s left): the source is unfenced and nothing was switched; the task is resumed from its recorded position`,
        'retryable',
        [],
        { cause: error, retryFrom: 'start-cdc' },
      );
    }
    if (status !== 'stopped') ctx.report.log('warn', `task ended as ${status ?? 'missing'}; final validation decides`);
    return { status };
  },
};
