// The DMS-CDC flow around a seed: the dms-cdc strategy seeds the new database with snapshot + restore, the clone
// strategy's `cdc: dms` with an Aurora clone; the rest (CDC from the seed's position, the consistent point, the
// cutover, the topology and the steps after the switch) is one list.
import { withAuroraTopology } from './topology.js';
import type { Flow, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { capturePosition } from '../steps/capture-position.js';
import { catchUp } from '../steps/catch-up.js';
import { cleanup } from '../steps/cleanup.js';
import { consistentValidateStep } from '../steps/consistent-validate.js';
import { dmsSetup } from '../steps/dms-setup.js';
import { drainStep } from '../steps/drain.js';
import { fenceStep } from '../steps/fence.js';
import { profile } from '../steps/engine.js';
import { fixSequences } from '../steps/fix-sequences.js';
import { replicaPosition } from '../steps/instance.js';
import { afterSwitch, beforeFence } from '../steps/hooks.js';
import { preflight } from '../steps/preflight.js';
import { prepareSource } from '../steps/prepare-source.js';
import type { RekeyServices } from '../steps/services.js';
import { startCdc } from '../steps/start-cdc.js';
import { stopTaskStep } from '../steps/stop-task.js';
import { switchStep } from '../steps/switch.js';
import { recreateReplicas } from '../steps/topology-replicas.js';
import { finalValidate, validate } from '../steps/validate.js';
import { verify } from '../steps/verify.js';

/**
 * The DMS-CDC flow around a seed: the steps that make the new database (snapshot + restore, or the clone strategy's
 * Aurora clone), then CDC from the seed's position, the consistent point, the cutover and the steps after it.
 */
export function dmsCdcFlow(runbook: Runbook, id: string, seed: Step<RekeyServices>[], after: Step<RekeyServices>[] = []): Flow<RekeyServices> {
  const p = profile(runbook);
  // The order is this list; the ids, the plan and the journal all read it from here.
  const steps: Step<RekeyServices>[] = [
    preflight,
    // MySQL reads the binary log: no replication slot to prepare, and the title must not promise one.
    p.usesSlot ? prepareSource : { ...prepareSource, title: 'Prepare the source (sentinel table)' },
    ...(p.instance && p.family === 'mysql' ? [replicaPosition] : []),
    ...seed,
    capturePosition,
    dmsSetup,
    startCdc,
    catchUp,
    validate,
    consistentValidateStep(),
    beforeFence,
    fenceStep(),
    drainStep,
    stopTaskStep,
    finalValidate,
    fixSequences,
    switchStep,
    // RDS instances: the read replicas, recreated from the new primary before verify reads back every key.
    ...(p.instance ? [recreateReplicas] : []),
    verify,
    afterSwitch,
    cleanup,
    ...after,
  ];
  return {
    id,
    steps: withAuroraTopology(runbook, steps),
    // After a failure: unfence (the cutover's fence, or the consistent point's brief one) unless the switch happened
    // (or has begun); then everything from catch-up (from start-cdc once the task was stopped or was being stopped:
    // start-cdc resumes it) up to the switch runs again on resume.
    safety: { guard: ['consistent-validate', 'fence'], boundary: 'switch', rewindTo: { default: 'catch-up', ifStarted: { 'stop-task': 'start-cdc' } } },
  };
}
