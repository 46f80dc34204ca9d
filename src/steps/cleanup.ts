// cleanup: drop the source slot (it pins WAL) and delete the DMS task and endpoints. Never the old
// cluster, never a key: rollback may still need them.
import type { Step } from '../engine/types.js';
import { output, withSource } from './common.js';
import { deleteDmsResources } from './dms-setup.js';
import type { DmsSetupOutput } from './dms-setup.js';
import type { RekeyServices } from './services.js';
import type { SwitchOutput } from './switch.js';

/** What was cleaned up. */
export interface CleanupOutput {
  droppedSlot: boolean;
  deletedDms: boolean;
}

export const cleanup: Step<RekeyServices, CleanupOutput> = {
  id: 'cleanup',
  title: 'Clean up the slot and DMS resources',
  describe(ctx) {
    const { names } = ctx.services;
    const actions = [
      { kind: 'sql' as const, target: 'old source', summary: `drop slot ${names.slot}`, detail: `SELECT pg_drop_replication_slot('${names.slot}')` },
      { kind: 'aws' as const, target: 'dms:DeleteReplicationTask', summary: `delete ${names.task}` },
      { kind: 'aws' as const, target: 'dms:DeleteEndpoint', summary: `delete ${names.sourceEndpoint} and ${names.targetEndpoint}` },
      { kind: 'note' as const, target: 'old cluster', summary: 'the old cluster, its snapshots and the old key are kept (rollback)' },
    ];
    return actions;
  },
  async run(ctx) {
    const { names, runbook: rb } = ctx.services;
    const switched = output<SwitchOutput>(ctx, 'switch');
    const oldId = switched?.mode === 'rename' ? names.oldName : rb.source.identifier;
    const droppedSlot = await withSource(ctx, (db) => db.dropSlotIfExists(names.slot), oldId);
    await deleteDmsResources(ctx);
    if (output<DmsSetupOutput>(ctx, 'dms-setup')?.createdInstance) {
      ctx.report.log('info', `replication instance ${names.replicationInstance} was created by rekey; delete it when you no longer need it`);
    }
    return { droppedSlot, deletedDms: true };
  },
};
