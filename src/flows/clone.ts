// strategy clone (Aurora only): the native flow with an Aurora clone (RestoreDBClusterToPointInTime under the new
// key, copy-on-write, else full-copy when AWS refuses it) in place of snapshot + restore. The slot (PostgreSQL) is
// made before the clone, so the clone's seed LSN is where the subscription starts; the rest is the native flow's.
// `cdc: dms` runs the dms-cdc flow's CDC (a DMS task from the same position) instead.
import { withAuroraTopology } from './topology.js';
import { StepError } from '../engine/types.js';
import type { Flow, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { capturePosition } from '../steps/capture-position.js';
import { cloneRestore } from '../steps/clone.js';
import { nativeFlow } from './native.js';
import { drainStep } from '../steps/drain.js';
import { profile } from '../steps/engine.js';
import { fenceStep } from '../steps/fence.js';
import { fixSequences } from '../steps/fix-sequences.js';
import { afterSwitch, beforeFence } from '../steps/hooks.js';
import { preflight } from '../steps/preflight.js';
import type { RekeyServices } from '../steps/services.js';
import { switchStep } from '../steps/switch.js';
import { finalValidate, validate } from '../steps/validate.js';
import { verify } from '../steps/verify.js';
import { catchUp } from '../steps/catch-up.js';
import { cleanup } from '../steps/cleanup.js';
import { dmsSetup } from '../steps/dms-setup.js';
import { prepareSource } from '../steps/prepare-source.js';
import { startCdc } from '../steps/start-cdc.js';
import { stopTaskStep } from '../steps/stop-task.js';

export function buildCloneFlow(runbook: Runbook): Flow<RekeyServices> {
  if (profile(runbook).instance) {
    throw new StepError(`strategy clone needs an Aurora cluster; ${runbook.source.engine} is an RDS DB instance (use native or snapshot)`, 'rejected');
  }
  if (runbook.cdc === 'dms') return dmsCloneFlow(runbook);
  return nativeFlow(runbook, `clone/${runbook.source.engine}`, [cloneRestore]);
}

/** `cdc: dms`: the dms-cdc flow with the clone in place of snapshot + restore. */
function dmsCloneFlow(runbook: Runbook): Flow<RekeyServices> {
  const p = profile(runbook);
  const steps: Step<RekeyServices>[] = [
    preflight,
    p.usesSlot ? prepareSource : { ...prepareSource, title: 'Prepare the source (sentinel table)' },
    cloneRestore,
    capturePosition,
    dmsSetup,
    startCdc,
    catchUp,
    validate,
    beforeFence,
    fenceStep(),
    drainStep,
    stopTaskStep,
    finalValidate,
    fixSequences,
    switchStep,
    verify,
    afterSwitch,
    cleanup,
  ];
  return {
    id: `clone-dms/${runbook.source.engine}`,
    steps: withAuroraTopology(runbook, steps),
    safety: { guard: 'fence', boundary: 'switch', rewindTo: { default: 'catch-up', ifSucceeded: { 'stop-task': 'start-cdc' } } },
  };
}
