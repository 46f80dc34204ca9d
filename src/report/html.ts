// The run report as one self-contained HTML file (no scripts, no external assets): the facts of the Markdown
// report, a timeline of the steps, and the CDC latency this runner saw against the threshold, both as inline SVG.
import { writeFileSync } from 'node:fs';
import { outcomeLine } from './markdown.js';
import type { ReportInput } from './input.js';
import { boardHeaderMarkdown, boardSectionsMarkdown, markdownToHtml } from './board.js';
import type { RunFindings } from './findings.js';
import type { EndOfRunFacts } from '../present/run-facts.js';

/** Metric histories from the runner that wrote the report (a resumed run shows its own part only). */
export type MetricHistories = Readonly<Record<string, { history: readonly { at: number; value: number }[] } | undefined>>;

const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** Bars from each finished step's start to its end, on one time axis. */
function timeline(r: ReportInput): string {
  const bars = r.steps.flatMap((s) => {
    const done = r.state.succeeded.get(s.id);
    if (!done) return [];
    const end = Date.parse(done.at);
    return [{ id: s.title, start: end - done.durationMs, end }];
  });
  if (bars.length === 0) return '<p>No step finished.</p>';
  const t0 = Math.min(...bars.map((b) => b.start));
  const span = Math.max(1, Math.max(...bars.map((b) => b.end)) - t0);
  const label = 260;
  const width = 760;
  const row = 18;
  const x = (t: number): number => label + ((t - t0) / span) * (width - label - 10);
  const rows = bars.map((b, i) => {
    const y = i * row + 4;
    const w = Math.max(1.5, x(b.end) - x(b.start));
    return `<text x="${label - 6}" y="${y + 11}" text-anchor="end">${esc(b.id)}</text><rect x="${x(b.start).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${row - 6}"><title>${esc(b.id)}: ${seconds(b.end - b.start)}</title></rect>`;
  });
  const height = bars.length * row + 24;
  // The outage (fence to switch) and the wait at the gate, as bands across every row, labelled.
  const f = r.summary as Partial<EndOfRunFacts>;
  const bands: string[] = [];
  const band = (from: number, to: number, cls: string, text: string): void => {
    const a = Math.max(label, x(from));
    const b = Math.min(width - 10, x(to));
    if (!(b >= a)) return;
    bands.push(`<rect class="${cls}" x="${a.toFixed(1)}" y="0" width="${Math.max(1.5, b - a).toFixed(1)}" height="${height - 20}"><title>${esc(text)}</title></rect><text class="${cls}-label" x="${a.toFixed(1)}" y="${height - 16}">${esc(text)}</text>`);
  };
  if (f.window?.fencedAt && f.window.fencedMs !== undefined) {
    const from = Date.parse(f.window.fencedAt);
    band(from, from + f.window.fencedMs, 'outage', `writes blocked ${(f.window.fencedMs / 1000).toFixed(1)} s (predicted ${f.window.predictedSeconds ?? '?'} s)`);
  }
  if (f.approval?.waitedMs !== undefined) {
    const to = Date.parse(f.approval.at);
    band(to - f.approval.waitedMs, to, 'gatewait', `gate ${f.approval.gate}: ${f.approval.decision} by ${f.approval.by}`);
  }
  return `<svg class="timeline" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="step timeline">${bands.join('')}${rows.join('')}<text x="${label}" y="${height - 4}">0 s</text><text x="${width - 10}" y="${height - 4}" text-anchor="end">${esc(seconds(span))}</text></svg>`;
}

/** CDC latency over time with the threshold line; undefined when this runner saw no samples. */
function latencyChart(metrics: MetricHistories): string | undefined {
  const samples = metrics['cdc.latency']?.history ?? [];
  if (samples.length < 2) return undefined;
  const threshold = metrics['cdc.threshold']?.history.at(-1)?.value;
  const width = 760;
  const height = 220;
  const pad = { left: 48, right: 10, top: 10, bottom: 26 };
  const t0 = samples[0]?.at ?? 0;
  const span = Math.max(1, (samples.at(-1)?.at ?? t0) - t0);
  const top = Math.max(1, threshold ?? 0, ...samples.map((s) => s.value)) * 1.1;
  const x = (t: number): number => pad.left + ((t - t0) / span) * (width - pad.left - pad.right);
  const y = (v: number): number => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);
  const points = samples.map((s) => `${x(s.at).toFixed(1)},${y(s.value).toFixed(1)}`).join(' ');
  const line = threshold !== undefined
    ? `<line class="threshold" x1="${pad.left}" x2="${width - pad.right}" y1="${y(threshold).toFixed(1)}" y2="${y(threshold).toFixed(1)}"/><text x="${width - pad.right}" y="${(y(threshold) - 4).toFixed(1)}" text-anchor="end">threshold ${threshold} s</text>`
    : '';
  const axis = `<line class="axis" x1="${pad.left}" x2="${pad.left}" y1="${pad.top}" y2="${height - pad.bottom}"/><line class="axis" x1="${pad.left}" x2="${width - pad.right}" y1="${height - pad.bottom}" y2="${height - pad.bottom}"/>`
    + `<text x="${pad.left - 6}" y="${y(0) + 4}" text-anchor="end">0</text><text x="${pad.left - 6}" y="${pad.top + 10}" text-anchor="end">${top.toFixed(1)} s</text>`
    + `<text x="${pad.left}" y="${height - 6}">0 s</text><text x="${width - pad.right}" y="${height - 6}" text-anchor="end">${esc(seconds(span))}</text>`;
  return `<svg class="latency" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="CDC latency">${axis}${line}<polyline points="${points}"/></svg>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;max-width:820px;margin:2em auto;color:#1b1f24}
table{border-collapse:collapse}td,th{border:1px solid #ccd;padding:3px 8px;text-align:left}
svg text{font:11px system-ui,sans-serif;fill:#333}.timeline rect{fill:#3b82c4}.latency polyline{fill:none;stroke:#3b82c4;stroke-width:1.5}
.threshold{stroke:#c43b3b;stroke-dasharray:5 4}.axis{stroke:#888}.warn{background:#fff4d6;border-left:4px solid #d49b00;padding:6px 10px}
.bad{color:#b00020;font-weight:600}.outage{fill:#c43b3b;opacity:.18}.gatewait{fill:#d49b00;opacity:.18}.outage-label{fill:#b00020}.gatewait-label{fill:#8a6500}`;

export function renderHtmlReport(r: ReportInput, metrics: MetricHistories = {}): string {
  const sm = r.summary as Partial<RunFindings> & { downtimeMs?: number; writes?: { acknowledged: number; lost: number | null; duplicated: number | null; verifyError?: string } };
  const out: string[] = [];
  const good = r.state.rollback === undefined && (r.outcome?.status ?? r.state.lastStop?.status) === 'succeeded';
  out.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>rekey report: ${esc(r.runbook.name)}</title><style>${STYLE}</style></head><body>`);
  out.push(`<h1>rekey report: ${esc(r.runbook.name)}</h1><ul>`);
  out.push(`<li>run <code>${esc(r.runId)}</code></li><li>source <code>${esc(r.runbook.source.identifier)}</code> (${esc(r.runbook.source.engine)}, ${esc(r.runbook.region)})</li>`);
  out.push(`<li>new key <code>${esc(r.runbook.target.kmsKeyId)}</code></li><li>outcome ${outcomeLine(r, (t) => `<strong${good || t === 'rolled back' ? '' : ' class="bad"'}>${esc(t)}</strong>`, esc)}</li>${markdownToHtml(boardHeaderMarkdown(r)).replace(/^<ul>|<\/ul>$/g, '')}</ul>`);
  if (sm.overlap) {
    const o = sm.overlap;
    out.push(`<p class="warn"><strong>Overlap:</strong> CDC started at <code>${esc(o.fromLsn)}</code>, before the snapshot (${esc(o.reason)}). Changes between the slot's creation and the snapshot were applied twice, as upserts (INSERT_RECORD / UPDATE_RECORD).${o.tablesWithoutPk.length > 0 ? ` Tables without a primary key may hold duplicated rows: ${o.tablesWithoutPk.map((t) => `<code>${esc(t)}</code>`).join(', ')}.` : ''}</p>`);
  }
  if (sm.unfencedSessions) {
    out.push(`<p class="warn"><strong>Sessions the fence left open</strong> (cutover.openSessions: warn): ${sm.unfencedSessions.map((x) => `<code>${esc(x.user)}</code> from ${esc(x.client)}${x.application ? ` (${esc(x.application)})` : ''}`).join(', ')}. Writes they made after the drain were not replicated.</p>`);
  }
  out.push('<h2>Steps</h2>', timeline(r), '<table><tr><th>step</th><th>status</th><th>duration</th><th>attempts</th></tr>');
  for (const s of r.steps) {
    const done = r.state.succeeded.get(s.id);
    const fail = r.state.failures.get(s.id);
    const status = done ? 'succeeded' : fail ? `<span class="bad">failed</span>: ${esc(fail.message)}` : 'not run';
    out.push(`<tr><td title="${esc(s.id)}">${esc(s.title)}</td><td>${status}</td><td>${done ? seconds(done.durationMs) : ''}</td><td>${r.state.attempts.get(s.id) ?? 0}</td></tr>`);
  }
  out.push('</table>');
  const chart = latencyChart(metrics);
  if (chart) out.push('<h2>CDC latency</h2>', chart);
  if (sm.position) out.push(`<h2>CDC start position</h2><p><code>${esc(sm.position.value)}</code> (${esc(sm.position.source)})</p>`);
  if (sm.downtimeMs !== undefined) {
    out.push(`<h2>Rehearsal</h2><p>Longest write-unavailable window: <strong>${seconds(sm.downtimeMs)}</strong>.`);
    if (sm.writes?.verifyError !== undefined) out.push(` Writes acknowledged ${sm.writes.acknowledged}, <strong class="bad">not verified</strong>: ${esc(sm.writes.verifyError)}.`);
    else if (sm.writes) out.push(` Writes acknowledged ${sm.writes.acknowledged}, lost <strong>${sm.writes.lost}</strong>, duplicated <strong>${sm.writes.duplicated}</strong>.`);
    out.push('</p>');
  }
  if (sm.evidence) {
    out.push(`<h2>Encryption evidence</h2><p>As AWS reported them when the switch was verified (${esc(sm.evidence.at)}); a key not read is marked.</p><table><tr><th>resource</th><th>identifier</th><th>KMS key</th></tr>`);
    for (const x of sm.evidence.resources) out.push(`<tr><td>${esc(x.kind)}: ${esc(x.role)}</td><td><code>${esc(x.identifier)}</code></td><td>${x.kmsKeyId ? `<code>${esc(x.kmsKeyId)}</code>` : '(not read)'}</td></tr>`);
    out.push('</table>');
  }
  if (sm.validation) out.push(`<h2>Validation</h2><p>Tables compared: ${sm.validation.tables}, mismatched: <strong${sm.validation.mismatched > 0 ? ' class="bad"' : ''}>${sm.validation.mismatched}</strong>.</p>`);
  if (sm.sequences) out.push(`<h2>Sequences</h2><p>Checked: ${sm.sequences.checked}, behind after the fix: <strong${sm.sequences.behind > 0 ? ' class="bad"' : ''}>${sm.sequences.behind}</strong>.</p>`);
  const decisions = [...r.state.decisions.values()];
  if (decisions.length) out.push('<h2>Gates</h2><ul>', ...decisions.map((d) => `<li><code>${esc(d.id)}</code>: ${esc(d.decision)} by ${esc(d.by)} at ${esc(d.at)}</li>`), '</ul>');
  out.push(markdownToHtml(boardSectionsMarkdown(r)));
  out.push('</body></html>\n');
  return out.join('');
}

export function writeHtmlReport(path: string, input: ReportInput, metrics?: MetricHistories): void {
  writeFileSync(path, renderHtmlReport(input, metrics), { mode: 0o600 });
}
