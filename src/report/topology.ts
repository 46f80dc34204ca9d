// The topology part of the summary: what became of the source's read replicas (RDS instances) and of the Aurora global
// database it headed. Shared shape with the Aurora part (readers, custom endpoints):
// `topology: {readers, customEndpoints, replicas, globalDatabase, regionsWithoutReplica}`.
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
  /** Aurora read replica clusters: which one, and why the run leaves it (rekey does not recreate them). */
  identifier?: string;
  note?: string;
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

/** One secondary Region of the global database in the summary: its key, whether the run added it, its lag when read. */
export interface GlobalRegionSummary {
  region: string;
  /** The new secondary cluster (or, before it exists, the one it will be). */
  identifier: string;
  /** The key the new secondary has (read back), or the one it is to get. */
  key: string;
  added: boolean;
  /** AuroraGlobalDBReplicationLag in milliseconds, when read. */
  lagMs?: number;
}

/** The Aurora global database: secondaries preflight found against those added to the new cluster's global database. */
export interface GlobalTopology {
  globalDatabase: { identifier: string; expected: number; added: number; regions: GlobalRegionSummary[] };
  /** Secondary Regions with no secondary of the new cluster yet (until topology-global succeeded: all of them). */
  regionsWithoutReplica: string[];
}

/** The global-database part of `topology`, or undefined when the source headed no global database. */
export function globalTopology(state: ReplayState): GlobalTopology | undefined {
  const plan = outputOf(state, 'preflight')?.globalDatabase;
  const found = Array.isArray(plan?.secondaries) ? plan.secondaries : [];
  if (!plan || found.length === 0) return undefined;
  const out = outputOf(state, 'topology-global');
  const made = Array.isArray(out?.secondaries) ? out.secondaries : [];
  const regions: GlobalRegionSummary[] = found.map((s) => {
    const m = made.find((x) => x.oldIdentifier === s.identifier && x.region === s.region);
    const key = m?.kmsKeyId ?? plan.regionKeys.find((k) => k.region === s.region)?.arn ?? '(no key in target.regionKeys)';
    return { region: s.region, identifier: m?.identifier ?? s.identifier, key, added: m !== undefined, ...(m?.lagMs !== undefined ? { lagMs: m.lagMs } : {}) };
  });
  const withSecondary = new Set(made.map((m) => m.region));
  return {
    globalDatabase: { identifier: out?.globalCluster ?? plan.identifier, expected: found.length, added: made.length, regions },
    regionsWithoutReplica: [...new Set(found.filter((s) => !withSecondary.has(s.region)).map((s) => s.region))].sort(),
  };
}
