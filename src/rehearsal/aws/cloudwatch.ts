// Fake CloudWatch: ListMetrics and GetMetricData over the datapoints the DMS sampler records.
import type { Core, Input } from '../core.js';
import { promised, str } from '../core.js';
import { awsFault, UnsupportedCommandError } from './faults.js';
import type { Datapoint } from '../registry.js';

interface Dimension {
  Name: string;
  Value: string;
}

function dimensionsOf(value: unknown): Dimension[] {
  return Array.isArray(value) ? (value as Dimension[]) : [];
}

function sameDimensions(point: Datapoint, dims: Dimension[]): boolean {
  const keys = Object.keys(point.d);
  return keys.length === dims.length && dims.every((d) => point.d[d.Name] === d.Value);
}

function toMs(value: unknown, fallback: number): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string' || typeof value === 'number') return new Date(value).getTime();
  return fallback;
}

function aggregate(values: number[], stat: string): number {
  switch (stat) {
    case 'Maximum': return Math.max(...values);
    case 'Minimum': return Math.min(...values);
    case 'Sum': return values.reduce((a, b) => a + b, 0);
    case 'SampleCount': return values.length;
    case 'Average': return values.reduce((a, b) => a + b, 0) / values.length;
    default: throw awsFault('cloudwatch', 'InvalidParameterValue', `The rehearsal cloud supports Stat Maximum, Minimum, Average, Sum and SampleCount, not ${stat}`);
  }
}

/** The fake CloudWatch `send`. */
export function cloudwatchSend(core: Core): (name: string, input: Input) => Promise<unknown> {
  return promised((name, input) => {
    switch (name) {
      case 'ListMetrics': {
        const ns = str(input, 'Namespace');
        const metric = str(input, 'MetricName');
        const filters = dimensionsOf(input.Dimensions);
        const horizon = str(input, 'RecentlyActive') === 'PT3H' ? core.now() - 3 * 3600_000 : 0;
        const seen = new Map<string, { Namespace: string; MetricName: string; Dimensions: Dimension[] }>();
        for (const p of core.reg.metrics()) {
          if ((ns !== undefined && p.ns !== ns) || (metric !== undefined && p.m !== metric) || p.t < horizon) continue;
          if (!filters.every((f) => p.d[f.Name] !== undefined && (f.Value === undefined || p.d[f.Name] === f.Value))) continue;
          const key = `${p.ns}|${p.m}|${JSON.stringify(p.d)}`;
          if (!seen.has(key)) seen.set(key, { Namespace: p.ns, MetricName: p.m, Dimensions: Object.entries(p.d).map(([Name, Value]) => ({ Name, Value })) });
        }
        return { Metrics: [...seen.values()] };
      }
      case 'GetMetricData': {
        const start = toMs(input.StartTime, NaN);
        const end = toMs(input.EndTime, NaN);
        if (Number.isNaN(start) || Number.isNaN(end)) throw awsFault('cloudwatch', 'InvalidParameterValue', 'StartTime and EndTime are required');
        const queries = Array.isArray(input.MetricDataQueries) ? (input.MetricDataQueries as Record<string, unknown>[]) : [];
        const descending = str(input, 'ScanBy') !== 'TimestampAscending';
        const results = queries
          .filter((q) => q.ReturnData !== false)
          .map((q) => {
            const stat = q.MetricStat as { Metric?: { Namespace?: string; MetricName?: string; Dimensions?: Dimension[] }; Period?: number; Stat?: string } | undefined;
            if (!stat?.Metric) throw awsFault('cloudwatch', 'InvalidParameterValue', `Query ${String(q.Id)}: the rehearsal cloud answers MetricStat queries only (no Expression)`);
            const period = (stat.Period ?? 60) * 1000;
            const buckets = new Map<number, number[]>();
            for (const p of core.reg.metrics()) {
              if (p.ns !== stat.Metric.Namespace || p.m !== stat.Metric.MetricName || p.t < start || p.t >= end) continue;
              if (!sameDimensions(p, stat.Metric.Dimensions ?? [])) continue;
              const bucket = Math.floor(p.t / period) * period;
              const list = buckets.get(bucket) ?? [];
              list.push(p.v);
              buckets.set(bucket, list);
            }
            const times = [...buckets.keys()].sort((a, b) => (descending ? b - a : a - b));
            return {
              Id: String(q.Id), Label: typeof q.Label === 'string' ? q.Label : stat.Metric.MetricName,
              Timestamps: times.map((t) => new Date(t)), Values: times.map((t) => aggregate(buckets.get(t) ?? [], stat.Stat ?? 'Average')), StatusCode: 'Complete',
            };
          });
        return { MetricDataResults: results, Messages: [] };
      }
      default:
        throw new UnsupportedCommandError('cloudwatch', name);
    }
  });
}
