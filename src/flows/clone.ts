// strategy clone (Aurora only): the native flow with an Aurora clone (RestoreDBClusterToPointInTime under the new
// key, copy-on-write, else full-copy when AWS refuses it) in place of snapshot + restore. The slot (PostgreSQL) is
// made before the clone, so the clone's seed LSN is where the subscription starts; the rest is the native flow's.
// `cdc: dms` runs the dms-cdc flow's CDC (a DMS task from the same position) instead.
import { StepError } from '../engine/types.js';
import type { Flow } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { cloneRestore } from '../steps/clone.js';
import { profile } from '../steps/engine.js';
import type { RekeyServices } from '../steps/services.js';
import { dmsCdcFlow } from './dms-cdc.js';
import { nativeFlow } from './native.js';

export function buildCloneFlow(runbook: Runbook): Flow<RekeyServices> {
  if (profile(runbook).instance) {
    throw new StepError(`strategy clone needs an Aurora cluster; ${runbook.source.engine} is an RDS DB instance (use native or snapshot)`, 'rejected');
  }
  if (runbook.cdc === 'dms') return dmsCloneFlow(runbook);
  return nativeFlow(runbook, `clone/${runbook.source.engine}`, [cloneRestore]);
}

/** `cdc: dms`: the dms-cdc flow with the clone in place of snapshot + restore (no snapshot to copy afterwards). */
function dmsCloneFlow(runbook: Runbook): Flow<RekeyServices> {
  return dmsCdcFlow(runbook, `clone-dms/${runbook.source.engine}`, [cloneRestore]);
}
