// `rekey plan` compares the strategies rekey can run for the runbook's source, from what preflight found:
// expected write-unavailable window, preparation time, extra cost, prerequisites met or missing, caveats, and
// exactly one recommendation with its reason. Pure: the numbers come from the preflight report.
import type { Check } from '../db/types.js';
import type { Runbook, StrategyName } from '../runbook/schema.js';
import { profile } from '../steps/engine.js';
import { AWS_FIXED_SECONDS, AWS_RESTORE_BYTES_PER_SECOND, AWS_SNAPSHOT_BYTES_PER_SECOND } from '../steps/preflight.js';
import type { PreflightReport } from '../steps/preflight.js';

/** One strategy as `rekey plan` compares it. */
export interface StrategyOption {
  strategy: StrategyName;
  /** What it does, for people. */
  summary: string;
  /** Expected longest time writes are refused, seconds (the fenced cutover). */
  writeUnavailableSeconds: number;
  /** Expected time from the start of the run to the cutover gate, seconds (snapshot, restore, setup, catch-up). */
  preparationSeconds: number;
  /** Extra cost beyond the new database itself. */
  extraCost: { dmsInstanceHours: number; note: string };
  /** Prerequisites preflight found met, and missing. */
  prerequisites: { met: string[]; missing: string[] };
  caveats: string[];
  /** Whether this is the one rekey recommends. */
  recommended: boolean;
  /** Why (on the recommended one), or why not. */
  reason: string;
}

/** Strategies the runbook's engine can use that this version does not run yet, and why. */
export interface UnavailableStrategy {
  strategy: StrategyName;
  reason: string;
}

const checkIds = (checks: Check[], pick: (c: Check) => boolean): { met: string[]; missing: string[] } => {
  const chosen = checks.filter(pick);
  return {
    met: chosen.filter((c) => c.ok).map((c) => `${c.id}: ${c.message}`),
    missing: chosen.filter((c) => !c.ok && c.severity === 'error').map((c) => `${c.id}: ${c.message}`),
  };
};

/** Checks every strategy needs (source, key, passwords, database). */
const shared = (c: Check): boolean => c.id.startsWith('source.') || c.id.startsWith('key.') || c.id === 'source.password';

/** Snapshot + restore + setup + the sustain window, from the database's size (AWS) or the rehearsal's delays. */
function preparation(runbook: Runbook, bytes: number, provider: 'aws' | 'rehearsal'): number {
  if (provider === 'aws') return Math.round(AWS_FIXED_SECONDS + bytes / AWS_SNAPSHOT_BYTES_PER_SECOND + bytes / AWS_RESTORE_BYTES_PER_SECOND + runbook.cutover.sustainSeconds);
  const d = runbook.rehearsal?.delays;
  return Math.round((d?.snapshotSeconds ?? 1) + (d?.restoreSeconds ?? 1) + runbook.cutover.sustainSeconds);
}

/** The comparison. `preflight` undefined: nothing could be read (prerequisites then all say unknown). */
export function compareStrategies(runbook: Runbook, preflight: PreflightReport | undefined, provider: 'aws' | 'rehearsal' = 'aws'): { strategies: StrategyOption[]; unavailable: UnavailableStrategy[] } {
  const p = profile(runbook);
  const checks = preflight?.checks ?? [];
  const window = preflight?.estimate.totalSeconds ?? 0;
  const preparationSeconds = preparation(runbook, preflight?.estimate.bytes ?? 0, provider);
  const noPk = preflight?.tablesWithoutPk ?? [];
  const lobs = checks.find((c) => c.id.endsWith('.column_types') && !c.ok);
  const ddl = 'DDL during replication is not carried over: change no schema between the snapshot and the switch';

  const dmsPrereq = checkIds(checks, (c) => shared(c) || c.id.startsWith('dms.'));
  if (!runbook.dms) dmsPrereq.missing.push('dms: the runbook has no dms section (replication instance)');
  const dmsHours = Math.max(1, Math.ceil((preparationSeconds + window) / 3600));
  const dms: StrategyOption = {
    strategy: 'dms-cdc',
    summary: 'snapshot, restore under the new key, AWS DMS CDC from the snapshot position, fenced rename',
    writeUnavailableSeconds: window,
    preparationSeconds,
    extraCost: {
      dmsInstanceHours: runbook.dms?.replicationInstance.create === false ? 0 : dmsHours,
      note: runbook.dms?.replicationInstance.create === false ? 'an existing replication instance is used' : `a ${runbook.dms?.replicationInstance.class ?? 'dms.r6i.large'} replication instance for about ${dmsHours} h`,
    },
    prerequisites: dmsPrereq,
    caveats: [
      ...(noPk.length > 0 ? [`tables without a primary key (${noPk.join(', ')}): ${p.family === 'postgres' ? 'DMS ignores their UPDATEs and DELETEs' : 'DMS cannot tell their rows apart'}`] : []),
      ...(lobs ? [`column types DMS handles poorly (LOBs and the like): ${lobs.message}`] : []),
      ddl,
    ],
    recommended: false,
    reason: '',
  };
  const nativePrereq = checkIds(checks, shared);
  const native: StrategyOption = {
    strategy: 'native',
    summary: p.family === 'postgres'
      ? 'snapshot, restore under the new key, a PostgreSQL subscription on a slot made before the snapshot, started at its LSN, fenced rename'
      : 'snapshot, restore under the new key, binlog replication from the snapshot position (mysql.rds_set_external_source, TLS), fenced rename',
    writeUnavailableSeconds: window,
    preparationSeconds,
    extraCost: { dmsInstanceHours: 0, note: 'none beyond the new database: replication runs in the databases themselves' },
    prerequisites: {
      met: nativePrereq.met,
      missing: [...nativePrereq.missing],
    },
    caveats: [
      'the new database must reach the source\'s endpoint (security groups): yours to ensure, rekey cannot check it',
      ...(noPk.length > 0 && p.family === 'postgres' ? [`tables without a primary key (${noPk.join(', ')}) replicate their inserts only`] : []),
      ddl,
      ...(p.family === 'postgres' ? ['large objects (pg_largeobject) are not replicated'] : []),
    ],
    recommended: false,
    reason: '',
  };
  const options = [dms, native];
  const runnable = options.filter((o) => o.prerequisites.missing.length === 0);
  const pick = runnable.find((o) => o.strategy === 'native') ?? runnable[0] ?? (runbook.strategy === 'dms-cdc' ? dms : native);
  pick.recommended = true;
  pick.reason = pick.strategy === 'native'
    ? runnable.includes(native)
      ? `same fenced window as dms-cdc, no DMS instance to create, size or pay for${lobs ? ', and no DMS data-type limits for the columns preflight flagged' : ''}`
      : 'no strategy has all its prerequisites met; native needs the fewest (fix the missing ones first)'
    : runnable.includes(dms)
      ? 'native replication is missing a prerequisite; DMS has all of its own'
      : 'no strategy has all its prerequisites met; fix the missing ones first';
  for (const o of options) {
    if (o !== pick) o.reason = o.prerequisites.missing.length > 0 ? `missing: ${o.prerequisites.missing.join('; ')}` : `works too; ${pick.strategy} is preferred: ${pick.reason}`;
  }
  const unavailable: UnavailableStrategy[] = [
    { strategy: 'snapshot', reason: 'offline copy (writes fenced for the whole snapshot and restore): not in this version yet' },
    ...(p.instance ? [] : [{ strategy: 'clone' as const, reason: 'Aurora clone under the new key: not in this version yet' }]),
    { strategy: 'blue-green', reason: 'RDS Blue/Green deployment with a target key: runs with strategy: blue-green, not compared here yet (its window is AWS\'s switchover, typically under a minute)' },
  ];
  return { strategies: options, unavailable };
}

/** The comparison as a table for people. */
export function renderComparison(c: { strategies: StrategyOption[]; unavailable: UnavailableStrategy[] }): string {
  const lines = ['Strategies for this source:', '  strategy  writes refused  preparation  DMS hours  prerequisites'];
  for (const o of c.strategies) {
    const pre = o.prerequisites.missing.length === 0 ? 'met' : `${o.prerequisites.missing.length} missing`;
    lines.push(`  ${`${o.recommended ? '*' : ' '}${o.strategy}`.padEnd(9)} ${`${o.writeUnavailableSeconds} s`.padStart(13)}  ${`${o.preparationSeconds} s`.padStart(11)}  ${String(o.extraCost.dmsInstanceHours).padStart(9)}  ${pre}`);
  }
  for (const o of c.strategies) {
    lines.push(`  ${o.strategy}: ${o.summary}`);
    for (const m of o.prerequisites.missing) lines.push(`      missing: ${m}`);
    for (const cv of o.caveats) lines.push(`      caveat: ${cv}`);
  }
  const rec = c.strategies.find((o) => o.recommended);
  if (rec) lines.push(`  recommended: ${rec.strategy} (${rec.reason})`);
  for (const u of c.unavailable) lines.push(`  not offered: ${u.strategy}: ${u.reason}`);
  return lines.join('\n');
}
