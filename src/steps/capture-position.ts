// capture-position: the LSN the restored volume starts at, which must not be older than the source slot.
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { withSource, withTarget } from './common.js';
import type { RekeyServices } from './services.js';

/** The CDC start position. */
export interface CapturePositionOutput {
  /** aurora_volume_logical_start_lsn() on the target: the task's CdcStartPosition. */
  lsn: string;
  /** The source slot's confirmed_flush_lsn when checked. */
  slotConfirmedFlushLsn: string;
}

export const capturePosition: Step<RekeyServices, CapturePositionOutput> = {
  id: 'capture-position',
  title: 'Read the snapshot LSN on the target',
  describe(ctx) {
    const { names } = ctx.services;
    return [
      { kind: 'sql', target: 'target', summary: 'read the snapshot position', detail: 'SELECT aurora_volume_logical_start_lsn()' },
      { kind: 'sql', target: 'source', summary: `check it is not older than slot ${names.slot}`, detail: `SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '${names.slot}'` },
    ];
  },
  async run(ctx) {
    const { names } = ctx.services;
    const lsn = await withTarget(ctx, (db) => db.seedPosition('aurora_volume_logical_start_lsn'));
    return withSource(ctx, async (db) => {
      const slot = await db.slot(names.slot);
      if (!slot) throw new StepError(`slot ${names.slot} is missing on the source; DMS cannot start from ${lsn} without it`, 'fatal');
      const flushed = slot.confirmedFlushLsn ?? slot.restartLsn;
      if (!flushed) throw new StepError(`slot ${names.slot} has no confirmed_flush_lsn yet`, 'retryable');
      if (db.comparePositions(lsn, flushed) < 0) {
        throw new StepError(
          `snapshot LSN ${lsn} is older than slot ${names.slot}'s confirmed_flush_lsn ${flushed}: changes between them are gone from the slot`,
          'fatal',
        );
      }
      ctx.report.log('info', `CDC start position ${lsn} (slot at ${flushed})`);
      return { lsn, slotConfirmedFlushLsn: flushed };
    });
  },
};
