// snapshot: CreateDBClusterSnapshot of the source (after the slot exists), then wait for `available`.
import { CreateDBClusterSnapshotCommand, DeleteDBClusterSnapshotCommand } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { findClusterSnapshot, waitClusterSnapshotAvailable, waitClusterSnapshotDeletable } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { rekeyTags, waitEnv } from './common.js';
import { profile } from './engine.js';
import { deleteInstanceSnapshot, snapshotInstance } from './instance.js';
import type { RekeyServices } from './services.js';
import type { SnapshotOutput } from './outputs.js';

export type { SnapshotOutput } from './outputs.js';

export const snapshot: Step<RekeyServices, SnapshotOutput> = {
  id: 'snapshot',
  title: 'Snapshot the source cluster',
  describe(ctx) {
    const { names, runbook } = ctx.services;
    if (profile(runbook).instance) {
      const of = profile(runbook).family === 'mysql' ? names.readReplica : runbook.source.identifier;
      return [
        { kind: 'aws', target: 'rds:CreateDBSnapshot', summary: `snapshot ${names.snapshot} of ${of}`, detail: `DBSnapshotIdentifier=${names.snapshot} DBInstanceIdentifier=${of}` },
        { kind: 'wait', target: 'rds:DescribeDBSnapshots', summary: `until ${names.snapshot} is available (PercentProgress)` },
        ...(of === names.readReplica
          ? [{ kind: 'aws' as const, target: 'rds:DeleteDBInstance', summary: `delete the temporary replica ${names.readReplica}`, detail: 'SkipFinalSnapshot=true' }]
          : []),
      ];
    }
    return [
      { kind: 'aws', target: 'rds:CreateDBClusterSnapshot', summary: `snapshot ${names.snapshot} of ${runbook.source.identifier}`, detail: `DBClusterSnapshotIdentifier=${names.snapshot} DBClusterIdentifier=${runbook.source.identifier}` },
      { kind: 'wait', target: 'rds:DescribeDBClusterSnapshots', summary: `until ${names.snapshot} is available (PercentProgress)` },
    ];
  },
  async run(ctx) {
    const { cloud, names, runbook } = ctx.services;
    if (profile(runbook).instance) return snapshotInstance(ctx);
    const existing = await findClusterSnapshot(cloud, names.snapshot);
    if (existing) {
      if (existing.DBClusterIdentifier && existing.DBClusterIdentifier !== runbook.source.identifier) {
        throw new StepError(`snapshot ${names.snapshot} exists but is of ${existing.DBClusterIdentifier}`, 'fatal');
      }
      ctx.report.log('info', `snapshot ${names.snapshot} already exists (${existing.Status ?? '?'}); not creating another`);
    } else {
      await call('rds:CreateDBClusterSnapshot', () =>
        cloud.rds.send(
          new CreateDBClusterSnapshotCommand({
            DBClusterSnapshotIdentifier: names.snapshot,
            DBClusterIdentifier: runbook.source.identifier,
            Tags: rekeyTags(ctx),
          }),
        ),
      );
      crashPoint('snapshot:after-create-call');
    }
    const done = await waitClusterSnapshotAvailable(cloud, names.snapshot, waitEnv(ctx));
    return { snapshotId: names.snapshot, ...(done.DBClusterSnapshotArn ? { snapshotArn: done.DBClusterSnapshotArn } : {}) };
  },
  keepOnRollback: 'the snapshot of the source',
  async undo(ctx) {
    const { cloud, names, runbook } = ctx.services;
    if (profile(runbook).instance) {
      await deleteInstanceSnapshot(ctx, names.snapshot);
      return;
    }
    // A snapshot still being created (a runner killed inside this step) cannot be deleted yet: AWS refuses it.
    const existing = await waitClusterSnapshotDeletable(cloud, names.snapshot, waitEnv(ctx));
    if (!existing || existing.Status === 'deleting' || existing.Status === 'deleted') return;
    await call('rds:DeleteDBClusterSnapshot', () => cloud.rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: names.snapshot })));
    ctx.report.log('info', `deleted snapshot ${names.snapshot}`);
  },
};
