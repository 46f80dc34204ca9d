// How long the long steps should take, for an ETA where AWS reports no progress (a restore reports a status word
// only): the median of this source's earlier runs under the same state directory, else the rehearsal's own delays.
// Handed to renderers through the run's header info (`expect.<stepId>` = milliseconds).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Runbook } from '../runbook/schema.js';

export const EXPECT_INFO_PREFIX = 'expect.';
const TIMED_STEPS = ['snapshot', 'copy-snapshot', 'restore', 'dms-setup'];

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** `expect.<stepId>` -> expected milliseconds, with `expect.<stepId>.from` saying where the number comes from. */
export function expectedDurations(root: string, runbook: Runbook, runId: string, provider: 'aws' | 'rehearsal'): Record<string, string> {
  const seen = new Map<string, number[]>();
  const runs = join(root, 'runs');
  if (existsSync(runs)) {
    for (const id of readdirSync(runs).slice(-50)) {
      if (id === runId) continue;
      const path = join(runs, id, 'journal.jsonl');
      if (!existsSync(path)) continue;
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue;
      }
      const lines = text.split('\n');
      const created = lines[0] ? (JSON.parse(lines[0]) as { t?: string; provider?: string; meta?: Record<string, unknown>; runbookName?: string }) : undefined;
      if (created?.t !== 'run_created' || created.provider !== provider || created.runbookName !== runbook.name) continue;
      for (const l of lines) {
        if (!l.includes('"step_succeeded"')) continue;
        try {
          const r = JSON.parse(l) as { stepId?: string; durationMs?: number };
          if (r.stepId && TIMED_STEPS.includes(r.stepId) && typeof r.durationMs === 'number' && r.durationMs > 0) seen.set(r.stepId, [...(seen.get(r.stepId) ?? []), r.durationMs]);
        } catch {
          // a torn last line
        }
      }
    }
  }
  const out: Record<string, string> = {};
  for (const step of TIMED_STEPS) {
    const m = median(seen.get(step) ?? []);
    if (m !== undefined) {
      out[`${EXPECT_INFO_PREFIX}${step}`] = String(m);
      out[`${EXPECT_INFO_PREFIX}${step}.from`] = `${seen.get(step)?.length ?? 0} earlier run(s)`;
    }
  }
  const d = runbook.rehearsal?.delays;
  if (provider === 'rehearsal' && d) {
    for (const [step, seconds] of [['snapshot', d.snapshotSeconds], ['restore', d.restoreSeconds + d.availableSeconds]] as const) {
      if (out[`${EXPECT_INFO_PREFIX}${step}`] === undefined && seconds > 0) {
        out[`${EXPECT_INFO_PREFIX}${step}`] = String(seconds * 1000);
        out[`${EXPECT_INFO_PREFIX}${step}.from`] = 'the rehearsal delays';
      }
    }
  }
  return out;
}

/** Milliseconds left of a running step by its expected duration, when known and not overrun. */
export function expectedLeftMs(info: Readonly<Record<string, string>>, stepId: string, elapsedMs: number): { leftMs: number; from: string } | undefined {
  const expected = Number(info[`${EXPECT_INFO_PREFIX}${stepId}`]);
  if (!Number.isFinite(expected) || expected <= 0) return undefined;
  return { leftMs: Math.max(0, expected - elapsedMs), from: info[`${EXPECT_INFO_PREFIX}${stepId}.from`] ?? 'history' };
}
