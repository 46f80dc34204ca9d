// start-cdc: StartReplicationTask (start-replication at the captured position the first time; a task that ran
// before is resumed, never restarted, since a restart would recreate the slot), then wait for `running`.
import { crashPoint } from '../engine/crash.js';
import { StartReplicationTaskCommand, StopReplicationTaskCommand } from '@aws-sdk/client-database-migration-service';
import { findTask, waitTask } from '../aws/dms.js';
import { call } from '../aws/errors.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { required, waitEnv } from './common.js';
import type { Ctx } from './common.js';
import type { RekeyServices } from './services.js';
import type { StartCdcOutput } from './outputs.js';

export type { StartCdcOutput } from './outputs.js';

export const startCdc: Step<RekeyServices, StartCdcOutput> = {
  id: 'start-cdc',
  title: 'Start the CDC task',
  describe(ctx) {
    const { names } = ctx.services;
    return [
      { kind: 'aws', target: 'dms:StartReplicationTask', summary: `start ${names.task} at the snapshot position`, detail: 'StartReplicationTaskType=start-replication CdcStartPosition=<captured position> (resume-processing if it ran before)' },
      { kind: 'wait', target: 'dms:DescribeReplicationTasks', summary: `until ${names.task} is running` },
    ];
  },
  async run(ctx) {
    const { cloud, names } = ctx.services;
    const dms = required(ctx, 'dms-setup', 'start-cdc');
    const position = required(ctx, 'capture-position', 'start-cdc');
    let task = await findTask(cloud, names.task);
    if (!task) throw new StepError(`task ${names.task} not found`, 'fatal');
    // A cutover abandoned while the task was being stopped: let it stop, then resume it from its checkpoint.
    if (task.Status === 'stopping') task = await waitTask(cloud, names.task, 'stopped', waitEnv(ctx));
    let startType: StartCdcOutput['startType'] = 'already-running';
    if (task.Status === 'ready' || task.Status === 'stopped' || task.Status === 'failed') {
      const ranBefore = task.Status !== 'ready' || task.ReplicationTaskStartDate !== undefined;
      startType = ranBefore ? 'resume-processing' : 'start-replication';
      if (ranBefore) ctx.report.log('info', `resuming ${names.task} from its recorded position (${task.Status})`);
      await call('dms:StartReplicationTask', () =>
        cloud.dms.send(
          new StartReplicationTaskCommand({
            ReplicationTaskArn: dms.taskArn,
            StartReplicationTaskType: startType as 'start-replication' | 'resume-processing',
            ...(ranBefore ? {} : { CdcStartPosition: position.position }),
          }),
        ),
      );
    }
    await waitTask(cloud, names.task, 'running', waitEnv(ctx));
    return { taskArn: dms.taskArn, startType };
  },
  async undo(ctx) {
    await stopTask(ctx, false);
  },
};

/** Stops the task if it is running; waits until stopped (at most `timeoutSeconds`). Returns the final status. */
export async function stopTask(ctx: Ctx, fast: boolean, timeoutSeconds?: number): Promise<string | undefined> {
  const { cloud, names } = ctx.services;
  const task = await findTask(cloud, names.task);
  if (!task?.ReplicationTaskArn) return undefined;
  const arn = task.ReplicationTaskArn;
  if (task.Status === 'running' || task.Status === 'starting') {
    await call('dms:StopReplicationTask', () => cloud.dms.send(new StopReplicationTaskCommand({ ReplicationTaskArn: arn })));
    if (fast) crashPoint('stop-task:after-stop-call');
  }
  if (task.Status === 'ready' || task.Status === 'failed') return task.Status;
  const stopped = await waitTask(cloud, names.task, 'stopped', waitEnv(ctx, fast, timeoutSeconds));
  return stopped.Status;
}
