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

/** The sequence check as fix-sequences publishes it (also when it fails). */
export interface SequenceFacts {
  checked: number;
  behind: number;
  raised: number;
  /** One line per sequence still behind or missing on the target. */
  problems: string[];
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
  /** DMS latency when catch-up finished. */
  latencySeconds?: number;
  validationAgeSeconds?: number;
  tablesCompared?: number;
  tablesDifferingBeforeFence?: number;
  predictedWindowSeconds?: number;
  awsRenameDnsSeconds?: number;
  tablesWithoutPrimaryKey?: number;
  sessionsOfRekeyLoginAtPreflight?: number;
  cdcStartedBeforeSnapshot?: string;
};

export type CutoverFactKey = keyof CutoverGateFacts;
