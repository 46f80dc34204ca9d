// How hard a comparison may lean on a database that is still taking the application's writes. Unfenced
// comparisons (the informative validate, the consistent point's compare) open at most a share of the writer's
// vCPUs as connections per side (validation.cpuShare, default half), whatever validation.concurrency asks for:
// each connection runs one CPU-bound scan, and more scans than the server has cores buy no speed, only the
// application's write latency. Measured on the 2-core rehearsal machine with 3M MariaDB rows: 4 connections per
// side finished in the same 5-6 s as 1 and stalled the live writes for up to 734 ms (1 per side: 111 ms). Inside the
// fence nothing else writes, so fenced comparisons use validation.concurrency as it is.
import type { Ctx } from './common.js';
import { output } from './common.js';

/**
 * vCPUs of an RDS/Aurora instance class from its size (`db.r6g.large` → 2, `db.m5.4xlarge` → 16); undefined where
 * the size alone does not tell (db.serverless, *.metal, unknown shapes). Burstable micro/small classes of the t2
 * generation have 1, other micro/small/medium classes 2.
 */
export function vcpusOf(instanceClass: string | undefined): number | undefined {
  const m = /^db\.([a-z0-9-]+)\.([a-z0-9]+)$/.exec(instanceClass ?? '');
  if (!m) return undefined;
  const [, family, size] = m as unknown as [string, string, string];
  if (size === 'micro' || size === 'small') return family === 't2' ? 1 : 2;
  if (size === 'medium' || size === 'large') return 2;
  if (size === 'xlarge') return 4;
  const n = /^(\d+)xlarge$/.exec(size);
  return n ? 4 * Number(n[1]) : undefined;
}

export interface CompareConnections {
  /** Connections per side for a comparison while writes go on. */
  connections: number;
  /** Why fewer than validation.concurrency, for the plan and the log. */
  capped?: string;
}

/** The writer classes the comparison runs on: the source's (from preflight) and the new writer's. */
export function writerClasses(ctx: Ctx, source = output(ctx, 'preflight')?.source?.writerClass): string[] {
  const target = ctx.services.runbook.target.instanceClass ?? source;
  return [source, target].filter((c): c is string => c !== undefined);
}

/** Connections per side for an unfenced comparison: validation.concurrency, capped at cpuShare of the smaller writer's vCPUs. */
export function unfencedCompareConnections(ctx: Ctx, classes: string[] = writerClasses(ctx)): CompareConnections {
  const v = ctx.services.runbook.validation;
  const sized = classes.map((c) => ({ c, n: vcpusOf(c) })).filter((x): x is { c: string; n: number } => x.n !== undefined);
  if (sized.length === 0) return { connections: v.concurrency };
  const smallest = sized.reduce((a, b) => (b.n < a.n ? b : a));
  const cap = Math.max(1, Math.floor(smallest.n * v.cpuShare));
  if (cap >= v.concurrency) return { connections: v.concurrency };
  return {
    connections: cap,
    capped: `${cap} connection${cap === 1 ? '' : 's'} per side, not validation.concurrency ${v.concurrency}: ${smallest.c} has ${smallest.n} vCPUs and validation.cpuShare ${v.cpuShare} leaves the rest to the application's writes`,
  };
}
