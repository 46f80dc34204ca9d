// DMS lookups by identifier (ResourceNotFoundFault -> undefined) and waits on instances, connections and tasks.
import {
  DescribeConnectionsCommand,
  DescribeEndpointsCommand,
  DescribeReplicationInstancesCommand,
  DescribeReplicationTasksCommand,
} from '@aws-sdk/client-database-migration-service';
import type { Connection, Endpoint, ReplicationInstance, ReplicationTask } from '@aws-sdk/client-database-migration-service';
import type { Cloud } from './cloud.js';
import { lookup } from './errors.js';
import { poll } from './poll.js';
import type { Verdict } from './poll.js';
import { pollTiming } from './rds.js';
import type { WaitEnv } from './rds.js';

export async function findReplicationInstance(cloud: Cloud, id: string): Promise<ReplicationInstance | undefined> {
  return lookup(`dms:DescribeReplicationInstances ${id}`, async () => {
    const out = await cloud.dms.send(
      new DescribeReplicationInstancesCommand({ Filters: [{ Name: 'replication-instance-id', Values: [id] }] }),
    );
    return out.ReplicationInstances?.find((r) => r.ReplicationInstanceIdentifier?.toLowerCase() === id.toLowerCase());
  });
}

export async function findEndpoint(cloud: Cloud, id: string): Promise<Endpoint | undefined> {
  return lookup(`dms:DescribeEndpoints ${id}`, async () => {
    const out = await cloud.dms.send(new DescribeEndpointsCommand({ Filters: [{ Name: 'endpoint-id', Values: [id] }] }));
    return out.Endpoints?.find((e) => e.EndpointIdentifier?.toLowerCase() === id.toLowerCase());
  });
}

export async function findTask(cloud: Cloud, id: string): Promise<ReplicationTask | undefined> {
  return lookup(`dms:DescribeReplicationTasks ${id}`, async () => {
    const out = await cloud.dms.send(
      new DescribeReplicationTasksCommand({ Filters: [{ Name: 'replication-task-id', Values: [id] }], WithoutSettings: true }),
    );
    return out.ReplicationTasks?.find((t) => t.ReplicationTaskIdentifier?.toLowerCase() === id.toLowerCase());
  });
}

export async function findConnection(cloud: Cloud, instanceArn: string, endpointArn: string): Promise<Connection | undefined> {
  return lookup(`dms:DescribeConnections ${endpointArn}`, async () => {
    const out = await cloud.dms.send(
      new DescribeConnectionsCommand({
        Filters: [
          { Name: 'endpoint-arn', Values: [endpointArn] },
          { Name: 'replication-instance-arn', Values: [instanceArn] },
        ],
      }),
    );
    return out.Connections?.[0];
  });
}

/** The last segment of a DMS ARN: the resource id CloudWatch uses as ReplicationTaskIdentifier. */
export function arnResourceId(arn: string): string {
  return arn.slice(arn.lastIndexOf(':') + 1);
}

const INSTANCE_FAILURES = new Set(['deleting', 'incompatible-credentials', 'incompatible-network', 'inaccessible-encryption-credentials']);

export function classifyInstance(r: ReplicationInstance | undefined): Verdict {
  const status = r?.ReplicationInstanceStatus;
  if (status === undefined) return { state: 'retry', note: 'not visible yet' };
  if (status === 'available') return { state: 'success' };
  if (INSTANCE_FAILURES.has(status)) return { state: 'failure', reason: `status is ${status}` };
  return { state: 'retry', note: `status ${status}` };
}

export function classifyConnection(c: Connection | undefined): Verdict {
  if (!c) return { state: 'retry', note: 'no test yet' };
  if (c.Status === 'successful') return { state: 'success' };
  if (c.Status === 'failed') return { state: 'failure', reason: c.LastFailureMessage ?? 'connection test failed' };
  return { state: 'retry', note: `status ${c.Status ?? 'unknown'}` };
}

/** The task status a wait is after. */
export type TaskGoal = 'ready' | 'running' | 'stopped';

const TASK_FAILURES: Record<TaskGoal, Set<string>> = {
  ready: new Set(['starting', 'running', 'stopping', 'stopped', 'failed', 'deleting', 'failed-move']),
  running: new Set(['stopped', 'failed', 'deleting', 'failed-move']),
  stopped: new Set(['failed', 'deleting', 'failed-move']),
};

export function classifyTask(t: ReplicationTask | undefined, goal: TaskGoal): Verdict {
  const status = t?.Status;
  if (status === undefined) return { state: 'retry', note: 'not visible yet' };
  if (status === goal) return { state: 'success' };
  if (TASK_FAILURES[goal].has(status)) {
    const why = t?.LastFailureMessage ?? t?.StopReason;
    return { state: 'failure', reason: `task is ${status}${why ? `: ${why}` : ''}` };
  }
  return { state: 'retry', note: `status ${status}` };
}

export async function waitReplicationInstanceAvailable(cloud: Cloud, id: string, env: WaitEnv): Promise<ReplicationInstance> {
  const found = await poll({
    what: `replication instance ${id} available`,
    observe: () => findReplicationInstance(cloud, id),
    classify: classifyInstance,
    onRetry: (r) => env.progress?.(`replication instance ${id}: ${r?.ReplicationInstanceStatus ?? 'not visible yet'}`),
    ...pollTiming(env),
  });
  return found as ReplicationInstance;
}

export async function waitConnection(cloud: Cloud, instanceArn: string, endpointArn: string, label: string, env: WaitEnv): Promise<void> {
  await poll({
    what: `DMS connection test of ${label}`,
    observe: () => findConnection(cloud, instanceArn, endpointArn),
    classify: classifyConnection,
    ...pollTiming(env),
  });
}

export async function waitTask(cloud: Cloud, id: string, goal: TaskGoal, env: WaitEnv): Promise<ReplicationTask> {
  const found = await poll({
    what: `task ${id} ${goal}`,
    observe: () => findTask(cloud, id),
    classify: (t) => classifyTask(t, goal),
    onRetry: (t) => env.progress?.(`task ${id}: ${t?.Status ?? 'not visible yet'}`),
    ...pollTiming(env),
  });
  return found as ReplicationTask;
}
