// strategy native: the dms-cdc flow with the engine's own replication in place of the DMS task. Shared steps:
// preflight, (replica-position,) snapshot, (copy-snapshot,) restore, capture-position, validate, the hooks, fence,
// drain, final-validate, fix-sequences, switch, verify. Its own (src/steps/native.ts): prepare-source with
// publications and a pgoutput slot, native-setup, catch-up from the engine's lag, stop-replication, cleanup.
import type { Flow, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { capturePosition } from '../steps/capture-position.js';
import { findDb, newKeyArn } from '../steps/common.js';
import type { Ctx } from '../steps/common.js';
import { drainStep } from '../steps/drain.js';
import { profile } from '../steps/engine.js';
import { FenceTracker, currentFence, fenceStep, unfence } from '../steps/fence.js';
import { fixSequences } from '../steps/fix-sequences.js';
import { afterSwitch, beforeFence } from '../steps/hooks.js';
import { copySnapshot, replicaPosition } from '../steps/instance.js';
import { nativeCatchUp, nativeCleanup, nativeSetup, prepareSourceNative, stopNativeReplication, stopReplicationStep } from '../steps/native.js';
import { preflight } from '../steps/preflight.js';
import { restore } from '../steps/restore.js';
import type { RekeyServices } from '../steps/services.js';
import { snapshot } from '../steps/snapshot.js';
import { switchStep } from '../steps/switch.js';
import { finalValidate, validate } from '../steps/validate.js';
import { verify } from '../steps/verify.js';

/** Whether the source identifier still names the old database (the switch has not happened, even partly). */
async function sourceStillOld(ctx: Ctx): Promise<boolean> {
  const { names, runbook: rb } = ctx.services;
  const [atSource, parked] = await Promise.all([findDb(ctx, rb.source.identifier), findDb(ctx, names.oldName)]);
  if (!atSource || parked) return false;
  return atSource.kmsKeyId !== (await newKeyArn(ctx));
}

export function buildNativeFlow(runbook: Runbook): Flow<RekeyServices> {
  const tracker = new FenceTracker();
  const p = profile(runbook);
  const steps: Step<RekeyServices>[] = [
    preflight,
    prepareSourceNative,
    ...(p.instance && p.family === 'mysql' ? [replicaPosition] : []),
    snapshot,
    ...(p.instance ? [copySnapshot] : []),
    restore,
    capturePosition,
    nativeSetup,
    nativeCatchUp,
    validate,
    beforeFence,
    fenceStep(tracker),
    drainStep(tracker),
    stopReplicationStep,
    finalValidate,
    fixSequences,
    switchStep,
    verify,
    afterSwitch,
    nativeCleanup,
  ];
  const ids = steps.map((s) => s.id);
  const order = (id: string): number => ids.indexOf(id);
  return {
    id: `native/${runbook.source.engine}`,
    steps,
    async makeSafe(ctx, failedStepId) {
      if (!currentFence(ctx, tracker)) return [];
      if (ctx.outputs.switch !== undefined) return [];
      if (order(failedStepId) >= order('switch') && !(await sourceStillOld(ctx))) {
        ctx.report.log('warn', 'the switch has (partly) happened: the old source stays fenced; resume to finish or rollback to rename back');
        return [];
      }
      await unfence(ctx, tracker);
      // Once unfenced, everything from catch-up on happens again; with replication stopped, from native-setup (which starts it again).
      const from = ctx.outputs['stop-replication'] !== undefined ? 'native-setup' : 'catch-up';
      return ids.filter((id) => order(id) >= order(from) && order(id) < order('switch') && ctx.outputs[id] !== undefined);
    },
    async rollback(ctx, succeeded) {
      const switched = succeeded.has('switch') || (ctx.outputs.restore !== undefined && !(await sourceStillOld(ctx)));
      if (switched && runbook.cutover.switch === 'rename') await switchStep.undo?.(ctx);
      await unfence(ctx, tracker);
      if (succeeded.has('native-setup') || ctx.outputs.restore !== undefined) await stopNativeReplication(ctx, 'remove').catch((error: unknown) => {
        ctx.report.log('warn', `could not remove replication on the restored database: ${error instanceof Error ? error.message : String(error)}`);
      });
      if (succeeded.has('prepare-source')) await prepareSourceNative.undo?.(ctx);
    },
  };
}
