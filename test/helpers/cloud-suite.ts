// Plumbing shared by the rehearsal-cloud suites (test/integration/rehearsal-cloud*.test.ts): bounded polling,
// awaiting an expected fault, one-shot PostgreSQL and MySQL queries, and CDC tasks driven through DMS commands.
// Nothing here knows a suite's world: clients, ports and ARNs come in as parameters.
import { CreateReplicationTaskCommand, DescribeReplicationTasksCommand, StartReplicationTaskCommand } from '@aws-sdk/client-database-migration-service';
import type { ReplicationTask } from '@aws-sdk/client-database-migration-service';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { Cloud } from '../../src/aws/cloud.js';

/** How `until` and the task helpers poll. */
export interface Poll {
  /** Give up after this long; 20 s unless given. */
  timeoutMs?: number;
  /** Ask again after this long; 100 ms unless given. */
  intervalMs?: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Asks `probe` until it answers something other than undefined and returns that; fails naming `what` once the
 * deadline has passed. A yes/no probe answers `cond ? true : undefined`.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, { timeoutMs = 20_000, intervalMs = 100 }: Poll = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The error `p` rejects with (an SDK fault keeps its `$metadata`); throws when `p` resolves. */
export async function fault(p: Promise<unknown>): Promise<Error & { $metadata?: unknown }> {
  try {
    await p;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a fault');
}

/** Runs one statement on a connection of its own, closed again before returning the rows. */
export async function pgQuery<R extends pg.QueryResultRow>(config: pg.ClientConfig, text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client(config);
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Runs one statement on a connection of its own, closed again before returning the rows. */
export async function mysqlQuery<R = Record<string, unknown>>(options: mysql.ConnectionOptions, text: string, params: unknown[] = []): Promise<R[]> {
  const c = await mysql.createConnection(options);
  try {
    const [rows] = await c.query(text, params);
    return rows as R[];
  } finally {
    await c.end();
  }
}

type Dms = Cloud['dms'];

/** One selection rule of a task's table mappings. */
export interface Selection {
  /** schema-name (the database, on MySQL). */
  schema: string;
  /** table-name; `%` (every table) unless given. */
  table?: string;
  /** Whether the rule leaves the tables out rather than taking them in. */
  isExcluded?: boolean;
}

/** TableMappings JSON of selection rules numbered 1, 2, ... in order. */
export function selectTables(...rules: Selection[]): string {
  return JSON.stringify({
    rules: rules.map((r, i) => ({
      'rule-type': 'selection', 'rule-id': String(i + 1), 'rule-name': String(i + 1),
      'object-locator': { 'schema-name': r.schema, 'table-name': r.table ?? '%' }, 'rule-action': r.isExcluded === true ? 'exclude' : 'include',
    })),
  });
}

/** What CreateReplicationTask gets for a CDC-only task. */
export interface CdcTask {
  /** ReplicationTaskIdentifier. */
  id: string;
  /** ReplicationInstanceArn. */
  instanceArn: string | undefined;
  /** SourceEndpointArn. */
  sourceArn: string | undefined;
  /** TargetEndpointArn. */
  targetArn: string | undefined;
  /** CdcStartPosition: an LSN, or a binlog `file:pos`. */
  position: string | undefined;
  /** TableMappings, as `selectTables` makes them. */
  tableMappings: string;
  /** ReplicationTaskSettings JSON; the request has none when absent. */
  settings?: string;
}

/** The task with this ARN, as DescribeReplicationTasks has it now. */
export async function describeTask(dms: Dms, arn: string): Promise<ReplicationTask> {
  const out = await dms.send(new DescribeReplicationTasksCommand({ Filters: [{ Name: 'replication-task-arn', Values: [arn] }] }));
  const t = out.ReplicationTasks?.[0];
  if (!t) throw new Error(`no task ${arn}`);
  return t;
}

/** Creates a CDC task and waits until it is ready; returns its ARN. */
export async function createCdcTask(dms: Dms, task: CdcTask, poll: Poll = {}): Promise<string> {
  const out = await dms.send(new CreateReplicationTaskCommand({
    ReplicationTaskIdentifier: task.id, SourceEndpointArn: task.sourceArn, TargetEndpointArn: task.targetArn, ReplicationInstanceArn: task.instanceArn,
    MigrationType: 'cdc', CdcStartPosition: task.position, TableMappings: task.tableMappings,
    ...(task.settings !== undefined ? { ReplicationTaskSettings: task.settings } : {}),
  }));
  const arn = out.ReplicationTask?.ReplicationTaskArn ?? '';
  await until(`task ${task.id} ready`, async () => ((await describeTask(dms, arn)).Status === 'ready' ? true : undefined), poll);
  return arn;
}

/** How `startTask` starts a task and what it waits for. */
export interface Start extends Poll {
  /** CdcStartPosition of the StartReplicationTask request; none unless given. */
  position?: string;
  /** The statuses that end the wait; running or failed unless given. */
  settledOn?: readonly string[];
}

/** Starts a task (start-replication) and returns it once its status is one of `settledOn`. */
export async function startTask(dms: Dms, arn: string, { position, settledOn = ['running', 'failed'], ...poll }: Start = {}): Promise<ReplicationTask> {
  await dms.send(new StartReplicationTaskCommand({
    ReplicationTaskArn: arn, StartReplicationTaskType: 'start-replication', ...(position !== undefined ? { CdcStartPosition: position } : {}),
  }));
  return until(`task ${arn} ${settledOn.join(' or ')}`, async () => {
    const t = await describeTask(dms, arn);
    return settledOn.includes(t.Status ?? '') ? t : undefined;
  }, poll);
}
