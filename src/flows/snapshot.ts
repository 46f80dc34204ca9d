// strategy snapshot (offline, option 1 of the seed article): fence the source, snapshot it, (RDS instances: copy
// the snapshot under the new key,) restore under the new key, give the restored writer roles back their pre-fence
// state (the snapshot carried the fence), fix sequences, validate exactly at rest (counts and
// checksums), switch, verify. Writes are refused from before the snapshot until the switch: never acknowledged and
// then lost. Any failure before the switch lifts the fence (the fence's undo); the outage is estimated in preflight.
import { withAuroraTopology } from './topology.js';
import type { Flow, Step } from '../engine/types.js';
import type { Runbook } from '../runbook/schema.js';
import { profile } from '../steps/engine.js';
import { fenceStep } from '../steps/fence.js';
import { fixSequences } from '../steps/fix-sequences.js';
import { afterSwitch } from '../steps/hooks.js';
import { copySnapshot } from '../steps/instance.js';
import { restore } from '../steps/restore.js';
import type { RekeyServices } from '../steps/services.js';
import { beforeFenceOffline, offlineCleanup, offlineSnapshot, snapshotPreflight, unfenceTarget } from '../steps/snapshot-offline.js';
import { switchStep } from '../steps/switch.js';
import { finalValidate } from '../steps/validate.js';
import { verify } from '../steps/verify.js';

export function buildSnapshotFlow(runbook: Runbook): Flow<RekeyServices> {
  const p = profile(runbook);
  const steps: Step<RekeyServices>[] = [
    snapshotPreflight,
    beforeFenceOffline,
    fenceStep(),
    offlineSnapshot,
    ...(p.instance ? [copySnapshot] : []),
    restore,
    unfenceTarget,
    fixSequences,
    { ...finalValidate, title: 'Validate at rest (source fenced): row counts and checksums' },
    switchStep,
    verify,
    afterSwitch,
    offlineCleanup,
  ];
  return {
    id: `snapshot/${runbook.source.engine}`,
    steps: withAuroraTopology(runbook, steps),
    // A failure before the switch unfences; a resume fences again and takes the snapshot inside the new fence
    // (offlineSnapshot refuses a snapshot older than the fence).
    safety: { guard: 'fence', boundary: 'switch', rewindTo: { default: 'fence' } },
  };
}
