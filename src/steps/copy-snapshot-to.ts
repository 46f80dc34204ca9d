// copy-snapshot-to (runbook `after.copySnapshotTo`): after the switch, copy the run's snapshot into other Regions under
// their keys (CopyDBClusterSnapshot / CopyDBSnapshot in the destination Region, the source by ARN: the SDK pre-signs it). RDS instances copy the snapshot already
// re-encrypted under the new key; Aurora copies the run's cluster snapshot (the copy is under the destination key).
// A re-run finds each copy by its name (the source's) instead of copying twice.
import { copySnapshotToRegion } from '../estate/copy-snapshot.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { profile } from './engine.js';
import type { RekeyServices } from './services.js';

/** The copies made (or found). */
export interface CopySnapshotToOutput {
  copies: { region: string; identifier: string; arn: string; kind: 'cluster-snapshot' | 'snapshot'; kmsKeyId?: string; sourceArn: string }[];
}

export const copySnapshotTo: Step<RekeyServices, CopySnapshotToOutput> = {
  id: 'copy-snapshot-to',
  title: 'Copy the snapshot to other Regions',
  describe(ctx) {
    const { runbook: rb, names } = ctx.services;
    const snap = profile(rb).instance ? names.snapshotCopy : names.snapshot;
    const command = profile(rb).instance ? 'rds:CopyDBSnapshot' : 'rds:CopyDBClusterSnapshot';
    return (rb.after?.copySnapshotTo ?? []).map((c) => ({ kind: 'aws' as const, target: command, summary: `copy ${snap} to ${c.region} under ${c.kmsKeyId}`, detail: `source by ARN in ${rb.region} (PreSignedUrl built by the SDK), KmsKeyId, CopyTags=true` }));
  },
  async run(ctx) {
    const { runbook: rb, names, cloud, clock, timing } = ctx.services;
    const snap = profile(rb).instance ? names.snapshotCopy : names.snapshot;
    const copies: CopySnapshotToOutput['copies'] = [];
    for (const c of rb.after?.copySnapshotTo ?? []) {
      const result = await copySnapshotToRegion(cloud, {
        snapshot: snap, toRegion: c.region, kmsKeyId: c.kmsKeyId,
        tags: [{ Key: 'rekey:run-id', Value: ctx.runId }],
        onProgress: (m, p) => ctx.report.progress(m, p),
        pollMs: timing.pollMs, timeoutMs: timing.waitMaxSeconds * 1000, sleep: (ms) => clock.sleep(ms, ctx.signal),
      }).catch((error: unknown) => {
        throw new StepError(`copying ${snap} to ${c.region}: ${error instanceof Error ? error.message : String(error)}`, 'fatal');
      });
      copies.push({ region: c.region, identifier: result.copy.identifier, arn: result.copy.arn, kind: result.kind, ...(result.copy.kmsKeyId ? { kmsKeyId: result.copy.kmsKeyId } : {}), sourceArn: result.source.arn });
    }
    return { copies };
  },
};
