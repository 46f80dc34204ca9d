// stop-task: the sentinel arrived, so the task has nothing left to apply; stop it before any rename
// (DMS endpoints hold hostnames that the switch moves).
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
    fenceBudgetMs(ctx, 'stop-task');
    const status = await stopTask(ctx, true);
    if (status !== 'stopped') ctx.report.log('warn', `task ended as ${status ?? 'missing'}; final validation decides`);
    return { status };
  },
};
