// Aurora's topology in every flow that restores a new cluster (dms-cdc, native, clone, snapshot): readers and the
// custom endpoints' pre-switch copies right after the restore (so they are ready and listed at the cutover gate), the
// old cluster's custom endpoint names released just before the switch, and the names and Auto Scaling moved right
// after it; with cutover.renameInstances the instance names too, after the switch; then (when the source heads an
// Aurora global database) the global database and its secondary Regions. RDS DB instances are left as they are (their
// read replicas are another flow's part).
import type { Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { profile } from '../steps/engine.js';
import type { RekeyServices } from '../steps/services.js';
import { topologyAfterSwitch, topologyEndpoints, topologyRelease } from '../steps/topology-endpoints.js';
import { keepsInstanceNames, topologyInstanceNames, topologyParkInstances } from '../steps/topology-instances.js';
import { topologyGlobal } from '../steps/topology-global.js';
import { topologyReaders } from '../steps/topology-readers.js';

/** `steps` with the Aurora topology steps placed around `restore` and `switch` (unchanged for RDS DB instances). */
export function withAuroraTopology(runbook: Runbook, steps: Step<RekeyServices>[]): Step<RekeyServices>[] {
  if (profile(runbook).instance) return steps;
  return steps.flatMap((s): Step<RekeyServices>[] => {
    if (s.id === 'restore') return [s, topologyReaders, topologyEndpoints];
    // cutover.renameInstances: the old instances' names released right after the switch, taken by the new ones once
    // the custom endpoints are back (why there and not inside the fence: src/steps/topology-instances.ts). The global
    // database last: its secondaries follow the new cluster once everything in its own Region is in place.
    if (s.id === 'switch') return keepsInstanceNames(runbook) ? [topologyRelease, s, topologyParkInstances, topologyAfterSwitch, topologyInstanceNames, topologyGlobal] : [topologyRelease, s, topologyAfterSwitch, topologyGlobal];
    return [s];
  });
}
