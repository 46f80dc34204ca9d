// What every step receives in ctx.services: the composition root (src/cli) builds it, real or rehearsal.
import type { Cloud } from '../aws/cloud.js';
import type { DbConnector } from '../db/types.js';
import type { Runbook, SecretRef } from '../runbook/schema.js';

export interface RekeyServices {
  /** rds/kms/dms/cloudwatch senders (real SDK clients or the rehearsal cloud). */
  cloud: Cloud;
  /** The validated runbook. */
  runbook: Runbook;
  /** Deterministic names from the run id (src/steps/names.ts). */
  names: ResourceNames;
  /** Opens src/db adapters (real pg/mysql2 connections in both modes). */
  db: DbConnector;
  /** Resolves secret references; the value never enters logs, events or errors. */
  secrets: {
    resolve(ref: SecretRef): Promise<string | undefined>;
    /** Forget a fetched value, so the next resolve reads it again (after a refused login: the secret may have rotated). */
    refresh?(ref: SecretRef): void;
  };
  /**
   * Rehearsal only: a libpq password file the rehearsal's PostgreSQL servers read an adopted source's passwords
   * from. A subscription created there names it (`passfile=`) instead of holding the password, so no password
   * is written into the local servers' catalogs, WAL or logs. Undefined against AWS (RDS has no such file).
   */
  passfile?: string;
  /** Time source and abortable sleep (fake in tests). */
  clock: { now(): number; sleep(ms: number, signal: AbortSignal): Promise<void> };
  /** Runs a local command (hooks) with a time limit. */
  exec(command: string, env: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<{ code: number | null; output: string }>;
  /**
   * Poll cadence and limits: AWS 15000/60/...; rehearsal ~100/1/... `fencedPollMs` is the cadence while the source
   * is fenced (drain, stop, rename waits), where every poll interval is write downtime: AWS 2000, rehearsal 25.
   */
  timing: { pollMs: number; metricPeriodSeconds: number; waitMaxSeconds: number; fencedPollMs?: number };
}

/** All derived from (runbook.source.identifier, runId); runId is 8 lower-case [a-z0-9]. */
export interface ResourceNames {
  /** `${src}-rekey-${runId}-snap` (trimmed so it stays <= 63 chars, still unique by runId). */
  snapshot: string;
  /** `${src}-rekey-${runId}-copy`: instances: the snapshot copy re-encrypted under the new key. */
  snapshotCopy: string;
  /** `${src}-rekey-${runId}-rr`: RDS MySQL/MariaDB: the temporary read replica whose stopped state is snapshotted. */
  readReplica: string;
  /** `${src}-rekey-${runId}`: the restored cluster (or, for instances, DB instance) under the new key. */
  targetCluster: string;
  /** `${src}-rekey-${runId}-w1`: the restored cluster's writer instance. */
  targetWriter: string;
  /** `${src}-old-${runId}`: where the switch renames the old cluster. */
  oldName: string;
  /** runbook.dms.slotName ?? `rekey_${runId}`: the logical slot on the source. */
  slot: string;
  /** `rekey_${runId}`: native strategy (PostgreSQL): the publication on the source (`_ins` suffix: insert-only tables). */
  publication: string;
  /** `rekey_${runId}_sub`: native strategy (PostgreSQL): the subscription on the restored database. */
  subscription: string;
  /** `rekey-${runId}-src`: DMS source endpoint identifier. */
  sourceEndpoint: string;
  /** `rekey-${runId}-tgt`: DMS target endpoint identifier. */
  targetEndpoint: string;
  /** `rekey-${runId}-cdc`: DMS CDC task identifier. */
  task: string;
  /** runbook.dms.replicationInstance.identifier ('' for strategies without DMS). */
  replicationInstance: string;
}
