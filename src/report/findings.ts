// What a run found, read from its steps' journaled outputs: validation, sequences, and where CDC started
// (with the overlap when the opt-in slot fallback was used). Shared by the summary and the report.
import type { PublishedSoFar, SequenceChange, ValidationOutput } from '../engine/facts.js';
import type { ReplayState } from '../engine/journal.js';
import type { FixSequencesOutput, StepId, StepOutputs } from '../steps/outputs.js';
import { globalTopology, replicaTopology } from './topology.js';
import type { GlobalTopology, ReplicaTopology } from './topology.js';

/** `topology` of the summary, when there is one to show: the Aurora part, the replica part and the global database, each when it applies. */
function topologyFindings(state: ReplayState): TopologySummary | undefined {
  const aurora = topologySummary(state);
  const replicas = replicaTopology(state);
  const global = globalTopology(state);
  if (!aurora && !replicas && !global) return undefined;
  const auroraWithout = (aurora?.replicas?.regions ?? []).map((r) => r.region);
  const without = [...new Set([...(replicas?.regionsWithoutReplica ?? []), ...(global?.regionsWithoutReplica ?? []), ...auroraWithout])].sort();
  return { ...aurora, ...replicas, ...global, regionsWithoutReplica: without };
}

/** The fields of a value read from a journal or a publication (an older rekey may have written another shape). */
function fields(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null ? Object.fromEntries(Object.entries(value)) : {};
}

export function validationSummary(output: ValidationOutput | undefined): { tables: number; mismatched: number } {
  if (!output) return { tables: 0, mismatched: 0 };
  const o = fields(output);
  const tables: unknown[] = Array.isArray(o.tables) ? o.tables : [];
  const mismatched = typeof o.mismatched === 'number' ? o.mismatched : Array.isArray(o.mismatched) ? o.mismatched.length : tables.filter((t) => fields(t).status === 'mismatch' || fields(t).match === false).length;
  return { tables: typeof o.tables === 'number' ? o.tables : tables.length, mismatched };
}

export function sequenceSummary(output: FixSequencesOutput | undefined): { checked: number; behind: number; items?: SequenceChange[] } {
  const o = fields(output);
  const n = (v: unknown): number => (typeof v === 'number' ? v : Array.isArray(v) ? v.length : 0);
  const items = Array.isArray(o.items) ? (o.items as unknown[]).filter((i): i is SequenceChange => typeof i === 'object' && i !== null && typeof (i as { name?: unknown }).name === 'string') : undefined;
  return { checked: n(o.checked), behind: n(o.behind), ...(items ? { items } : {}) };
}

/** The CDC start position was the slot's, before the snapshot: changes in between were applied twice (as upserts). */
export interface OverlapFinding {
  fromLsn: string;
  /** Why the exact position was not available. */
  reason: string;
  /** Tables preflight found without a primary key: the replayed inserts may have duplicated their rows. */
  tablesWithoutPk: string[];
}

export interface RunFindings {
  validation: { tables: number; mismatched: number };
  sequences: { checked: number; behind: number; items?: SequenceChange[] };
  /** Where CDC started and how that position was found. */
  position?: { value: string; source: string };
  overlap?: OverlapFinding;
  /** Which resource holds which key, as AWS reported when the switch was verified. */
  evidence?: { at: string; resources: { kind: string; role: string; identifier: string; arn?: string; kmsKeyId?: string }[] };
  /** Sessions the fence left open (cutover.openSessions: warn): rekey's or DMS's login used by other clients. */
  unfencedSessions?: { user: string; client: string; application: string }[];
  /** The topology around the database: expected (found on the source) against done on the new one. */
  topology?: TopologySummary;
}

/**
 * The summary's `topology`: one key per part. Aurora readers, custom endpoints and Auto Scaling come from the topology
 * steps' outputs; `replicas` (RDS read replicas, cross-Region replicas), `globalDatabase` (Aurora Global Database: the
 * secondaries expected against added, per Region with its key and lag) and `regionsWithoutReplica` are added here too.
 */
export interface TopologySummary extends Partial<ReplicaTopology>, Partial<Pick<GlobalTopology, 'globalDatabase'>> {
  readers?: { expected: number; recreated: number };
  customEndpoints?: { expected: number; moved: number };
  autoScaling?: { expected: number; registered: number };
  /** cutover.renameInstances: instances whose names the new cluster was to keep, and the names it has kept (writer first). */
  instanceNames?: { expected: number; kept: string[] };
}

/** The topology summary of a run, or undefined when no topology step ran. */
export function topologySummary(state: ReplayState): TopologySummary | undefined {
  const readers = outputOf(state, 'topology-readers');
  if (!readers || typeof readers.topology !== 'object') return undefined;
  const t = readers.topology;
  const moved = outputOf(state, 'topology-after-switch');
  // Only when the run keeps instance names (cutover.renameInstances): the park step ran.
  const parkOut = outputOf(state, 'topology-park-instances');
  const parked = Array.isArray(parkOut?.parked) ? parkOut.parked : undefined;
  // Read replica clusters (binlog) are listed, never recreated: preflight warned, the plan said so.
  const replicaClusters = Array.isArray(t.replicaClusters) ? t.replicaClusters : [];
  return {
    readers: { expected: t.readers.length, recreated: Array.isArray(readers.available) ? readers.available.length : 0 },
    customEndpoints: { expected: t.customEndpoints.length, moved: Array.isArray(moved?.moved) ? moved.moved.length : 0 },
    replicas: {
      expected: replicaClusters.length,
      recreated: 0,
      regions: replicaClusters.map((r) => ({ region: r.region, identifier: r.identifier, key: '(none)', recreated: false, note: 'read replica cluster (binlog replication): not recreated by rekey' })),
    },
    ...(t.autoScaling || t.autoScalingError ? { autoScaling: { expected: 1, registered: moved?.autoScaling.registered ? 1 : 0 } } : {}),
    ...(parked ? { instanceNames: { expected: parked.length, kept: strings(outputOf(state, 'topology-instance-names')?.kept) } } : {}),
  };
}

/**
 * A journaled step output, typed by its step id (StepOutputs). A journal may come from an older rekey, so the
 * findings still check each value before using it.
 */
/** A journaled step output, typed by the step id. */
export function outputOf<K extends StepId>(state: ReplayState, stepId: K): StepOutputs[K] | undefined {
  return state.succeeded.get(stepId)?.output as StepOutputs[K] | undefined;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((t): t is string => typeof t === 'string') : []);

/**
 * `published`: what the runner's steps published (RunMachine), when there is one. A final validation that failed
 * has no journaled output, but published its numbers before failing; those are the ones to show.
 */
export function runFindings(state: ReplayState, published: PublishedSoFar = {}): RunFindings {
  const capture = outputOf(state, 'capture-position');
  const noPk = outputOf(state, 'preflight')?.tablesWithoutPk;
  const overlap = capture?.overlap;
  const unfenced = outputOf(state, 'fence')?.unfenced;
  const evidence = outputOf(state, 'verify')?.evidence;
  const topology = topologyFindings(state);
  return {
    validation: validationSummary(
      outputOf(state, 'final-validate') ??
        (state.failures.has('final-validate') ? published.validation : undefined) ??
        outputOf(state, 'consistent-validate') ??
        (state.failures.has('consistent-validate') ? published['validation-consistent-point'] : undefined) ??
        outputOf(state, 'validate'),
    ),
    sequences: sequenceSummary(outputOf(state, 'fix-sequences')),
    ...(typeof capture?.position === 'string' ? { position: { value: capture.position, source: typeof capture.source === 'string' ? capture.source : 'unknown' } } : {}),
    ...(overlap && typeof overlap.fromLsn === 'string'
      ? {
          overlap: {
            fromLsn: overlap.fromLsn,
            reason: typeof overlap.reason === 'string' ? overlap.reason : 'seed function unavailable',
            tablesWithoutPk: strings(noPk),
          },
        }
      : {}),
    ...(evidence && Array.isArray(evidence.resources) ? { evidence } : {}),
    ...(Array.isArray(unfenced) && unfenced.length > 0 ? { unfencedSessions: unfenced } : {}),
    ...(topology ? { topology } : {}),
  };
}
