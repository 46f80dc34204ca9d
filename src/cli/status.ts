// `rekey status`: what the journal says about runs, without touching AWS or databases.
import type { JournalRecord } from '../engine/journal.js';
import { runFindings, type RunFindings } from '../report/findings.js';
import { RunStore } from '../state/run-store.js';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, stateDirArg } from './common.js';
import { replayRun } from './run-journal.js';

/** One run as `rekey status` shows it. */
export interface RunView {
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
  const { created, order, state } = replayRun(records);
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

/** What `rekey status` found: one run, or every run under the state dir. */
export type StatusResult = { kind: 'run'; view: RunView } | { kind: 'list'; root: string; runs: RunView[] };

/** Reads the journals only: never touches AWS or databases. Exit 2 for an unknown run. */
export function statusCommand(runId: string | undefined, opts: { stateDir: string }): StatusResult {
  const store = new RunStore(opts.stateDir);
  if (runId === undefined) return { kind: 'list', root: store.root, runs: store.list().map((id) => describeRun(store, id)) };
  if (!store.exists(runId)) throw new CliError(`no run ${runId} under ${store.root}`, 2);
  return { kind: 'run', view: describeRun(store, runId) };
}

/** Prints a status (JSON, or lines for people); returns the exit code. */
export function printStatus(result: StatusResult, opts: { json?: boolean }, write: (text: string) => void): number {
  if (result.kind === 'run') {
    const { view } = result;
    if (opts.json) {
      write(`${JSON.stringify(view)}\n`);
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
    write(`${out.join('\n')}\n`);
    return 0;
  }
  const views = result.runs;
  if (opts.json) {
    write(`${JSON.stringify({ runs: views.map(({ steps: _steps, findings: _findings, ...v }) => v) })}\n`);
    return 0;
  }
  if (views.length === 0) {
    write(`no runs under ${result.root}\n`);
    return 0;
  }
  for (const v of views) write(`${v.runId}  ${v.status.padEnd(18)} ${v.provider.padEnd(9)} ${v.runbook}  ${v.updatedAt ?? ''}\n`);
  return 0;
}
