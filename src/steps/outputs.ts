// The outputs of every step, by step id: one type-only module, so steps read each other's outputs through the
// typed accessor `output(ctx, 'snapshot')` (src/steps/common.ts) instead of importing each other or casting.
// Adding a step: declare its output here and add it to StepOutputs under the step's id.
import type { Check, FenceState, SlotInfo } from '../db/types.js';
import type { ConsistentValidationOutput, PreflightFacts, SequenceChange, ValidationOutput } from '../engine/facts.js';
import type { AuroraTopology } from '../topology/aurora.js';
import type { GlobalPlan } from '../topology/global.js';
import type { ReplicaPlan } from '../topology/replicas.js';

export type { ReplicaPlan } from '../topology/replicas.js';
export type { GlobalPlan } from '../topology/global.js';

export type { AppliedCounts, ConsistentValidationOutput, PointTableComparison, RangeDifference, TableComparison, ValidationOutput } from '../engine/facts.js';

/** Predicted write-unavailable window, from table sizes and the configured validation. */
export interface CutoverEstimate {
  /** Tables found on the source. */
  tables: number;
  /** Estimated rows (statistics). */
  rows: number;
  bytes: number;
  /** Row counts while fenced (validation.final: counts; 0 by default). */
  countSeconds: number;
  /** Checksums while fenced: 0, they run at the consistent point outside the fence. */
  checksumSeconds: number;
  /** The consistent-point validation before the gate (counts and checksums on snapshots; writes go on). */
  consistentPointSeconds: number;
  /**
   * The fenced part the time box bounds (cutover.fenceTimeoutSeconds): drain, stopping the task, the final checks
   * and sequences, up to the switch. Preflight refuses a plan where this exceeds the time box.
   */
  fencedSeconds: number;
  /** Drain, task stop and renames. */
  fixedSeconds: number;
  /** AWS's part of the window: the documented DNS time of the instance renames (about 10 minutes); 0 for clusters. */
  awsRenameDnsSeconds: number;
  /** Aurora: deleting the old cluster's custom endpoints inside the fence (topology-release), part of fencedSeconds and fixedSeconds. */
  customEndpointSeconds?: number;
  totalSeconds: number;
  /** How the numbers were made, for people. */
  assumptions: string;
}

/** How long the CDC start position must stay in the source's binary log (MySQL). */
export interface BinlogWindow {
  /** Binlog retention on the source: hours, null = never purged automatically, undefined = could not be read. */
  retentionHours?: number | null;
  /** Expected time from the snapshot to a caught-up task: snapshot + restore + DMS setup + catch-up limit. */
  expectedHours: number;
  /** How the expectation was made, for people. */
  assumptions: string;
}

/** What preflight found; the output of the preflight step and of `rekey plan`. */
/** strategy snapshot: the writer roles whose pre-fence state was restored on the new database. */
export interface UnfenceTargetOutput {
  roles: string[];
}

/** strategy snapshot: the expected write outage (fenced from before the snapshot until the switch). */
export interface OutageEstimate {
  totalSeconds: number;
  snapshotSeconds: number;
  /** RDS instances: CopyDBSnapshot under the new key; 0 for Aurora. */
  copySeconds: number;
  restoreSeconds: number;
  /** Counts + checksums at rest, sequences, renames and fixed waits. */
  cutoverSeconds: number;
  /** Where the snapshot/copy/restore times came from. */
  from: 'history' | 'rehearsal-delays' | 'size-model';
  /** Earlier snapshots of this source whose durations were read (history). */
  samples: { snapshotId: string; seconds: number }[];
  assumptions: string;
}

export interface PreflightReport extends PreflightFacts {
  /** strategy snapshot only: the expected outage. */
  outage?: OutageEstimate;
  /** Every check, passed or not. */
  checks: Check[];
  /** Failed error checks (preflight fails when non-empty). */
  problems: string[];
  /** Failed warning checks. */
  warnings: string[];
  /** The source cluster as found. */
  source?: { identifier: string; arn?: string; kmsKeyId?: string; engineVersion?: string; writer?: string; writerClass?: string };
  /** The new key as resolved by DescribeKey. */
  key?: { arn: string; keyId: string; aliases: string[] };
  /** Whether the DMS replication instance existed at preflight (false: rekey creates it). */
  dmsInstanceExisted?: boolean;
  /** Its IP addresses, when it existed: sessions from them are DMS's own. */
  dmsAddresses?: string[];
  /** Sessions of rekey's/DMS's own login from other clients at preflight (the fence cannot lock them out). */
  openSessions?: number;
  /** schema.table of tables without a primary key. */
  tablesWithoutPk: string[];
  estimate: CutoverEstimate;
  /** Whether the estimate rests on the source's table sizes (false: nothing could be read; the estimate is not shown). */
  estimated?: boolean;
  /** MySQL: binlog retention against the time the start position must survive. */
  binlog?: BinlogWindow;
  /** Aurora: the source's readers, custom endpoints and Auto Scaling, and what happens to each. */
  topology?: { found: AuroraTopology; plan: string[] };
  /** RDS instances: the source's read replicas and what happens to each (src/topology/replicas.ts). */
  replicas?: ReplicaPlan;
  /** Aurora: the global database the source is the primary of, its secondaries and what happens to each (src/topology/global.ts). */
  globalDatabase?: GlobalPlan;
}

/** What recreate-replicas did, per replica. */
export interface ReplicaResult {
  /** The old replica's identifier (now its `-old-<runid>` name, unless the run does not rename). */
  oldIdentifier: string;
  /** The old replica's name after the run. */
  oldNow: string;
  /** The new replica's identifier. */
  identifier: string;
  region: string;
  crossRegion: boolean;
  /** Its key (read back from AWS). */
  kmsKeyId?: string;
  arn?: string;
  /** The primary it replicates from. */
  primary: string;
  /** Replication lag when it was read (seconds), when known. */
  lagSeconds?: number;
}

/** What topology-global did for one secondary Region. */
export interface GlobalSecondaryResult {
  /** The old secondary's identifier (before the run). */
  oldIdentifier: string;
  /** The old secondary's name after the run (`-old-<runid>` when the run renames). */
  oldNow: string;
  /** The new secondary cluster. */
  identifier: string;
  region: string;
  arn?: string;
  /** Its key, read back in its Region. */
  kmsKeyId?: string;
  /** Its instances, available. */
  instances: string[];
  /** AuroraGlobalDBReplicationLag (milliseconds) when it was read. */
  lagMs?: number;
  /** The member's SynchronizationStatus in the global cluster, when reported. */
  synchronization?: string;
}

/** Output of topology-global. */
export interface TopologyGlobalOutput {
  /** The global cluster the new cluster heads (absent: the source was in none). */
  globalCluster?: string;
  /** Where the old global cluster is (renamed, or kept under its name when the run does not rename). */
  oldGlobalCluster?: string;
  secondaries: GlobalSecondaryResult[];
}

/** Output of recreate-replicas. */
export interface RecreateReplicasOutput {
  replicas: ReplicaResult[];
  /** Regions of cross-Region replicas that have no new replica (empty when all were made). */
  regionsWithoutReplica: string[];
}

/** What prepare-source left on the source. */
export interface PrepareSourceOutput {
  /** The logical slot as created (or found); absent on MySQL. */
  slot?: SlotInfo;
  /** Sentinel table, in the engine's sentinel schema (PostgreSQL `public`, MySQL the runbook database). */
  sentinelTable: string;
}

/** Where replica-position left the temporary replica and the source coordinates it had executed. */
export interface ReplicaPositionOutput {
  replicaId: string;
  /** `<file>:<pos>` executed by the stopped replica: the CDC start position. */
  position: string;
  /** Binlog retention on the source as read back after setting it (null: never purged). */
  retentionHours: number | null;
}

/** The snapshot the target is restored from. */
export interface SnapshotOutput {
  snapshotId: string;
  snapshotArn?: string;
}

/** The snapshot copy under the new key. */
export interface CopySnapshotOutput {
  snapshotId: string;
  snapshotArn?: string;
  /** Full ARN of the key the copy reports. */
  kmsKeyId: string;
}

/** The restored cluster under the new key. */
export interface RestoreOutput {
  clusterId: string;
  clusterArn?: string;
  writerId: string;
  /** Full ARN of the key the restored cluster reports. */
  kmsKeyId: string;
  /** Whether a copy of the source slot was found on the target and dropped (always false on MySQL). */
  droppedSlotCopy: boolean;
  /** ISO time the restore was requested (or the restored cluster was created): events of the new writer start after it. */
  startedAt: string;
}

/** strategy clone: the restore made by RestoreDBClusterToPointInTime. */
export interface CloneRestoreOutput extends RestoreOutput {
  /** What AWS accepted: copy-on-write, or full-copy after AWS refused copy-on-write under the new key. */
  restoreType: 'copy-on-write' | 'full-copy';
  /** AWS's answer to the copy-on-write request, when it refused it. */
  fallbackReason?: string;
}

/** The CDC start position. */
export interface CapturePositionOutput {
  /** The task's CdcStartPosition: an LSN (PostgreSQL) or `<file>:<pos>` (MySQL). */
  position: string;
  /** PostgreSQL: the source slot's confirmed_flush_lsn when checked. */
  slotConfirmedFlushLsn?: string;
  /** MySQL: size in bytes of the binlog file on the source when checked. */
  binlogFileSize?: number;
  /** MySQL: ISO time of the crash-recovery event the position came from. */
  eventAt?: string;
  /** Where the position came from: the seed function, the crash-recovery event, the stopped replica or the slot (fallback). */
  source?: 'seed-function' | 'crash-recovery' | 'replica' | 'slot-fallback';
  /** Set only on the opt-in slot fallback: changes between these LSNs are replayed onto a target that has them. */
  overlap?: { fromLsn: string; snapshotAfter: true; reason: string };
}

/** The DMS resources of this run. */
export interface DmsSetupOutput {
  replicationInstanceArn: string;
  /** rekey created the replication instance (so it may delete it at the end). */
  createdInstance: boolean;
  sourceEndpointArn: string;
  targetEndpointArn: string;
  taskArn: string;
  /** The replication instance's IP addresses: sessions from them on the source are DMS's own. */
  instanceAddresses?: string[];
}

/** The running task. */
export interface StartCdcOutput {
  taskArn: string;
  /** How it was started this time. */
  startType: 'start-replication' | 'resume-processing' | 'already-running';
}

/** Where catch-up stood when it passed. */
export interface CatchUpOutput {
  /** Total latency (source + target) at the last reading, seconds. */
  latencySeconds: number;
  sourceSeconds: number;
  targetSeconds: number;
  /** How long latency had stayed under the threshold. */
  sustainedSeconds: number;
  /** ISO time it passed. */
  at: string;
}

/** Hooks that ran. */
export interface HooksOutput {
  ran: number;
}

/** The sentinel that arrived. */
export interface DrainOutput {
  token: string;
  /** From the sentinel write to seeing it on the target. */
  waitedMs: number;
}

/** How the task ended. */
export interface StopTaskOutput {
  status: string | undefined;
}

/** The sequence check. */
export interface FixSequencesOutput {
  /** Sequences checked on the target. */
  checked: number;
  /** Sequences still behind after the fix (0 on success). */
  behind: number;
  /** Sequences raised on the target. */
  raised: number;
  /** Per sequence: source value, target value before, what it was set to (absent in journals from before it). */
  items?: SequenceChange[];
}

/** What the switch did. */
export interface SwitchOutput {
  mode: 'rename' | 'none';
  /** Where the old cluster now lives. */
  oldName?: string;
  /** The identifier the new cluster answers to. */
  newName: string;
}

/** One resource and the key AWS reports for it. */
export interface KeyedResource {
  kind: 'cluster' | 'instance' | 'snapshot' | 'performance-insights' | 'read-replica';
  role: string;
  identifier: string;
  /** Its Region, when not the runbook's (cross-Region read replicas, global database secondaries). */
  region?: string;
  arn?: string;
  kmsKeyId?: string;
}

/** topology-readers: the topology as read before the gate, and the readers made on the new cluster. */
export interface TopologyReadersOutput {
  /** The source's topology and its mapping onto the new cluster (later steps act on this, not on a new reading). */
  topology: AuroraTopology;
  /** New readers that were available when the step finished. */
  available: string[];
}

/** topology-endpoints: the custom endpoints made on the new cluster under their pre-switch names. */
export interface TopologyEndpointsOutput {
  /** Pre-switch names, available when the step finished. */
  available: string[];
}

/** topology-release: the source's custom endpoints deleted just before the switch (their names move to the new cluster). */
export interface TopologyReleaseOutput {
  /** Names deleted from the old cluster (or found gone). */
  released: string[];
}

/** topology-after-switch: the original custom endpoint names on the new cluster, and Auto Scaling registered again. */
export interface TopologyAfterSwitchOutput {
  /** Custom endpoint names now on the cluster serving the source identifier, available. */
  moved: string[];
  /** Scaling policies put again (0 without Auto Scaling); whether the scalable target was registered. */
  autoScaling: { registered: boolean; policies: number };
}

/** topology-park-instances (cutover.renameInstances): each old instance and the name it was renamed to. */
export interface TopologyParkInstancesOutput {
  /** The source instance's name and its `-old-<runid>` name. */
  parked: { name: string; parked: string }[];
}

/** topology-instance-names (cutover.renameInstances): the source instance names the new instances now have. */
export interface TopologyInstanceNamesOutput {
  /** Instance names kept (the writer first), each now naming the new cluster's counterpart. */
  kept: string[];
}

/** What was verified. */
export interface VerifyOutput {
  identifier: string;
  kmsKeyId: string;
  /** host:port now serving it. */
  endpoint: string;
  serverVersion: string;
  /** Evidence of the key change, read back from AWS when verified: the serving database, the old one, the snapshots. */
  evidence?: { at: string; resources: KeyedResource[] };
}

/** What was cleaned up. */
export interface CleanupOutput {
  droppedSlot: boolean;
  deletedDms: boolean;
}

/** The fence: each role's state before it (unfence restores exactly that), DMS's addresses, sessions left open. */
export type FenceOutput = FenceState;

/** Every step's output by step id (the instance variants included). */
/** The Blue/Green deployment as created (strategy blue-green). */
export interface BgCreateOutput {
  /** BlueGreenDeploymentIdentifier. */
  identifier: string;
  /** BlueGreenDeploymentName. */
  name: string;
  /** Source ARN (blue). */
  source: string;
  /** Target ARN (green) as AWS reported it. */
  target?: string;
  /** Blue and green members, by ARN, as before any switchover. */
  members: { source: string; target: string }[];
}

/** Every green resource and its key, as AWS reported it before the switchover. */
export interface BgAttestOutput {
  keyArn: string;
  resources: KeyedResource[];
}

/** The Blue/Green switchover as observed. */
export interface BgSwitchoverOutput {
  /** ISO time the switchover was asked for (or found done). */
  requestedAt: string;
  /** How long it took as rekey saw it. */
  durationMs: number;
  /** Members switched (blue ARN → green ARN as before the switchover). */
  members: { source: string; target: string }[];
}

/** Whether bg-delete deleted the deployment object. */
export interface BgDeleteOutput {
  deleted: boolean;
}

export interface StepOutputs {
  preflight: PreflightReport;
  'prepare-source': PrepareSourceOutput;
  'replica-position': ReplicaPositionOutput;
  snapshot: SnapshotOutput;
  'copy-snapshot': CopySnapshotOutput;
  restore: RestoreOutput;
  'capture-position': CapturePositionOutput;
  'dms-setup': DmsSetupOutput;
  'start-cdc': StartCdcOutput;
  'catch-up': CatchUpOutput;
  validate: ValidationOutput;
  'consistent-validate': ConsistentValidationOutput;
  'before-fence': HooksOutput;
  fence: FenceOutput;
  drain: DrainOutput;
  'stop-task': StopTaskOutput;
  'final-validate': ValidationOutput;
  'fix-sequences': FixSequencesOutput;
  switch: SwitchOutput;
  verify: VerifyOutput;
  'recreate-replicas': RecreateReplicasOutput;
  'after-switch': HooksOutput;
  cleanup: CleanupOutput;
  'unfence-target': UnfenceTargetOutput;
  'bg-create': BgCreateOutput;
  'bg-attest': BgAttestOutput;
  'bg-switchover': BgSwitchoverOutput;
  'bg-delete': BgDeleteOutput;
  'topology-readers': TopologyReadersOutput;
  'topology-endpoints': TopologyEndpointsOutput;
  'topology-release': TopologyReleaseOutput;
  'topology-after-switch': TopologyAfterSwitchOutput;
  'topology-global': TopologyGlobalOutput;
  'topology-park-instances': TopologyParkInstancesOutput;
  'topology-instance-names': TopologyInstanceNamesOutput;
}

export type StepId = keyof StepOutputs;
