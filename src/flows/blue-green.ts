// The blue-green flow (strategy blue-green): an RDS Blue/Green deployment whose green side AWS builds under the new
// key, attested, validated and switched over behind the cutover gate. Aurora clusters and RDS instances alike; what
// differs (one TargetResourceConfigurations entry for a cluster, one per instance and replica) is in the steps.
// Nothing to fence: AWS blocks blue's writes during its own switchover and reverts it on a timeout.
import type { Flow, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { findOwnDeployment } from '../steps/bg-common.js';
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

/** What a rollback can do after the switchover: nothing automatic; these are the options. */
export const AFTER_SWITCHOVER = [
  'the switchover happened: green (on the new key) serves the names and endpoints; blue is the -old1 resources, still on the old key',
  'rekey does not switch back: AWS has no reverse switchover. To go back, point clients at the -old1 endpoints (or rename them back yourself);',
  'writes made to the new primary since the switchover are not on -old1 and would be lost',
];

export function buildBlueGreenFlow(runbook: Runbook): Flow<RekeyServices> {
  return {
    id: `blue-green/${runbook.source.engine}`,
    steps: [...BLUE_GREEN_STEPS],
    // Blue is never fenced by rekey: after a failure there is nothing to make safe (AWS reverts its own switchover).
    makeSafe: () => Promise.resolve([]),
    async rollback(ctx) {
      const d = await findOwnDeployment(ctx);
      if (d?.Status === 'SWITCHOVER_COMPLETED') {
        for (const line of AFTER_SWITCHOVER) ctx.report.log('warn', line);
        return;
      }
      await bgCreate.undo?.(ctx);
    },
  };
}
