// `rekey status`: what the journal says about runs, without touching AWS or databases.
import { replay, type JournalRecord } from '../engine/journal.js';
import { runFindings, type RunFindings } from '../report/findings.js';
import { RunStore } from '../state/run-store.js';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, stateDirArg } from './common.js';

interface RunView {
  runId: string;
  runbook: string;
  provider: string;
  status: string;
  message?: string;
  updatedAt?: string;
  steps: { id: string; status: 'succeeded' | 'failed' | 'in-flight' | 'pending'; attempts: number; durationMs?: number; error?: string }[];
  pendingGate?: string;
  next?: string;
  /** What the run found so far (where CDC started, an overlap, sessions left open, key evidence). */
  findings?: Omit<RunFindings, 'validation' | 'sequences'>;
  /** The reports the last runner wrote, if any. */
  reports?: string[];
}

function readRecords(store: RunStore, runId: string): JournalRecord[] {
  const path = join(store.runDir(runId), 'journal.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as JournalRecord];
      } catch {
        return [];
      }
    });
}

export function describeRun(store: RunStore, runId: string): RunView {
  const records = readRecords(store, runId);
  const created = records.find((r): r is Extract<JournalRecord, { t: 'run_created' }> => r.t === 'run_created');
  const order = typeof created?.meta.steps === 'string' ? created.meta.steps.split(',') : [...new Set(records.flatMap((r) => (r.t === 'step_started' ? [r.stepId] : [])))];
  const gates = typeof created?.meta.gates === 'string' ? new Map(created.meta.gates.split(',').filter(Boolean).map((g) => g.split('=') as [string, string])) : new Map<string, string>();
  const state = replay(records, order, gates);
  const steps = order.map((id) => {
    const done = state.succeeded.get(id);
    const failed = state.failures.get(id);
    const status: RunView['steps'][number]['status'] = done ? 'succeeded' : state.inFlight.has(id) ? 'in-flight' : failed ? 'failed' : 'pending';
    return {
      id,
      status,
      attempts: state.attempts.get(id) ?? 0,
      ...(done ? { durationMs: done.durationMs } : {}),
      ...(failed && !done ? { error: failed.message } : {}),
    };
  });
  const alive = state.inFlight.size > 0 && existsSync(join(store.runDir(runId), 'run.lock'));
  const status = state.rollback?.status === 'succeeded' ? 'rolled_back' : alive ? 'running (or killed)' : (state.lastStop?.status ?? 'running (or killed)');
  const dirArg = stateDirArg(store.root === join(process.cwd(), '.rekey') ? undefined : store.root);
  const next =
    status === 'succeeded' || status === 'rolled_back'
      ? undefined
      : state.pendingGate
        ? `rekey resume ${runId}${dirArg} --approve ${state.pendingGate.id}`
        : `rekey resume ${runId}${dirArg}`;
  const { validation: _v, sequences: _s, ...findings } = runFindings(state);
  const reports = ['report.md', 'report.html'].map((f) => join(store.runDir(runId), f)).filter((f) => existsSync(f));
  return {
    runId,
    runbook: created?.runbookName ?? '?',
    provider: created?.provider ?? '?',
    status,
    ...(state.lastStop?.message ? { message: state.lastStop.message } : {}),
    ...(records.length ? { updatedAt: records[records.length - 1]!.at } : {}),
    steps,
    ...(state.pendingGate ? { pendingGate: state.pendingGate.id } : {}),
    ...(next ? { next } : {}),
    ...(Object.keys(findings).length > 0 ? { findings } : {}),
    ...(reports.length > 0 ? { reports } : {}),
  };
}

export function statusCommand(runId: string | undefined, opts: { json?: boolean; stateDir: string }): number {
  const store = new RunStore(opts.stateDir);
  if (runId !== undefined) {
    if (!store.exists(runId)) throw new CliError(`no run ${runId} under ${store.root}`, 2);
    const view = describeRun(store, runId);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(view)}\n`);
      return 0;
    }
    const out: string[] = [`run ${view.runId}  ${view.runbook}  (${view.provider})  ${view.status}${view.message ? `: ${view.message}` : ''}`];
    for (const s of view.steps) {
      const mark = s.status === 'succeeded' ? '✔' : s.status === 'failed' ? '✖' : s.status === 'in-flight' ? '…' : ' ';
      out.push(`  ${mark} ${s.id.padEnd(16)} ${s.status}${s.attempts > 1 ? ` (${s.attempts} attempts)` : ''}${s.durationMs !== undefined ? ` ${(s.durationMs / 1000).toFixed(1)}s` : ''}${s.error ? `  ${s.error}` : ''}`);
    }
    const f = view.findings;
    if (f?.position) out.push(`CDC start position: ${f.position.value} (${f.position.source})`);
    if (f?.overlap) out.push(`OVERLAP: CDC starts at ${f.overlap.fromLsn}, before the snapshot (${f.overlap.reason}); the task upserts the changes it replays`);
    if (f?.unfencedSessions) out.push(`sessions the fence left open: ${f.unfencedSessions.map((x) => `${x.user}@${x.client}`).join(', ')}`);
    for (const r of view.reports ?? []) out.push(`report: ${r}`);
    if (view.next) out.push(`next: ${view.next}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  }
  const views = store.list().map((id) => describeRun(store, id));
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ runs: views.map(({ steps: _steps, findings: _findings, ...v }) => v) })}\n`);
    return 0;
  }
  if (views.length === 0) {
    process.stdout.write(`no runs under ${store.root}\n`);
    return 0;
  }
  for (const v of views) process.stdout.write(`${v.runId}  ${v.status.padEnd(18)} ${v.provider.padEnd(9)} ${v.runbook}  ${v.updatedAt ?? ''}\n`);
  return 0;
}
