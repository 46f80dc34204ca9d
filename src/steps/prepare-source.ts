// prepare-source: what must exist on the source BEFORE the snapshot. PostgreSQL: the test_decoding slot DMS
// will read (so the snapshot's LSN is covered by it) and the sentinel table. MySQL: only the sentinel table
// (the binary log is the change stream), so it exists on both sides.
import type { SlotInfo } from '../db/types.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { withSource } from './common.js';
import { profile } from './engine.js';
import type { RekeyServices } from './services.js';
import type { PrepareSourceOutput } from './outputs.js';

export type { PrepareSourceOutput } from './outputs.js';

export const prepareSource: Step<RekeyServices, PrepareSourceOutput> = {
  id: 'prepare-source',
  title: 'Prepare the source (sentinel table; PostgreSQL: the replication slot)',
  describe(ctx) {
    const { names, runbook } = ctx.services;
    const p = profile(runbook);
    const actions: PlannedAction[] = [];
    if (p.usesSlot) {
      actions.push({ kind: 'sql', target: 'source', summary: `create logical slot ${names.slot} (test_decoding) if missing`, detail: `SELECT pg_create_logical_replication_slot('${names.slot}', 'test_decoding')` });
    }
    actions.push({ kind: 'sql', target: 'source', summary: `create sentinel table ${p.sentinelSchema}.${runbook.cutover.sentinelTable} if missing` });
    return actions;
  },
  async run(ctx) {
    const { names, runbook } = ctx.services;
    const usesSlot = profile(runbook).usesSlot;
    return withSource(ctx, async (db) => {
      let slot: SlotInfo | undefined;
      if (usesSlot) {
        slot = await db.ensureLogicalSlot(names.slot, 'test_decoding');
        if (slot.plugin !== 'test_decoding') {
          throw new StepError(`slot ${names.slot} exists with plugin ${slot.plugin}; DMS needs test_decoding (drop it or choose another dms.slotName)`, 'rejected');
        }
        ctx.report.log('info', `slot ${names.slot} at ${slot.confirmedFlushLsn ?? slot.restartLsn ?? '?'}`);
      }
      await db.ensureSentinelTable(runbook.cutover.sentinelTable);
      return { ...(slot ? { slot } : {}), sentinelTable: runbook.cutover.sentinelTable };
    });
  },
  keepOnRollback: 'the replication slot and the sentinel table on the source',
  async undo(ctx) {
    if (!profile(ctx.services.runbook).usesSlot) return;
    await withSource(ctx, async (db) => {
      await db.dropSlotIfExists(ctx.services.names.slot);
    });
  },
};
