// The facts steps publish for people (TUI, line renderer, --json, report) and the facts the cutover gate shows:
// one typed vocabulary, so readers look a fact up by its declared name instead of guessing from key names.
// Type-only: the TUI and the report may import it; it imports nothing.

/** One table compared by a validation pass. */
export interface TableComparison {
  /** schema.table */
  table: string;
  sourceRows: number | null;
  targetRows: number | null;
  /** Checksums equal; undefined when not checksummed. */
  checksumMatch?: boolean;
  matches: boolean;
}

/** A validation pass (the output of validate and final-validate, and what they publish). */
export interface ValidationOutput {
  /** Tables compared. */
  tables: number;
  /** Tables whose counts or checksums differ. */
  mismatched: number;
  results: TableComparison[];
  /** ISO time the pass finished. */
  at: string;
  durationMs: number;
  /** final-validate: what was checked inside the fence (absent in journals from before validation.final). */
  final?: 'none' | 'counts' | 'full';
  /** final-validate: the consistent point the full comparison was made at. */
  consistentPoint?: string;
  /** final-validate: changes the DMS task applied since the consistent point (its table statistics). */
  changesSincePoint?: number;
  /** final-validate: apply exceptions DMS logged on the target since the consistent point. */
  applyExceptionsSincePoint?: number;
}

/** One primary-key range whose rows differ at the consistent point. */
export interface RangeDifference {
  /** The range as people read it, e.g. `id in [200001, 300001)`. */
  range: string;
  sourceRows: number;
  targetRows: number;
  checksumMatch?: boolean;
  /** Keys (JSON arrays) that differ, each with what is wrong; empty when not sampled. */
  sampleKeys: string[];
}

/** One table compared at the consistent point. */
export interface PointTableComparison extends TableComparison {
  /** Ranges compared (1 for a whole-table comparison). */
  ranges: number;
  /** No primary key: compared as a whole. */
  keyless?: boolean;
  /** How checksummed rows were hashed: each column by its type's hash (both sides agreed on every column), or the row text. */
  hashing?: 'typed' | 'row-text';
  differences: RangeDifference[];
}

/** The DMS task's per-table statistics at a point: inserts, updates, deletes applied, and the table state. */
export interface AppliedCounts {
  [table: string]: { applied: number; state: string | undefined };
}

/** The consistent-point validation (consistent-validate's output, also published when it fails). */
export interface ConsistentValidationOutput extends ValidationOutput {
  results: PointTableComparison[];
  /** ISO time of the consistent point (both sides' snapshots opened, source fenced and drained). */
  point: string;
  /** Write-unavailable window of this step: from the fence going up to the source unfenced. */
  windowMs: number;
  /** Sentinel wait inside that window. */
  drainMs: number;
  /** After the compare, unfenced: how long a new sentinel took to reach the target (absent if it did not in time). */
  caughtUpMs?: number;
  /** Rows read on the source snapshot, and how fast both sides were compared. */
  rows: number;
  rowsPerSecond: number;
  /** Tables compared as a whole for want of a primary key. */
  keyless: string[];
  /** DMS apply exceptions logged on the target up to the point (undefined: no such table). */
  applyExceptions?: number;
  /** DescribeTableStatistics at the point (undefined when DMS did not answer). */
  applied?: AppliedCounts;
}

/** What preflight publishes that readers show (the whole report is published; these fields are relied on). */
export interface PreflightFacts {
  /** schema.table of tables without a primary key. */
  tablesWithoutPk: string[];
  estimate: {
    /** Predicted write-unavailable window. */
    totalSeconds: number;
    /** AWS's part of it: the documented DNS time of instance renames; 0 for clusters. */
    awsRenameDnsSeconds: number;
  };
  /** Whether the estimate rests on the source's table sizes (false: nothing could be read; not shown). */
  estimated?: boolean;
  /** The source as found: its key is the one being left. */
  source?: { kmsKeyId?: string };
  /** The new key as DescribeKey resolved it. */
  key?: { arn: string };
}

/** One sequence (or AUTO_INCREMENT counter) as fix-sequences found and left it; values as decimal text (bigint). */
export interface SequenceChange {
  name: string;
  /** Its position on the source (the next value it hands out); null when unset or not on the source. */
  source: string | null;
  /** The target's position before the fix; null when unset. */
  targetBefore: string | null;
  /** What the fix set it to (at least the source's and max(column) + 1); absent when it was not behind. */
  setTo?: string;
}

/** The sequence check as fix-sequences publishes it (also when it fails). */
export interface SequenceFacts {
  checked: number;
  behind: number;
  raised: number;
  /** One line per sequence still behind or missing on the target. */
  problems: string[];
  /** Every sequence of the target, source and target values and what it was set to (absent in older journals). */
  items?: SequenceChange[];
}

/** A session of rekey's (or DMS's) own login from another client: the fence cannot lock it out. */
export interface SessionFact {
  user: string;
  /** Client address, or `local` for a socket. */
  client: string;
  application: string;
}

/** The CDC start position came from the slot, before the snapshot (opt-in fallback). */
export interface PositionOverlapFact {
  fromLsn: string;
  slot: string;
  reason: string;
}

/** Every fact a step may publish, by key. `StepReporter.publish` accepts only these. */
export interface PublishedFacts {
  preflight: PreflightFacts;
  'validation-pre-fence': ValidationOutput;
  'validation-consistent-point': ConsistentValidationOutput;
  validation: ValidationOutput;
  sequences: SequenceFacts;
  unfencedSessions: SessionFact[];
  positionOverlap: PositionOverlapFact;
}

export type FactKey = keyof PublishedFacts;

/** What steps published so far (RunSnapshot.published). */
export type PublishedSoFar = { readonly [K in FactKey]?: PublishedFacts[K] };

/**
 * The cutover gate's facts (ApprovalRequest.facts of gate `cutover`): a type alias, so it is a plain record of
 * scalars as the journal stores it. Optional facts are absent when unknown.
 */
export type CutoverGateFacts = {
  source: string;
  newKey: string;
  switch: string;
  /** CDC latency (source + target) when the gate opened, else when catch-up finished. */
  latencySeconds?: number;
  /** ISO time latencySeconds was read (the gate re-samples it while it waits: the TUI shows the newest). */
  latencySampledAt?: string;
  validationAgeSeconds?: number;
  tablesCompared?: number;
  tablesDifferingBeforeFence?: number;
  /** The consistent-point validation: when, how many tables were equal (`n/m`), rows read, its brief fence. */
  consistentPoint?: string;
  tablesEqualAtConsistentPoint?: string;
  rowsCompared?: number;
  consistentPointWindowMs?: number;
  comparedWholeWithoutPrimaryKey?: string;
  predictedWindowSeconds?: number;
  awsRenameDnsSeconds?: number;
  tablesWithoutPrimaryKey?: number;
  sessionsOfRekeyLoginAtPreflight?: number;
  cdcStartedBeforeSnapshot?: string;
  /** Aurora: the new cluster's readers available now of those recreated (`n/m: names`). */
  readersOnNewCluster?: string;
  /** Aurora: custom endpoints ready on the new cluster under pre-switch names (`name -> pre-switch name, ...`); their names move at the switch. */
  customEndpointsReady?: string;
  /** Aurora: Auto Scaling registered again after the switch (`cluster:<id> min-max, n policies`). */
  autoScalingAfterSwitch?: string;
  /** Aurora: the fenced seconds predicted for deleting the old cluster's custom endpoints just before the switch (in predictedWindowSeconds). */
  customEndpointDeleteSeconds?: number;
  /** Aurora, cutover.renameInstances: the instance names the new instances take after the switch (outside the fence; the new writer reboots once). */
  instanceNamesAfterSwitch?: string;
  /** strategy snapshot: writes refused from the fence (before the snapshot) until the switch, expected. */
  expectedOutageSeconds?: number;
  /** strategy snapshot: what the outage estimate rests on (history of this source's snapshots, or assumptions). */
  outageEstimateFrom?: string;
  /** RDS read replicas rekey recreates after the switch (same-Region and cross-Region). */
  replicasToRecreate?: number;
  /** Regions of cross-Region replicas: without a replica from the switch until their new one replicates. */
  replicaRegions?: string;
  /** Expected time the new primary serves without read replicas after the switch (their recreation). */
  withoutReplicasSeconds?: number;
  /** Aurora global database: its secondaries (`id (region)`), added again under their Regions' keys after the switch. */
  globalSecondariesAddedAfterSwitch?: string;
};

export type CutoverFactKey = keyof CutoverGateFacts;
