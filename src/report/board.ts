// What a change-approval board reads in a run report beyond the steps: old -> new key, when (with the time zone),
// the window against the prediction, per-table validation and sequences, preflight warnings, caveats, rollback and
// cleanup state, interruptions and resumes, the tool's version and the runbook's hash. Plain data from the report
// input (the summary carries src/present/run-facts.ts), rendered as Markdown lines and HTML fragments.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SequenceChange } from '../engine/facts.js';
import type { EndOfRunFacts } from '../present/run-facts.js';
import type { ReportInput } from './input.js';

/** rekey's own version, from its package.json (`unknown` when it cannot be found). */
export function toolVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'rekey' && pkg.version) return pkg.version;
      } catch {
        // keep looking
      }
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** sha256 of the runbook as validated (secrets are references, never values), so a board can match it to the change. */
export function runbookHash(r: ReportInput): string {
  return createHash('sha256').update(JSON.stringify(r.runbook)).digest('hex');
}

export interface BoardFacts {
  facts: Partial<EndOfRunFacts>;
  tables: { table: string; sourceRows: number | null; targetRows: number | null; checksumMatch?: boolean; matches: boolean }[];
  validationPhase?: 'final' | 'pre-fence';
  sequences?: { checked: number; raised?: number; problems: string[]; items?: SequenceChange[] };
  warnings: string[];
  caveats: string[];
  interruptions: string[];
}

function outputOf<T>(r: ReportInput, stepId: string): T | undefined {
  return r.state.succeeded.get(stepId)?.output as T | undefined;
}

export function boardFacts(r: ReportInput): BoardFacts {
  const facts = r.summary as Partial<EndOfRunFacts>;
  type Validation = { results?: BoardFacts['tables'] };
  const final = outputOf<Validation>(r, 'final-validate');
  const pre = outputOf<Validation>(r, 'validate');
  const tables = Array.isArray(final?.results) ? final.results : Array.isArray(pre?.results) ? pre.results : [];
  const seq = outputOf<{ checked?: number; raised?: number; items?: SequenceChange[] }>(r, 'fix-sequences');
  const preflight = outputOf<{ warnings?: unknown }>(r, 'preflight');
  const warnings = Array.isArray(preflight?.warnings) ? preflight.warnings.filter((w): w is string => typeof w === 'string') : [];
  const aurora = r.runbook.source.engine.startsWith('aurora');
  const kept = outputOf<{ kept?: unknown }>(r, 'topology-instance-names')?.kept;
  const keptNames = Array.isArray(kept) ? kept.filter((k): k is string => typeof k === 'string') : [];
  const instances = keptNames.length > 0
    ? `The instance names were kept (cutover.renameInstances): ${keptNames.join(', ')} now name the new cluster's instances, the old ones carry -old-<run id>; each rename rebooted its instance (the new writer's briefly paused writes after the switch).`
    : 'Instance endpoints keep their names on the old cluster, whose writer roles stay fenced: clients using an instance endpoint must move to the new instance names or the cluster endpoints (cutover.renameInstances: true keeps the names).';
  const caveats = [
    aurora
      ? `The cluster endpoints (writer and reader) follow the rename; the readers were recreated on the new cluster before the gate, custom endpoints were moved by name (deleted on the old cluster just before the switch, created on the new one right after: their reads failed in between) and Aurora Auto Scaling was registered again. ${instances}`
      : 'The instance endpoint follows the rename, but AWS documents about 10 minutes until the new DNS name is effective: part of the write-unavailable window.',
    'The old database, its snapshots and the old key are kept for rollback; nothing is deleted by rekey.',
  ];
  const interruptions: string[] = [];
  const resumes = facts.timing?.resumes ?? 0;
  if (resumes > 0) interruptions.push(`the run was resumed ${resumes} time${resumes === 1 ? '' : 's'} (one runner per start, each journaled)`);
  for (const s of r.steps) {
    const attempts = r.state.attempts.get(s.id) ?? 0;
    if (attempts > 1) interruptions.push(`${s.title}: ${attempts} attempts`);
  }
  if (r.state.rollback) interruptions.push(`rollback ${r.state.rollback.status} at ${r.state.rollback.at}${r.state.rollback.message ? `: ${r.state.rollback.message}` : ''}`);
  return {
    facts,
    tables,
    ...(final ? { validationPhase: 'final' as const } : pre ? { validationPhase: 'pre-fence' as const } : {}),
    ...(seq && typeof seq.checked === 'number'
      ? { sequences: { checked: seq.checked, ...(typeof seq.raised === 'number' ? { raised: seq.raised } : {}), problems: [], ...(Array.isArray(seq.items) ? { items: seq.items } : {}) } }
      : {}),
    warnings,
    caveats,
    interruptions,
  };
}

/** `2026-12-03T12:57:19.626Z (UTC; operator's zone Europe/Paris)` */
function when(iso: string | undefined, zone: string | undefined): string {
  return iso ? `${iso} (UTC${zone && zone !== 'UTC' ? `; operator's zone ${zone}` : ''})` : '?';
}

/** The header lines a board reads first (Markdown list items). */
export function boardHeaderMarkdown(r: ReportInput): string[] {
  const { facts } = boardFacts(r);
  const lines: string[] = [];
  if (facts.keys) lines.push(`- key: \`${facts.keys.old ?? 'the current key'}\` → \`${facts.keys.new}\``);
  if (facts.timing) lines.push(`- started ${when(facts.timing.startedAt, facts.timing.timeZone)}, report written ${when(facts.timing.endedAt, facts.timing.timeZone)}`);
  if (facts.failedStep) lines.push(`- **failed step**: ${facts.failedStep.title} (\`${facts.failedStep.id}\`): ${facts.failedStep.message}`);
  lines.push(`- rekey ${toolVersion()}, runbook sha256 \`${runbookHash(r)}\``);
  return lines;
}

/** The sections after the steps (Markdown lines). */
export function boardSectionsMarkdown(r: ReportInput): string[] {
  const b = boardFacts(r);
  const f = b.facts;
  const lines: string[] = [];
  const w = f.window;
  if (w) {
    lines.push('', '## Cutover window', '');
    lines.push(w.fencedMs !== undefined ? `- writes blocked (fence to switch): **${(w.fencedMs / 1000).toFixed(1)} s**, from ${w.fencedAt ?? '?'}` : '- the fence did not go up in this run');
    lines.push(`- predicted: ${w.predictedSeconds !== undefined ? `${w.predictedSeconds} s` : 'not estimated'}; fence limit ${w.fenceLimitSeconds} s (past it rekey unfences and stops)`);
  }
  if (f.approval) lines.push('', '## Approval', '', `- gate \`${f.approval.gate}\` ${f.approval.decision} by **${f.approval.by}** at ${f.approval.at}${f.approval.waitedMs !== undefined ? ` after waiting ${(f.approval.waitedMs / 1000).toFixed(1)} s` : ''}`);
  if (b.tables.length > 0) {
    lines.push('', `## Validation per table (${b.validationPhase === 'final' ? 'final, while fenced' : 'before the fence, under live writes'})`, '', '| table | source rows | target rows | checksums | result |', '|---|---|---|---|---|');
    for (const t of b.tables) lines.push(`| \`${t.table}\` | ${t.sourceRows ?? '–'} | ${t.targetRows ?? '–'} | ${t.checksumMatch === undefined ? 'not compared' : t.checksumMatch ? 'equal' : 'differ'} | ${t.matches ? 'match' : '**differs**'} |`);
  }
  if (b.sequences) {
    lines.push('', '## Sequences (detail)', '', `- ${b.sequences.checked} checked on the target, ${b.sequences.raised ?? 0} raised to at least the source's position and max(column) + 1`);
    const items = b.sequences.items ?? [];
    if (items.length > 0) {
      lines.push('', '| sequence | source | target before | set to |', '|---|---|---|---|');
      for (const x of items) lines.push(`| \`${x.name}\` | ${x.source ?? '–'} | ${x.targetBefore ?? 'unset'} | ${x.setTo !== undefined ? `**${x.setTo}**` : 'unchanged'} |`);
    }
  }
  lines.push('', '## Preflight warnings', '');
  if (b.warnings.length === 0) lines.push('- none');
  for (const x of b.warnings) lines.push(`- ${x}`);
  lines.push('', '## Caveats', '', ...b.caveats.map((c) => `- ${c}`));
  if (f.rollback || f.cleanup) {
    lines.push('', '## Rollback and cleanup', '');
    if (f.rollback) lines.push(`- kept for rollback: ${f.rollback.kept.join('; ')}`, `- to roll back: \`${f.rollback.command}\``);
    for (const d of f.cleanup?.done ?? []) lines.push(`- cleaned up: ${d}`);
    for (const l of f.cleanup?.left ?? []) lines.push(`- left to clean up: ${l}`);
  }
  lines.push('', '## Interruptions and resumes', '');
  if (b.interruptions.length === 0) lines.push('- none: one runner, every step on its first attempt');
  for (const x of b.interruptions) lines.push(`- ${x}`);
  return lines;
}

const esc = (text: string): string => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** Markdown-ish lines as HTML (headings, list items, tables, `code`, **bold**): the board sections in the HTML report. */
export function markdownToHtml(lines: string[]): string {
  const out: string[] = [];
  let list = false;
  let table = false;
  const inline = (t: string): string => esc(t).replace(/`([^`]*)`/g, '<code>$1</code>').replace(/\*\*([^*]*)\*\*/g, '<strong>$1</strong>');
  const close = (): void => {
    if (list) out.push('</ul>');
    if (table) out.push('</table>');
    list = false;
    table = false;
  };
  for (const l of lines) {
    if (l.startsWith('## ')) {
      close();
      out.push(`<h2>${inline(l.slice(3))}</h2>`);
    } else if (l.startsWith('- ')) {
      if (!list) {
        close();
        out.push('<ul>');
        list = true;
      }
      out.push(`<li>${inline(l.slice(2))}</li>`);
    } else if (l.startsWith('|')) {
      if (/^\|[-|]+\|$/.test(l)) continue;
      const cells = l.slice(1, -1).split(' | ').map((c) => c.trim());
      if (!table) {
        close();
        out.push('<table>', `<tr>${cells.map((c) => `<th>${inline(c)}</th>`).join('')}</tr>`);
        table = true;
      } else out.push(`<tr>${cells.map((c) => `<td>${inline(c)}</td>`).join('')}</tr>`);
    } else if (l === '') {
      if (table) close();
    }
  }
  close();
  return out.join('');
}
