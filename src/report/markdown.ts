// The run report as Markdown: steps and durations, the write-unavailable window, writes, validation, sequences.
import { writeFileSync } from 'node:fs';
import type { ExecuteOutcome } from '../engine/executor.js';
import type { ReplayState } from '../engine/journal.js';
import type { Runbook } from '../runbook/schema.js';

export interface ReportInput {
  runId: string;
  runbook: Runbook;
  outcome: ExecuteOutcome;
  state: ReplayState;
  summary: Record<string, unknown>;
  steps: { id: string; title: string }[];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function renderReport(r: ReportInput): string {
  const lines: string[] = [];
  lines.push(`# rekey report: ${r.runbook.name}`, '');
  lines.push(`- run: \`${r.runId}\``);
  lines.push(`- source: \`${r.runbook.source.identifier}\` (${r.runbook.source.engine}, region ${r.runbook.region})`);
  lines.push(`- new key: \`${r.runbook.target.kmsKeyId}\``);
  lines.push(`- outcome: **${r.outcome.status}**${r.outcome.status === 'failed' ? ` at ${r.outcome.error.stepId}: ${r.outcome.error.message}` : ''}`, '');
  lines.push('## Steps', '', '| step | title | status | duration | attempts |', '|---|---|---|---|---|');
  for (const s of r.steps) {
    const done = r.state.succeeded.get(s.id);
    const failed = r.state.failures.get(s.id);
    const status = done ? 'succeeded' : failed ? `failed: ${failed.message.replace(/\|/g, '\\|')}` : 'not run';
    lines.push(`| ${s.id} | ${s.title} | ${status} | ${done ? seconds(done.durationMs) : ''} | ${r.state.attempts.get(s.id) ?? 0} |`);
  }
  const sm = r.summary as {
    downtimeMs?: number;
    writes?: { acknowledged: number; lost: number; duplicated: number; errors?: number };
    validation?: { tables: number; mismatched: number };
    sequences?: { checked: number; behind: number };
  };
  if (sm.downtimeMs !== undefined) {
    lines.push('', '## Rehearsal', '');
    lines.push(`- longest write-unavailable window: **${seconds(sm.downtimeMs)}**`);
    if (sm.writes) lines.push(`- writes acknowledged ${sm.writes.acknowledged}, lost **${sm.writes.lost}**, duplicated **${sm.writes.duplicated}**, failed attempts ${sm.writes.errors ?? 0}`);
  }
  if (sm.validation) lines.push('', '## Validation', '', `- tables compared: ${sm.validation.tables}, mismatched: **${sm.validation.mismatched}**`);
  if (sm.sequences) lines.push('', '## Sequences', '', `- checked: ${sm.sequences.checked}, behind after the fix: **${sm.sequences.behind}**`);
  const decisions = [...r.state.decisions.values()];
  if (decisions.length) {
    lines.push('', '## Gates', '');
    for (const d of decisions) lines.push(`- \`${d.id}\`: ${d.decision} by ${d.by} at ${d.at}`);
  }
  lines.push('');
  return lines.join('\n');
}

export function writeReport(path: string, input: ReportInput): void {
  writeFileSync(path, renderReport(input), { mode: 0o600 });
}
