// validate (strategy blue-green): blue against green, row counts and checksums, before the gate. Green is readable.
// Writes keep flowing to blue, so each table gets a few passes: it matches when one pass finds both sides equal.
// A table whose blue side (count or checksum) changed between passes is reported as live (still being written), not as a difference:
// only a table that holds still on blue and differs on green is a mismatch, and stops the run before the gate.
import type { DbAdapter, TableRef } from '../db/types.js';
import { StepError } from '../engine/types.js';
import { tableSelection } from '../runbook/schema.js';
import type { Step } from '../engine/types.js';
import { idOfArn, isClusterArn } from './bg-common.js';
import { clusterEndpoint, mapLimit, openDb, required } from './common.js';
import type { Ctx } from './common.js';
import type { BgCreateOutput } from './outputs.js';
import type { RekeyServices } from './services.js';
import type { TableComparison, ValidationOutput } from './validate.js';

/** Passes over the tables that do not match yet. */
const PASSES = 5;

/** The blue-green validation: the shared shape plus the tables still being written. */
export interface BgValidationOutput extends ValidationOutput {
  /** Tables whose blue side changed while they were compared: drift, not a difference. */
  live: string[];
}

function wantsChecksum(ctx: Ctx, table: string): boolean {
  const c = ctx.services.runbook.validation.checksums;
  return c === true || (Array.isArray(c) && c.includes(table));
}

async function fingerprint(ctx: Ctx, db: DbAdapter, t: TableRef): Promise<string> {
  const name = `${t.schema}.${t.name}`;
  if (wantsChecksum(ctx, name)) return db.checksum(t);
  return String(await db.rowCount(t));
}

/** The green identifier that serves the source's writer: the cluster, or the primary instance. */
export function greenWriter(ctx: Ctx, created: BgCreateOutput): string {
  const want = ctx.services.runbook.source.identifier;
  const m = created.members.find((x) => idOfArn(x.source) === want && (isClusterArn(x.source) || !ctx.services.runbook.source.engine.startsWith('aurora')));
  if (created.target) return idOfArn(created.target);
  if (!m) throw new StepError(`deployment ${created.name} has no green member for ${want}`, 'fatal');
  return idOfArn(m.target);
}

export async function compareBlueGreen(ctx: Ctx, blueId: string, greenId: string): Promise<BgValidationOutput> {
  const { runbook: rb, clock } = ctx.services;
  const started = clock.now();
  const [blue, green] = await Promise.all([openDb(ctx, await clusterEndpoint(ctx, blueId, true)), openDb(ctx, await clusterEndpoint(ctx, greenId, false))]);
  try {
    const tables = await blue.listTables(tableSelection(rb).include, tableSelection(rb).exclude);
    const results = new Map<string, TableComparison>();
    const live = new Set<string>();
    const blueSeen = new Map<string, string>();
    let pending = tables;
    for (let pass = 0; pass < PASSES && pending.length > 0; pass++) {
      if (pass > 0) await clock.sleep(Math.min(1000, ctx.services.timing.pollMs), ctx.signal);
      const next: TableRef[] = [];
      await mapLimit(pending, 1, async (t) => {
        const name = `${t.schema}.${t.name}`;
        const [b, g] = await Promise.all([fingerprint(ctx, blue, t), fingerprint(ctx, green, t)]);
        const before = blueSeen.get(name);
        blueSeen.set(name, b);
        const rows = (f: string): number | null => (/^\d+/.test(f) ? Number(/^(\d+)/.exec(f)?.[1]) : null);
        const checksummed = wantsChecksum(ctx, name);
        const cmp: TableComparison = { table: name, sourceRows: rows(b), targetRows: rows(g), ...(checksummed ? { checksumMatch: b === g } : {}), matches: b === g };
        if (before !== undefined && before !== b) live.add(name);
        results.set(name, cmp);
        if (!cmp.matches) next.push(t);
      });
      pending = next;
    }
    const all = [...results.values()];
    const mismatched = all.filter((r) => !r.matches && !live.has(r.table)).length;
    return { tables: all.length, mismatched, results: all, live: [...live].filter((t) => !results.get(t)?.matches), at: new Date(clock.now()).toISOString(), durationMs: clock.now() - started };
  } finally {
    await Promise.allSettled([blue.close(), green.close()]);
  }
}

export const bgValidate: Step<RekeyServices, BgValidationOutput> = {
  id: 'validate',
  title: 'Validate blue against green (row counts, checksums)',
  describe: (ctx) => {
    const v = ctx.services.runbook.validation;
    return [
      { kind: 'sql', target: 'blue', summary: 'list the tables', detail: `include ${tableSelection(ctx.services.runbook).include.join(', ')}; exclude ${tableSelection(ctx.services.runbook).exclude.join(', ') || 'none'}` },
      { kind: 'sql', target: 'blue+green', summary: `${v.checksums === false ? 'row counts' : `content checksums of ${v.checksums === true ? 'every table' : v.checksums.join(', ')}, row counts of the rest`}, up to ${PASSES} passes while writes continue` },
    ];
  },
  async run(ctx) {
    const created = required(ctx, 'bg-create', 'validate');
    const out = await compareBlueGreen(ctx, ctx.services.runbook.source.identifier, greenWriter(ctx, created));
    ctx.report.publish('validation', out);
    ctx.report.progress(`${out.tables} tables compared, ${out.mismatched} mismatched, ${out.live.length} still being written`);
    if (out.live.length > 0) ctx.report.log('info', `still being written on blue while compared (not counted as differences): ${out.live.join(', ')}`);
    if (out.mismatched > 0) {
      const lines = out.results.filter((r) => !r.matches && !out.live.includes(r.table)).map((r) => `${r.table}: blue ${r.sourceRows ?? '-'} rows, green ${r.targetRows ?? '-'} rows${r.checksumMatch === false ? ', checksums differ' : ''}`);
      throw new StepError(`blue and green differ in ${out.mismatched} of ${out.tables} tables: not switching over`, 'fatal', lines);
    }
    return out;
  },
};
