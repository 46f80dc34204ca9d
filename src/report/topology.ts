// The topology part of the summary: what became of the source's read replicas (RDS instances). Shared shape with
// the Aurora part (readers, custom endpoints): `topology: {readers, customEndpoints, replicas, regionsWithoutReplica}`.
import type { ReplayState } from '../engine/journal.js';
import type { StepId, StepOutputs } from '../steps/outputs.js';

/** A journaled step output, typed by its step id (as findings.ts reads them; kept here so neither imports the other). */
function outputOf<K extends StepId>(state: ReplayState, stepId: K): StepOutputs[K] | undefined {
  return state.succeeded.get(stepId)?.output as StepOutputs[K] | undefined;
}

/** One Region's replica in the summary: its key, whether the run recreated it, and its lag when read. */
export interface ReplicaRegionSummary {
  region: string;
  /** The key the new replica has (read back), or the one it is to get. */
  key: string;
  recreated: boolean;
  lagSeconds?: number;
}

/** The read replicas: how many preflight found, how many were recreated, per replica its Region and key. */
export interface ReplicaTopology {
  replicas: { expected: number; recreated: number; regions: ReplicaRegionSummary[] };
  /** Regions of cross-Region replicas with no new replica yet (until recreate-replicas succeeded: all of them). */
  regionsWithoutReplica: string[];
}

/** The replica part of `topology`, or undefined when the source had no read replicas (or is not an RDS instance). */
export function replicaTopology(state: ReplayState): ReplicaTopology | undefined {
  const plan = outputOf(state, 'preflight')?.replicas;
  const found = Array.isArray(plan?.found) ? plan.found : [];
  if (found.length === 0) return undefined;
  const made = outputOf(state, 'recreate-replicas')?.replicas ?? [];
  const keyOf = (region: string, crossRegion: boolean): string =>
    (crossRegion ? plan?.regionKeys.find((k) => k.region === region)?.arn : outputOf(state, 'preflight')?.key?.arn) ?? '(unknown)';
  const regions: ReplicaRegionSummary[] = found.map((r) => {
    const m = made.find((x) => x.oldIdentifier === r.identifier && x.region === r.region);
    return { region: r.region, key: m?.kmsKeyId ?? keyOf(r.region, r.crossRegion), recreated: m !== undefined, ...(m?.lagSeconds !== undefined ? { lagSeconds: m.lagSeconds } : {}) };
  });
  const withReplica = new Set(made.map((m) => m.region));
  const regionsWithoutReplica = [...new Set(found.filter((r) => r.crossRegion && !withReplica.has(r.region)).map((r) => r.region))].sort();
  return { replicas: { expected: found.length, recreated: made.length, regions }, regionsWithoutReplica };
}
