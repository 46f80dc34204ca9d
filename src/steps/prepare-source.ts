// prepare-source: the test_decoding slot DMS will read and the sentinel table, both BEFORE the snapshot,
// so the snapshot's LSN is covered by the slot and the sentinel table exists on both sides.
import type { SlotInfo } from '../db/types.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { withSource } from './common.js';
import type { RekeyServices } from './services.js';

/** What prepare-source left on the source. */
export interface PrepareSourceOutput {
  /** The logical slot as created (or found). */
  slot: SlotInfo;
  /** Sentinel table in schema public. */
  sentinelTable: string;
}

export const prepareSource: Step<RekeyServices, PrepareSourceOutput> = {
  id: 'prepare-source',
  title: 'Create the replication slot and sentinel table on the source',
  describe(ctx) {
    const { names, runbook } = ctx.services;
    return [
      { kind: 'sql', target: 'source', summary: `create logical slot ${names.slot} (test_decoding) if missing`, detail: `SELECT pg_create_logical_replication_slot('${names.slot}', 'test_decoding')` },
      { kind: 'sql', target: 'source', summary: `create sentinel table public.${runbook.cutover.sentinelTable} if missing` },
    ];
  },
  async run(ctx) {
    const { names, runbook } = ctx.services;
    return withSource(ctx, async (db) => {
      const slot = await db.ensureLogicalSlot(names.slot, 'test_decoding');
      if (slot.plugin !== 'test_decoding') {
        throw new StepError(`slot ${names.slot} exists with plugin ${slot.plugin}; DMS needs test_decoding (drop it or choose another dms.slotName)`, 'rejected');
      }
      await db.ensureSentinelTable(runbook.cutover.sentinelTable);
      ctx.report.log('info', `slot ${names.slot} at ${slot.confirmedFlushLsn ?? slot.restartLsn ?? '?'}`);
      return { slot, sentinelTable: runbook.cutover.sentinelTable };
    });
  },
  async undo(ctx) {
    await withSource(ctx, async (db) => {
      await db.dropSlotIfExists(ctx.services.names.slot);
    });
  },
};
