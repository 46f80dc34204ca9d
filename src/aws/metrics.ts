// CDC latency from CloudWatch: discover the exact dimensions with ListMetrics (the task dimension is the
// task ARN's resource id, not its name), then read both latencies with one GetMetricData call.
import { GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import type { Dimension } from '@aws-sdk/client-cloudwatch';
import type { Cloud } from './cloud.js';
import { call } from './errors.js';
import { arnResourceId } from './dms.js';

export const DMS_NAMESPACE = 'AWS/DMS';
export const LATENCY_METRICS = ['CDCLatencySource', 'CDCLatencyTarget'] as const;

/** Latest latency readings; undefined when CloudWatch has no datapoint yet. */
export interface LatencyReading {
  /** CDCLatencySource, seconds. */
  source: number | undefined;
  /** CDCLatencyTarget, seconds. */
  target: number | undefined;
  /** source + target when both are known. */
  total: number | undefined;
}

/** The dimensions of the task's CDC metrics as CloudWatch lists them, or undefined when not published yet. */
export async function discoverTaskDimensions(cloud: Cloud, instanceId: string, taskArn: string): Promise<Dimension[] | undefined> {
  const taskResourceId = arnResourceId(taskArn);
  let token: string | undefined;
  do {
    const out = await call('cloudwatch:ListMetrics', () =>
      cloud.cloudwatch.send(
        new ListMetricsCommand({
          Namespace: DMS_NAMESPACE,
          MetricName: 'CDCLatencySource',
          Dimensions: [{ Name: 'ReplicationInstanceIdentifier', Value: instanceId }],
          RecentlyActive: 'PT3H',
          NextToken: token,
        }),
      ),
    );
    const hit = out.Metrics?.find((m) =>
      m.Dimensions?.some((d) => d.Name === 'ReplicationTaskIdentifier' && d.Value === taskResourceId),
    );
    if (hit?.Dimensions) return hit.Dimensions;
    token = out.NextToken;
  } while (token);
  return undefined;
}

/** One GetMetricData call for both latencies over the last few periods; returns the newest point of each. */
export async function readLatency(cloud: Cloud, dimensions: Dimension[], periodSeconds: number, nowMs: number): Promise<LatencyReading> {
  const windowMs = periodSeconds * 1000 * 5;
  const out = await call('cloudwatch:GetMetricData', () =>
    cloud.cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(nowMs - windowMs),
        EndTime: new Date(nowMs),
        ScanBy: 'TimestampDescending',
        MetricDataQueries: LATENCY_METRICS.map((name, i) => ({
          Id: i === 0 ? 'latency_source' : 'latency_target',
          MetricStat: {
            Metric: { Namespace: DMS_NAMESPACE, MetricName: name, Dimensions: dimensions },
            Period: periodSeconds,
            Stat: 'Maximum',
          },
          ReturnData: true,
        })),
      }),
    ),
  );
  const source = newestValue(out.MetricDataResults, 'latency_source');
  const target = newestValue(out.MetricDataResults, 'latency_target');
  return { source, target, total: source !== undefined && target !== undefined ? source + target : undefined };
}

/** The value of query `id`'s newest datapoint (whatever order CloudWatch returned them in); undefined without one. */
function newestValue(results: { Id?: string; Values?: number[]; Timestamps?: (Date | string)[] }[] | undefined, id: string): number | undefined {
  const r = results?.find((x) => x.Id === id);
  if (!r?.Values?.length) return undefined;
  const times = r.Timestamps ?? [];
  let best = 0;
  for (let i = 1; i < r.Values.length; i++) {
    if (timeOf(times[i]) > timeOf(times[best])) best = i;
  }
  return r.Values[best];
}

function timeOf(t: Date | string | undefined): number {
  return t === undefined ? 0 : new Date(t).getTime();
}

/**
 * The newest datapoint of an AWS/RDS metric (Maximum) for one resource over the last five periods (at least
 * 5 minutes); undefined without one.
 */
async function newestRdsMetric(cloud: Cloud, q: { id: string; metric: string; dimension: { Name: string; Value: string } }, periodSeconds: number, nowMs: number): Promise<number | undefined> {
  const windowMs = Math.max(periodSeconds * 5, 300) * 1000;
  const out = await call('cloudwatch:GetMetricData', () =>
    cloud.cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(nowMs - windowMs),
        EndTime: new Date(nowMs),
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [{
          Id: q.id,
          MetricStat: { Metric: { Namespace: 'AWS/RDS', MetricName: q.metric, Dimensions: [q.dimension] }, Period: Math.max(60, periodSeconds), Stat: 'Maximum' },
          ReturnData: true,
        }],
      }),
    ),
  );
  return newestValue(out.MetricDataResults, q.id);
}

/** RDS read replica lag (AWS/RDS ReplicaLag, seconds), the newest datapoint of the last five periods (at least 5 minutes); undefined without one. */
export function readReplicaLag(cloud: Cloud, instanceId: string, periodSeconds: number, nowMs: number): Promise<number | undefined> {
  return newestRdsMetric(cloud, { id: 'replica_lag', metric: 'ReplicaLag', dimension: { Name: 'DBInstanceIdentifier', Value: instanceId } }, periodSeconds, nowMs);
}

/**
 * Aurora Global Database replication lag of a secondary cluster (AWS/RDS AuroraGlobalDBReplicationLag, milliseconds,
 * read in the secondary's Region by DBClusterIdentifier): the newest datapoint of the last five periods; undefined without one.
 */
export function readGlobalReplicationLag(cloud: Cloud, clusterId: string, periodSeconds: number, nowMs: number): Promise<number | undefined> {
  return newestRdsMetric(cloud, { id: 'global_lag', metric: 'AuroraGlobalDBReplicationLag', dimension: { Name: 'DBClusterIdentifier', Value: clusterId } }, periodSeconds, nowMs);
}
