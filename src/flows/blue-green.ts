// The blue-green flow (strategy blue-green): an RDS Blue/Green deployment whose green side AWS builds under the new
// key, attested, validated and switched over behind the cutover gate. Aurora clusters and RDS instances alike; what
// differs (one TargetResourceConfigurations entry for a cluster, one per instance and replica) is in the steps.
// Nothing to fence: AWS blocks blue's writes during its own switchover and reverts it on a timeout.
import type { Flow, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { bgAttest } from '../steps/bg-attest.js';
import { bgCreate } from '../steps/bg-create.js';
import { bgDelete, bgFixSequences, bgVerify } from '../steps/bg-finish.js';
import { bgPreflight } from '../steps/bg-preflight.js';
import { bgSwitchover } from '../steps/bg-switchover.js';
import { bgValidate } from '../steps/bg-validate.js';
import { afterSwitch } from '../steps/hooks.js';
import type { RekeyServices } from '../steps/services.js';

/** The steps, in order. */
export const BLUE_GREEN_STEPS: readonly Step<RekeyServices>[] = [bgPreflight, bgCreate, bgAttest, bgValidate, bgSwitchover, bgFixSequences, bgVerify, afterSwitch, bgDelete];

export function buildBlueGreenFlow(runbook: Runbook): Flow<RekeyServices> {
  return {
    id: `blue-green/${runbook.source.engine}`,
    steps: [...BLUE_GREEN_STEPS],
    // No safety spec: rekey never fences blue (AWS blocks its writes during its own switchover and reverts it on a
    // timeout), so after a failure there is nothing to lift. Rollback is the engine's: bg-create's undo deletes the
    // deployment with green before a switchover, and after one only says what is possible.
  };
}
