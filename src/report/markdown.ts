// The run report as Markdown: steps and durations, where CDC started (and any replayed overlap), the
// write-unavailable window, writes, validation, sequences, gates.
import { writeFileSync } from 'node:fs';
import { boardHeaderMarkdown, boardSectionsMarkdown } from './board.js';
import type { RunFindings } from './findings.js';
import type { ReportInput } from './input.js';

export type { ReportInput } from './input.js';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** The outcome in words: a rollback (its result) wins over how the last runner ended. */
export function outcomeLine(r: ReportInput, strong: (text: string) => string, plain: (text: string) => string): string {
  const rb = r.state.rollback;
  if (rb?.status === 'succeeded') return `${strong('rolled back')} at ${plain(rb.at)}: the source serves its name again, unfenced`;
  if (rb?.status === 'failed') return `${strong('rollback failed')} at ${plain(rb.at)}${rb.message ? `: ${plain(rb.message)}` : ''}`;
  if (!r.outcome) return strong(r.state.lastStop?.status ?? 'unknown');
  const failedAt = r.outcome.status === 'failed' ? r.outcome.error.stepId : undefined;
  const title = failedAt !== undefined ? (r.steps.find((s) => s.id === failedAt)?.title ?? failedAt) : undefined;
  return `${strong(r.outcome.status)}${r.outcome.status === 'failed' ? ` at ${plain(title ?? '')}: ${plain(r.outcome.error.message)}` : ''}`;
}

export function renderReport(r: ReportInput): string {
  const lines: string[] = [];
  lines.push(`# rekey report: ${r.runbook.name}`, '');
  lines.push(`- run: \`${r.runId}\``);
  lines.push(`- source: \`${r.runbook.source.identifier}\` (${r.runbook.source.engine}, region ${r.runbook.region})`);
  lines.push(`- new key: \`${r.runbook.target.kmsKeyId}\``);
  lines.push(`- outcome: ${outcomeLine(r, (t) => `**${t}**`, (t) => t)}`, ...boardHeaderMarkdown(r), '');
  lines.push('## Steps', '', '| step | title | status | duration | attempts |', '|---|---|---|---|---|');
  for (const s of r.steps) {
    const done = r.state.succeeded.get(s.id);
    const failed = r.state.failures.get(s.id);
    const status = done ? 'succeeded' : failed ? `failed: ${failed.message.replace(/\|/g, '\\|')}` : 'not run';
    lines.push(`| ${s.id} | ${s.title} | ${status} | ${done ? seconds(done.durationMs) : ''} | ${r.state.attempts.get(s.id) ?? 0} |`);
  }
  const sm = r.summary as Partial<RunFindings> & {
    downtimeMs?: number;
    writes?: { acknowledged: number; lost: number | null; duplicated: number | null; errors?: number; verifyError?: string };
  };
  if (sm.position) {
    const how: Record<string, string> = {
      'seed-function': 'the restored database\'s seed function (the snapshot\'s exact position)',
      'crash-recovery': 'the restored writer\'s crash-recovery binlog event (the snapshot\'s exact position)',
      replica: 'the stopped read replica\'s executed source position (the snapshot\'s exact position)',
      'slot-fallback': 'the slot\'s confirmed_flush_lsn (opt-in fallback: before the snapshot)',
    };
    lines.push('', '## CDC start position', '', `- \`${sm.position.value}\`, from ${how[sm.position.source] ?? sm.position.source}`);
  }
  if (sm.overlap) {
    const o = sm.overlap;
    lines.push(
      `- **OVERLAP**: CDC started at \`${o.fromLsn}\`, before the snapshot, because ${o.reason.replace(/\.$/, '')}.`,
      '  Changes committed between the slot\'s creation and the snapshot were applied a second time, with the task set to',
      '  `ApplyErrorInsertPolicy: INSERT_RECORD` (a duplicate insert updates the row) and `ApplyErrorUpdatePolicy: UPDATE_RECORD` (an update of a missing row inserts it).',
      o.tablesWithoutPk.length > 0
        ? `  Tables without a primary key may hold duplicated rows from that replay: ${o.tablesWithoutPk.map((t) => `\`${t}\``).join(', ')}; validation compares their row counts.`
        : '  Every table has a primary key, so the replay cannot duplicate rows.',
    );
  }
  if (sm.unfencedSessions) {
    lines.push('', '## Sessions the fence left open', '', '- **WARNING**: these used the login rekey or DMS connects as; writes they made after the drain were not replicated (cutover.openSessions: warn):');
    for (const x of sm.unfencedSessions) lines.push(`  - \`${x.user}\` from ${x.client}${x.application ? ` (${x.application})` : ''}`);
  }
  if (sm.downtimeMs !== undefined) {
    lines.push('', '## Rehearsal', '');
    lines.push(`- longest write-unavailable window: **${seconds(sm.downtimeMs)}**`);
    if (sm.writes?.verifyError !== undefined) lines.push(`- writes acknowledged ${sm.writes.acknowledged}, **not verified**: ${sm.writes.verifyError}`);
    else if (sm.writes) lines.push(`- writes acknowledged ${sm.writes.acknowledged}, lost **${sm.writes.lost}**, duplicated **${sm.writes.duplicated}**, ${sm.writes.errors ?? 0} writes refused while writes were blocked (the fence rejects them)`);
  }
  const replicas = sm.topology?.replicas;
  if (replicas && replicas.expected > 0) {
    lines.push('', '## Read replicas', '', `- recreated from the new primary: **${replicas.recreated} of ${replicas.expected}**`);
    for (const r of replicas.regions) {
      if (r.note) lines.push(`  - ${r.region}: ${r.identifier ? `\`${r.identifier}\`, ` : ''}**${r.note}**`);
      else lines.push(`  - ${r.region}: ${r.recreated ? 'recreated' : '**not recreated yet**'} under \`${r.key}\`${r.lagSeconds !== undefined ? `, lag ${r.lagSeconds} s` : ''}`);
    }
    const without = sm.topology?.regionsWithoutReplica ?? [];
    if (without.length > 0) lines.push(`- **Regions without a replica**: ${without.join(', ')}`);
  }
  const global = sm.topology?.globalDatabase;
  if (global) {
    lines.push('', '## Global database', '', `- secondaries added to \`${global.identifier}\`, headed by the new cluster: **${global.added} of ${global.expected}**`);
    for (const g of global.regions) lines.push(`  - ${g.region}: \`${g.identifier}\` ${g.added ? 'added' : '**not added yet**'} under \`${g.key}\`${g.lagMs !== undefined ? `, replication lag ${g.lagMs} ms` : ''}`);
    const without = sm.topology?.regionsWithoutReplica ?? [];
    if (without.length > 0) lines.push(`- **Regions without a secondary**: ${without.join(', ')}`);
  }
  const names = sm.topology?.instanceNames;
  if (names) {
    lines.push('', '## Instance names', '', `- kept (cutover.renameInstances): **${names.kept.length} of ${names.expected}**${names.kept.length > 0 ? `: ${names.kept.map((n) => `\`${n}\``).join(', ')} now name the new cluster's instances` : ''}`);
  }
  if (sm.evidence) {
    lines.push('', '## Encryption evidence', '', `As AWS reported them when the switch was verified (${sm.evidence.at}); a key not read is marked:`, '', '| resource | identifier | KMS key |', '|---|---|---|');
    for (const x of sm.evidence.resources) lines.push(`| ${x.kind}: ${x.role} | \`${x.identifier}\` | ${x.kmsKeyId ? `\`${x.kmsKeyId}\`` : '(not read)'} |`);
  }
  if (sm.validation) lines.push('', '## Validation', '', `- tables compared: ${sm.validation.tables}, mismatched: **${sm.validation.mismatched}**`);
  if (sm.sequences) lines.push('', '## Sequences', '', `- checked: ${sm.sequences.checked}, behind after the fix: **${sm.sequences.behind}**`);
  const decisions = [...r.state.decisions.values()];
  if (decisions.length) {
    lines.push('', '## Gates', '');
    for (const d of decisions) lines.push(`- \`${d.id}\`: ${d.decision} by ${d.by} at ${d.at}`);
  }
  lines.push(...boardSectionsMarkdown(r));
  lines.push('');
  return lines.join('\n');
}

export function writeReport(path: string, input: ReportInput): void {
  writeFileSync(path, renderReport(input), { mode: 0o600 });
}
