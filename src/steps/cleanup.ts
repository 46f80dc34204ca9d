// cleanup: drop the source slot (PostgreSQL: it pins WAL) and delete the DMS task and endpoints. Never the
// old cluster, never a key: rollback may still need them.
import type { PlannedAction, Step } from '../engine/types.js';
import { output, withSource } from './common.js';
import { profile } from './engine.js';
import { deleteDmsResources } from './dms-setup.js';
import type { RekeyServices } from './services.js';
import type { CleanupOutput } from './outputs.js';

export type { CleanupOutput } from './outputs.js';

export const cleanup: Step<RekeyServices, CleanupOutput> = {
  id: 'cleanup',
  title: 'Clean up the slot and DMS resources',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    const actions: PlannedAction[] = [];
    if (profile(rb).usesSlot) {
      actions.push({ kind: 'sql', target: 'old source', summary: `drop slot ${names.slot}`, detail: `SELECT pg_drop_replication_slot('${names.slot}')` });
    }
    actions.push(
      { kind: 'aws', target: 'dms:DeleteReplicationTask', summary: `delete ${names.task}` },
      { kind: 'aws', target: 'dms:DeleteEndpoint', summary: `delete ${names.sourceEndpoint} and ${names.targetEndpoint}` },
      { kind: 'note', target: 'old cluster', summary: 'the old cluster, its snapshots and the old key are kept (rollback)' },
    );
    return actions;
  },
  async run(ctx) {
    const { names, runbook: rb } = ctx.services;
    const switched = output(ctx, 'switch');
    const oldId = switched?.mode === 'rename' ? names.oldName : rb.source.identifier;
    const droppedSlot = profile(rb).usesSlot ? await withSource(ctx, (db) => db.dropSlotIfExists(names.slot), oldId) : false;
    await deleteDmsResources(ctx);
    if (output(ctx, 'dms-setup')?.createdInstance) {
      ctx.report.log('info', `replication instance ${names.replicationInstance} was created by rekey; delete it when you no longer need it`);
    }
    return { droppedSlot, deletedDms: true };
  },
};
