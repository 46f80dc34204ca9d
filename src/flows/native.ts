// strategy native: the dms-cdc flow with the engine's own replication in place of the DMS task. Shared steps:
// preflight, (replica-position,) snapshot, (copy-snapshot,) restore, capture-position, validate, the hooks, fence,
// drain, final-validate, fix-sequences, switch, verify. Its own (src/steps/native.ts): prepare-source with
// publications and a pgoutput slot, native-setup, catch-up from the engine's lag, stop-replication, cleanup.
import { withAuroraTopology } from './topology.js';
import type { Flow, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { capturePosition } from '../steps/capture-position.js';
import { drainStep } from '../steps/drain.js';
import { profile } from '../steps/engine.js';
import { fenceStep } from '../steps/fence.js';
import { fixSequences } from '../steps/fix-sequences.js';
import { afterSwitch, beforeFence } from '../steps/hooks.js';
import { copySnapshot, replicaPosition } from '../steps/instance.js';
import { nativeCatchUp, nativeCleanup, nativeSetup, prepareSourceNative, stopReplicationStep } from '../steps/native.js';
import { preflight } from '../steps/preflight.js';
import { restore } from '../steps/restore.js';
import type { RekeyServices } from '../steps/services.js';
import { snapshot } from '../steps/snapshot.js';
import { switchStep } from '../steps/switch.js';
import { recreateReplicas } from '../steps/topology-replicas.js';
import { finalValidate, validate } from '../steps/validate.js';
import { verify } from '../steps/verify.js';

export function buildNativeFlow(runbook: Runbook): Flow<RekeyServices> {
  const p = profile(runbook);
  const seed = [...(p.instance && p.family === 'mysql' ? [replicaPosition] : []), snapshot, ...(p.instance ? [copySnapshot] : []), restore];
  return nativeFlow(runbook, `native/${runbook.source.engine}`, seed);
}

/**
 * The native flow with `seed` (the steps that make the new database under the new key, e.g. snapshot + restore)
 * between prepare-source and capture-position; strategy clone shares it with an Aurora clone as its seed.
 */
export function nativeFlow(runbook: Runbook, id: string, seed: Step<RekeyServices>[]): Flow<RekeyServices> {
  const p = profile(runbook);
  const steps: Step<RekeyServices>[] = [
    preflight,
    prepareSourceNative,
    ...seed,
    capturePosition,
    nativeSetup,
    nativeCatchUp,
    validate,
    beforeFence,
    fenceStep(),
    drainStep,
    stopReplicationStep,
    finalValidate,
    fixSequences,
    switchStep,
    // RDS instances: the read replicas, recreated from the new primary before verify reads back every key.
    ...(p.instance ? [recreateReplicas] : []),
    verify,
    afterSwitch,
    nativeCleanup,
  ];
  return {
    id,
    steps: withAuroraTopology(runbook, steps),
    // After a failure: unfence unless the switch happened (or has begun); then everything from catch-up up to the
    // switch runs again (from native-setup, which enables replication again, once stop-replication ran).
    safety: { guard: 'fence', boundary: 'switch', rewindTo: { default: 'catch-up', ifSucceeded: { 'stop-replication': 'native-setup' } } },
  };
}
