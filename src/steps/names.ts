// Deterministic resource names from (source identifier, run id): a re-run finds what it created, never duplicates.
import type { Runbook } from '../runbook/schema.js';
import type { ResourceNames } from './services.js';
import type { TopologyNames } from '../topology/aurora.js';

const RUN_ID = /^[a-z0-9]{8}$/;
const MAX_IDENTIFIER = 63;

/** `<prefix><suffix>` with the prefix cut so the whole stays a valid RDS identifier (<= 63, no trailing hyphen). */
function identifier(source: string, suffix: string): string {
  const room = MAX_IDENTIFIER - suffix.length;
  const prefix = source.slice(0, room).replace(/-+$/, '');
  return `${prefix}${suffix}`;
}

export function resourceNames(runbook: Runbook, runId: string): ResourceNames {
  if (!RUN_ID.test(runId)) throw new Error(`run id ${JSON.stringify(runId)} must be 8 lower-case letters or digits`);
  const src = runbook.source.identifier.toLowerCase();
  return {
    snapshot: identifier(src, `-rekey-${runId}-snap`),
    snapshotCopy: identifier(src, `-rekey-${runId}-copy`),
    readReplica: identifier(src, `-rekey-${runId}-rr`),
    targetCluster: identifier(src, `-rekey-${runId}`),
    targetWriter: identifier(src, `-rekey-${runId}-w1`),
    oldName: identifier(src, `-old-${runId}`),
    slot: runbook.dms?.slotName ?? `rekey_${runId}`,
    publication: `rekey_${runId}`,
    subscription: `rekey_${runId}_sub`,
    sourceEndpoint: `rekey-${runId}-src`,
    targetEndpoint: `rekey-${runId}-tgt`,
    task: `rekey-${runId}-cdc`,
    replicationInstance: runbook.dms?.replicationInstance.identifier ?? '',
  };
}

/**
 * How the new cluster's members are named: the writer, the n-th reader `<src>-rekey-<runId>-r<n>`, and a custom
 * endpoint's pre-switch name `<name>-rekey-<runId>` (custom endpoints cannot be renamed; the original name is created
 * on the new cluster at the switch).
 */
export function topologyNames(runbook: Runbook, runId: string): TopologyNames {
  const names = resourceNames(runbook, runId);
  const src = runbook.source.identifier.toLowerCase();
  return {
    targetWriter: names.targetWriter,
    reader: (n) => identifier(src, `-rekey-${runId}-r${n}`),
    temporaryEndpoint: (name) => identifier(name.toLowerCase(), `-rekey-${runId}`),
  };
}

/** Where an old Aurora instance is renamed to when the run keeps instance names (`<name>-old-<runId>`, like the old cluster). */
export function oldInstanceName(instance: string, runId: string): string {
  return identifier(instance.toLowerCase(), `-old-${runId}`);
}
