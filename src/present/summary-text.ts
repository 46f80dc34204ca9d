// The end-of-run summary for people, from the same record `--json` prints last: old -> new key, the window against
// the prediction, writes (the refused ones explained), validation, sequences, what is kept for rollback and what is
// left to clean up. Lines for the terminal (line mode and after the TUI) and Markdown for $GITHUB_STEP_SUMMARY.
import type { SequenceChange } from '../engine/facts.js';
import type { EndOfRunFacts } from './run-facts.js';

/** Seconds with one decimal below a minute, `4m05s` above: `3063` ms -> `3.1 s`. */
export function humanDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Raised sequences the terminal summary names; the report lists every one. */
const SEQUENCES_SHOWN = 3;

type Writes = { acknowledged?: number; lost?: number | null; duplicated?: number | null; errors?: number; verified?: boolean; verifyError?: string };

interface Row {
  label: string;
  text: string;
}

/** The summary's rows (label, text), shared by the line and Markdown forms. */
export function summaryRows(summary: Readonly<Record<string, unknown>>): Row[] {
  const s = summary as {
    status?: string;
    error?: { stepId?: string; message?: string };
    downtimeMs?: number;
    writes?: Writes;
    validation?: { tables?: number; mismatched?: number };
    sequences?: { checked?: number; behind?: number; items?: SequenceChange[] };
    endpointWritable?: boolean;
    endpointWriteError?: string;
    switched?: boolean;
    overlap?: { fromLsn?: string };
    unfencedSessions?: unknown[];
    topology?: {
      replicas?: { expected?: number; recreated?: number; regions?: { region?: string; recreated?: boolean; identifier?: string; note?: string }[] };
      globalDatabase?: { identifier?: string; expected?: number; added?: number };
      regionsWithoutReplica?: string[];
    };
    report?: string;
    reportHtml?: string;
  } & Partial<EndOfRunFacts>;
  const rows: Row[] = [];
  if (s.failedStep) rows.push({ label: 'failed', text: `${s.failedStep.title} (${s.failedStep.id}): ${s.failedStep.message}` });
  else if (s.status === 'failed' && s.error?.message) rows.push({ label: 'failed', text: `${s.error.stepId ?? ''}: ${s.error.message}` });
  if (s.keys) rows.push({ label: 'key', text: `${s.keys.old ?? 'the current key'} → ${s.keys.new}` });
  const w = s.window;
  const predicted = w?.predictedSeconds !== undefined ? `predicted ${w.predictedSeconds} s` : undefined;
  const limit = w ? `fence limit ${w.fenceLimitSeconds} s` : undefined;
  const context = [predicted, limit].filter(Boolean).join(', ');
  if (typeof s.downtimeMs === 'number') {
    // The rehearsal measures it with its own writes: the longest time no write succeeded.
    rows.push({ label: 'window', text: `writes blocked ${humanDuration(s.downtimeMs)}${context ? ` (${context})` : ''}${w?.fencedMs !== undefined ? `; source fenced ${humanDuration(w.fencedMs)}` : ''}` });
  } else if (w?.fencedMs !== undefined) {
    rows.push({ label: 'window', text: `writes blocked ${humanDuration(w.fencedMs)} (fence to switch${context ? `; ${context}` : ''})` });
  } else if (predicted && s.status !== 'succeeded') {
    rows.push({ label: 'window', text: `not opened yet (${context})` });
  }
  if (s.writes) {
    const wr = s.writes;
    const parts = [`${wr.acknowledged ?? 0} acknowledged`, `${wr.lost ?? '?'} lost`, `${wr.duplicated ?? '?'} duplicated`];
    let text = parts.join(', ');
    if ((wr.errors ?? 0) > 0) text += `; ${wr.errors} refused while writes were blocked (the fence rejects them, as applications would see)`;
    if (wr.verified === false) text += `; NOT verified: ${wr.verifyError ?? 'the check could not run'}`;
    rows.push({ label: 'writes', text });
  }
  if (s.validation && (s.validation.tables ?? 0) > 0) {
    const bad = s.validation.mismatched ?? 0;
    rows.push({ label: 'validation', text: `${s.validation.tables} tables compared, ${bad === 0 ? 'all match' : `${bad} differ`}` });
  }
  if (s.sequences && (s.sequences.checked ?? 0) > 0) {
    const behind = s.sequences.behind ?? 0;
    const raised = (s.sequences.items ?? []).filter((x) => x.setTo !== undefined);
    // Compact: the first few raised, `name before → set to (source N)`; the report has them all.
    const shown = raised.slice(0, SEQUENCES_SHOWN).map((x) => `${x.name} ${x.targetBefore ?? 'unset'} → ${x.setTo} (source ${x.source ?? '–'})`);
    const more = raised.length > SEQUENCES_SHOWN ? `, ${raised.length - SEQUENCES_SHOWN} more in the report` : '';
    rows.push({
      label: 'sequences',
      text: `${s.sequences.checked} checked, ${behind === 0 ? 'none behind' : `${behind} behind`}${s.sequences.items ? `; ${raised.length === 0 ? 'none raised' : `raised ${raised.length}: ${shown.join(', ')}${more}`}` : ''}`,
    });
  }
  if (s.overlap?.fromLsn) rows.push({ label: 'overlap', text: `CDC started at ${s.overlap.fromLsn}, before the snapshot: replayed changes were upserted` });
  if (Array.isArray(s.unfencedSessions) && s.unfencedSessions.length > 0) rows.push({ label: 'sessions', text: `${s.unfencedSessions.length} session(s) of rekey's own login stayed open through the fence` });
  const replicas = s.topology?.replicas;
  if (replicas && (replicas.expected ?? 0) > 0) {
    const without = s.topology?.regionsWithoutReplica ?? [];
    const left = (replicas.regions ?? []).filter((r) => r.note);
    rows.push({
      label: 'replicas',
      text: left.length > 0
        ? `${left.length} read replica cluster(s) NOT recreated by rekey (binlog replication): ${left.map((r) => `${r.identifier ?? '?'} (${r.region ?? '?'})`).join(', ')}; once switched they receive no more changes`
        : `${replicas.recreated ?? 0} of ${replicas.expected ?? 0} read replicas recreated under the new keys${without.length > 0 ? `; without a replica: ${without.join(', ')}` : ''}`,
    });
  }
  const global = s.topology?.globalDatabase;
  if (global && (global.expected ?? 0) > 0) {
    const without = s.topology?.regionsWithoutReplica ?? [];
    rows.push({ label: 'global db', text: `${global.added ?? 0} of ${global.expected ?? 0} secondary Regions added to ${global.identifier ?? 'the global database'} under their keys${without.length > 0 ? `; without a secondary: ${without.join(', ')}` : ''}` });
  }
  if (s.endpointWritable === false) rows.push({ label: 'endpoint', text: `NOT writable after the run${s.endpointWriteError ? `: ${s.endpointWriteError}` : ''}` });
  if (s.approval) rows.push({ label: 'approval', text: `gate ${s.approval.gate} ${s.approval.decision} by ${s.approval.by}${s.approval.waitedMs !== undefined ? ` after ${humanDuration(s.approval.waitedMs)}` : ''}` });
  if (s.rollback && (s.switched === true || s.status === 'failed' || s.status === 'succeeded')) {
    rows.push({ label: 'rollback', text: `kept: ${s.rollback.kept.join('; ')}. Undo with: ${s.rollback.command}` });
  }
  if (s.cleanup) {
    for (const d of s.cleanup.done) rows.push({ label: 'cleaned', text: d });
    for (const l of s.cleanup.left) rows.push({ label: 'clean up', text: l });
  }
  if (s.timing) rows.push({ label: 'time', text: `${s.timing.startedAt} → ${s.timing.endedAt} (UTC; local zone ${s.timing.timeZone}), ${humanDuration(s.timing.durationMs)}${s.timing.resumes > 0 ? `, resumed ${s.timing.resumes} time${s.timing.resumes === 1 ? '' : 's'}` : ''}` });
  if (s.reportHtml) rows.push({ label: 'report', text: s.reportHtml });
  else if (s.report) rows.push({ label: 'report', text: s.report });
  return rows;
}

function headline(summary: Readonly<Record<string, unknown>>, message?: string): string {
  const status = typeof summary.status === 'string' ? summary.status.replace(/_/g, ' ') : 'unknown';
  const exit = typeof summary.exitCode === 'number' ? ` (exit ${summary.exitCode})` : '';
  // A rehearsal whose steps succeeded but lost or duplicated writes did not pass.
  const failedCheck = summary.status === 'succeeded' && summary.ok === false ? ', but the write check did not pass' : '';
  return `run ${typeof summary.runId === 'string' ? summary.runId : '?'}: ${status}${exit}${failedCheck}${message ? `: ${message}` : ''}`;
}

/** The summary as terminal lines, `label: text` (long values are left for the terminal to wrap, never cut). */
export function summaryLines(summary: Readonly<Record<string, unknown>>, opts: { next?: string; message?: string } = {}): string[] {
  return [headline(summary, opts.message), ...summaryRows(summary).map((r) => `  ${r.label}: ${r.text}`), ...(opts.next ? [opts.next] : [])];
}

function mdEscape(text: string): string {
  return text.replace(/[|\\`*_<>]/g, (c) => `\\${c}`);
}

/** The summary as Markdown, for $GITHUB_STEP_SUMMARY. */
export function summaryMarkdown(summary: Readonly<Record<string, unknown>>, next?: string): string {
  const rows = summaryRows(summary);
  const lines = [`### rekey ${mdEscape(headline(summary))}`, '', '| | |', '|---|---|', ...rows.map((r) => `| ${mdEscape(r.label)} | ${mdEscape(r.text)} |`)];
  if (next) lines.push('', `Next: \`${next.replace(/`/g, "'")}\``);
  return `${lines.join('\n')}\n`;
}
