// Helpers shared by the steps: typed outputs, waits built from the context, database endpoints, tags.
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import type { Tag } from '@aws-sdk/client-rds';
import type { DBCluster } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { findCluster, findInstance } from '../aws/rds.js';
import type { WaitEnv } from '../aws/rds.js';
import { withDb } from '../db/types.js';
import type { DbAdapter, DbEndpoint } from '../db/types.js';
import { InterruptedError, StepError } from '../engine/types.js';
import type { StepContext } from '../engine/types.js';
import { usesDms } from '../runbook/schema.js';
import type { Runbook } from '../runbook/schema.js';
import { family, isInstance } from './engine.js';
import type { StepId, StepOutputs } from './outputs.js';
import type { RekeyServices } from './services.js';

export type Ctx = StepContext<RekeyServices>;

/**
 * Output of an earlier step, if it succeeded, typed by the step id (StepOutputs). The one place a journaled
 * output is given its type: the engine keeps outputs as plain data by id.
 */
export function output<K extends StepId>(ctx: Ctx, stepId: K): StepOutputs[K] | undefined {
  return ctx.outputs[stepId] as StepOutputs[K] | undefined;
}

/** Output of an earlier step that must have succeeded. */
export function required<K extends StepId>(ctx: Ctx, stepId: K, forStep: string): StepOutputs[K] {
  const out = output(ctx, stepId);
  if (out === undefined) throw new StepError(`${forStep} needs the output of ${stepId}, which has not succeeded`, 'fatal');
  return out;
}

/** A wait env from the step context; `fast` keeps a fixed cadence (used inside the fenced window). */
export function waitEnv(ctx: Ctx, fast = false, timeoutSeconds?: number): WaitEnv {
  const t = ctx.services.timing;
  return {
    clock: ctx.services.clock,
    signal: ctx.signal,
    pollMs: fast ? (t.fencedPollMs ?? t.pollMs) : t.pollMs,
    timeoutMs: (timeoutSeconds ?? t.waitMaxSeconds) * 1000,
    ...(fast ? { maxPollMs: t.fencedPollMs ?? t.pollMs } : {}),
    progress: (message, percent, eta) => ctx.report.progress(message, percent, eta),
  };
}

/** The cluster an identifier names, or a fatal StepError. */
export async function mustFindCluster(ctx: Ctx, id: string, role: string): Promise<DBCluster> {
  const c = await findCluster(ctx.services.cloud, id);
  if (!c) throw new StepError(`${role} cluster ${id} not found`, 'fatal');
  return c;
}

/** A cluster or (for RDS instance engines) a DB instance, as the flow needs to see either. */
export interface DbView {
  /** Identifier (cluster or instance). */
  id: string;
  /** Cluster Status or DBInstanceStatus. */
  status?: string;
  /** Full ARN of the encryption key. */
  kmsKeyId?: string;
  /** Writer endpoint host (cluster Endpoint or instance Endpoint.Address). */
  host?: string;
  port?: number;
  arn?: string;
  deletionProtection?: boolean;
}

/** The cluster or instance (by the runbook's engine) an identifier names, or undefined. */
export async function findDb(ctx: Ctx, id: string): Promise<DbView | undefined> {
  const cloud = ctx.services.cloud;
  if (isInstance(ctx.services.runbook)) {
    const i = await findInstance(cloud, id);
    if (!i) return undefined;
    return {
      id: i.DBInstanceIdentifier ?? id,
      ...(i.DBInstanceStatus ? { status: i.DBInstanceStatus } : {}),
      ...(i.KmsKeyId ? { kmsKeyId: i.KmsKeyId } : {}),
      ...(i.Endpoint?.Address ? { host: i.Endpoint.Address } : {}),
      ...(i.Endpoint?.Port !== undefined ? { port: i.Endpoint.Port } : {}),
      ...(i.DBInstanceArn ? { arn: i.DBInstanceArn } : {}),
      ...(i.DeletionProtection !== undefined ? { deletionProtection: i.DeletionProtection } : {}),
    };
  }
  const c = await findCluster(cloud, id);
  if (!c) return undefined;
  return {
    id: c.DBClusterIdentifier ?? id,
    ...(c.Status ? { status: c.Status } : {}),
    ...(c.KmsKeyId ? { kmsKeyId: c.KmsKeyId } : {}),
    ...(c.Endpoint ? { host: c.Endpoint } : {}),
    ...(c.Port !== undefined ? { port: c.Port } : {}),
    ...(c.DBClusterArn ? { arn: c.DBClusterArn } : {}),
    ...(c.DeletionProtection !== undefined ? { deletionProtection: c.DeletionProtection } : {}),
  };
}

/** The cluster or instance an identifier names, or a fatal StepError. */
export async function mustFindDb(ctx: Ctx, id: string, role: string): Promise<DbView> {
  const d = await findDb(ctx, id);
  if (!d) throw new StepError(`${role} ${isInstance(ctx.services.runbook) ? 'instance' : 'cluster'} ${id} not found`, 'fatal');
  return d;
}

/** ARN of the new key: from preflight, else asked again (DescribeKey resolves aliases). */
export async function newKeyArn(ctx: Ctx): Promise<string> {
  const fromPreflight = output(ctx, 'preflight')?.key?.arn;
  if (fromPreflight) return fromPreflight;
  const out = await call('kms:DescribeKey', () =>
    ctx.services.cloud.kms.send(new DescribeKeyCommand({ KeyId: ctx.services.runbook.target.kmsKeyId })),
  );
  const arn = out.KeyMetadata?.Arn;
  if (!arn) throw new StepError(`kms:DescribeKey returned no ARN for ${ctx.services.runbook.target.kmsKeyId}`, 'fatal');
  return arn;
}

async function password(ctx: Ctx, who: 'source' | 'dms'): Promise<string | undefined> {
  const rb = ctx.services.runbook;
  const ref = who === 'dms' ? (rb.dms?.password ?? rb.source.password) : rb.source.password;
  return ctx.services.secrets.resolve(ref);
}

/** The runbook's dms section; a rejected StepError for a strategy run without one (the loader requires it where DMS is used). */
export function dmsSettings(rb: Runbook): NonNullable<Runbook['dms']> {
  if (!rb.dms) throw new StepError(`strategy ${rb.strategy} needs the runbook's dms section, which is missing`, 'rejected');
  return rb.dms;
}

/** The dms section when the strategy runs a DMS task; undefined when it does not (a leftover section is ignored, never read). */
export function activeDms(rb: Runbook): Runbook['dms'] {
  return usesDms(rb) ? rb.dms : undefined;
}

export function dmsUsername(rb: Runbook): string {
  return rb.dms?.username ?? rb.source.username;
}

/** Password for the DMS endpoints (never logged). */
export async function dmsPassword(ctx: Ctx): Promise<string> {
  const value = await password(ctx, 'dms');
  if (value === undefined) throw new StepError('the DMS password secret is not set', 'rejected');
  return value;
}

/**
 * Where to connect to a cluster as the runbook's user. The source's host/port overrides apply when the
 * cluster is the original source (its identifier or, after the switch, its old name).
 */
export async function clusterEndpoint(ctx: Ctx, identifier: string, isOriginalSource: boolean): Promise<DbEndpoint> {
  const rb = ctx.services.runbook;
  const db = await mustFindDb(ctx, identifier, isOriginalSource ? 'source' : 'target');
  const host = (isOriginalSource ? rb.source.host : undefined) ?? db.host;
  const port = (isOriginalSource ? rb.source.port : undefined) ?? db.port;
  if (!host || port === undefined) throw new StepError(`${identifier} has no endpoint yet`, 'retryable');
  const pw = await password(ctx, 'source');
  return {
    host,
    port,
    database: rb.source.database,
    user: rb.source.username,
    ...(pw !== undefined ? { password: pw } : {}),
    tls: ctx.services.cloud.provider === 'aws',
  };
}

/** Opens the runbook engine's adapter on an endpoint (the caller closes it). */
export function openDb(ctx: Ctx, endpoint: DbEndpoint): Promise<DbAdapter> {
  return ctx.services.db.open(family(ctx.services.runbook), endpoint);
}

/**
 * The context with every database connection it opens bounded by a statement timeout of `ms` (inside the fence:
 * what is left of cutover.fenceTimeoutSeconds), enforced by the server and by the adapter.
 */
export function withStatementTimeout(ctx: Ctx, ms: number): Ctx {
  const db = ctx.services.db;
  const bounded = Math.max(1, Math.floor(ms));
  return { ...ctx, services: { ...ctx.services, db: { open: (engine, endpoint) => db.open(engine, { ...endpoint, statementTimeoutMs: bounded }) } } };
}

/** Runs fn against an endpoint with the runbook engine's adapter. */
export function withEndpoint<T>(ctx: Ctx, endpoint: DbEndpoint, fn: (db: DbAdapter) => Promise<T>): Promise<T> {
  return withDb(ctx.services.db, family(ctx.services.runbook), endpoint, fn);
}

/** Whether opening a connection failed because the server refused the login (PostgreSQL 28P01, MySQL 1045). */
function loginRefused(error: unknown): boolean {
  const cause = ((error as { cause?: unknown }).cause ?? error) as { code?: string; errno?: number };
  return cause.code === '28P01' || cause.errno === 1045;
}

/**
 * Opens the runbook's user on a cluster. A refused login with a Secrets Manager password reads the secret again
 * and tries once more: RDS-managed secrets rotate, and a long run must not hold on to a password gone stale.
 */
async function openAs(ctx: Ctx, identifier: string, isOriginalSource: boolean): Promise<DbAdapter> {
  try {
    return await openDb(ctx, await clusterEndpoint(ctx, identifier, isOriginalSource));
  } catch (error) {
    const ref = ctx.services.runbook.source.password;
    const { secrets } = ctx.services;
    if (!('secretArn' in ref) || !secrets.refresh || !loginRefused(error)) throw error;
    secrets.refresh(ref);
    ctx.report.log('info', `${identifier} refused the login: reading secret ${ref.secretArn} again (it may have rotated)`);
    return openDb(ctx, await clusterEndpoint(ctx, identifier, isOriginalSource));
  }
}

async function withOpened<T>(db: DbAdapter, fn: (db: DbAdapter) => Promise<T>): Promise<T> {
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Runs fn against the source database (before the switch: the source identifier). */
export async function withSource<T>(ctx: Ctx, fn: (db: DbAdapter) => Promise<T>, identifier?: string): Promise<T> {
  return withOpened(await openAs(ctx, identifier ?? ctx.services.runbook.source.identifier, true), fn);
}

/** Runs fn against the restored database (before the switch: the target cluster name). */
export async function withTarget<T>(ctx: Ctx, fn: (db: DbAdapter) => Promise<T>, identifier?: string): Promise<T> {
  return withOpened(await openAs(ctx, identifier ?? ctx.services.names.targetCluster, false), fn);
}

/** Tags on everything rekey creates: the runbook's extra tags plus rekey:run-id. */
export function rekeyTags(ctx: Ctx): Tag[] {
  const extra = Object.entries(ctx.services.runbook.target.tags).map(([Key, Value]) => ({ Key, Value }));
  return [...extra.filter((t) => t.Key !== 'rekey:run-id'), { Key: 'rekey:run-id', Value: ctx.runId }];
}

/** Whether a resource carries this run's `rekey:run-id` tag (rekeyTags): it was made by this run, not found. */
export function madeByThisRun(ctx: Ctx, tags: readonly Tag[] | undefined): boolean {
  return (tags ?? []).some((t) => t.Key === 'rekey:run-id' && t.Value === ctx.runId);
}

/** Runs a list with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Throws when the run was aborted (between side effects). */
export function checkAborted(ctx: Ctx): void {
  if (ctx.signal.aborted) throw new InterruptedError();
}
