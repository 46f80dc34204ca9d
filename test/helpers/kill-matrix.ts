// Shared by the kill-matrix suites (kill-matrix-postgres/-mysql): see the header of test/integration/kill-matrix-postgres.test.ts.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { stepIds } from '../../src/flows/index.js';
import { loadRunbook } from '../../src/runbook/load.js';
import { journalOf, rekey, SECRET, start, summaryOf, tempDir } from './rehearse-cli.js';
import type { Done, Summary } from './rehearse-cli.js';

export type Engine = 'postgres' | 'mysql';
// REKEY_CHAOS=full: every cell. REKEY_CHAOS=extra (`npm run test:chaos`, which CI runs right after `npm test`): only the
// cells `npm test` leaves out, so CI runs no cell twice.
export const FULL = process.env.REKEY_CHAOS === 'full' || process.env.REKEY_CHAOS === 'extra';
/** `it` for the cells `npm test` runs too: skipped under REKEY_CHAOS=extra. */
export const itAlways = process.env.REKEY_CHAOS === 'extra' ? it.skip : it;

/** Named points inside steps, in the order a run reaches them. */
export const INSIDE: Record<string, string[]> = {
  // The consistent point's brief fence: up with no drain yet, up with every snapshot open, lifted before the compare.
  'consistent-validate': ['consistent-validate:after-fence', 'consistent-validate:drain:after-sentinel', 'consistent-validate:after-snapshots', 'consistent-validate:after-lift'],
  fence: ['fence:after-journal', 'fence:after-principal:1', 'fence:after-sessions'],
  drain: ['drain:after-sentinel'],
  'stop-task': ['stop-task:after-stop-call'],
  // after-read always happens; after-raise only when a counter is behind (a resumed run may find none).
  'fix-sequences': ['fix-sequences:after-read'],
  switch: ['switch:after-rename-call', 'switch:between-renames', 'switch:after-rename-call@2'],
};

/** Every crash point of the bundled rehearsal runbook's flow, in order: each step's inner points, then its boundary. */
export function points(engine: Engine): string[] {
  const loaded = loadRunbook(resolve(`runbooks/rehearsal-${engine}.yaml`));
  if (!loaded.ok) throw new Error(`the bundled ${engine} rehearsal runbook does not load`);
  return stepIds(loaded.runbook).flatMap((id) => [...(INSIDE[id] ?? []), `step:after:${id}`]);
}

/** Points at which the switch has not begun: a rollback must leave every acknowledged write on the source. */
export function beforeSwitch(engine: Engine): Set<string> {
  const all = points(engine);
  return new Set(all.slice(0, all.indexOf('switch:after-rename-call')));
}

/**
 * The rollback column, trimmed to one cell per phase (see the header of kill-matrix-postgres.test.ts): the last
 * boundary before the fence, inside the fence (the write-ahead record alone; after-principal:1 is the repro cell),
 * the drain, the stop-task, fix-sequences and each switch point.
 */
export function rollbackCells(engine: Engine): string[] {
  const all = points(engine);
  const beforeFence = all[all.indexOf('fence:after-journal') - 1]!;
  return [beforeFence, 'fence:after-journal', 'drain:after-sentinel', 'stop-task:after-stop-call', 'fix-sequences:after-read', 'switch:after-rename-call', 'switch:between-renames', 'switch:after-rename-call@2'];
}

export interface Extra extends Summary {
  stillFenced?: string[];
  undo?: string[];
  windowSpansCrash?: boolean;
  runners?: number;
}

/** The bundled rehearsal runbook made small and fast; the fence time-box long enough for many restarts. */
export function runbook(engine: Engine, dir: string, edit: (doc: ReturnType<typeof parseDocument>) => void = () => undefined): string {
  const doc = parseDocument(readFileSync(resolve(`runbooks/rehearsal-${engine}.yaml`), 'utf8'));
  doc.setIn(['rehearsal', 'source', 'seedRows'], 500);
  doc.setIn(['rehearsal', 'delays'], { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 });
  doc.setIn(['rehearsal', 'load', 'writesPerSecond'], 50);
  doc.setIn(['cutover', 'sustainSeconds'], 1);
  doc.setIn(['cutover', 'fenceTimeoutSeconds'], 600);
  edit(doc);
  const path = join(dir, `${engine}.yaml`);
  writeFileSync(path, doc.toString());
  return path;
}

/** Runs `rekey args` with REKEY_CRASH_AT=point and checks it died there (a point never reached fails the cell). */
export async function crashAt(point: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}): Promise<void> {
  const out = await start(args, cwd, { ...extraEnv, REKEY_CRASH_AT: point }).done;
  if (out.signal !== 'SIGKILL' || !out.stderr.includes(`crashing at ${point.replace(/@\d+$/, '')}`)) {
    throw new Error(`the runner did not crash at ${point} (exit ${out.code}, signal ${out.signal}):\n${out.stdout.slice(-2000)}\n${out.stderr.slice(-2000)}`);
  }
}

/** The only run under cwd. */
export function onlyRun(cwd: string): string {
  const ids = readdirSync(join(cwd, '.rekey', 'runs'));
  expect(ids).toHaveLength(1);
  return ids[0]!;
}

/** No rehearsal AWS resource was created twice, however often the runner died. */
export function expectNoDoubleCreate(cwd: string, runId: string): void {
  const registry = JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as { created: { action: string; identifier: string }[] };
  const made = registry.created.map((c) => `${c.action} ${c.identifier}`);
  expect(made.filter((m, i) => made.indexOf(m) !== i)).toEqual([]);
}

/**
 * Whether the application's login `app` may log in on the rehearsal source's own server (no runner alive, so no
 * endpoint proxy: the server itself, as the registry records it): PostgreSQL rolcanlogin, MySQL not ACCOUNT LOCK.
 */
export async function appCanLogIn(engine: Engine, cwd: string, runId: string): Promise<boolean> {
  const registry = JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as {
    clusters: Record<string, { backend: { server: string; host: string; port: number; database: string; user: string } }>;
  };
  const b = Object.values(registry.clusters).find((c) => c.backend.server === 'source')?.backend;
  if (!b) throw new Error('the registry has no cluster on the rehearsal source server');
  if (engine === 'postgres') {
    const c = new pg.Client({ host: b.host, port: b.port, user: b.user, database: b.database });
    await c.connect();
    try {
      return (await c.query<{ l: boolean }>("SELECT rolcanlogin AS l FROM pg_roles WHERE rolname = 'app'")).rows[0]?.l === true;
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection({ host: b.host, port: b.port, user: b.user });
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>("SHOW CREATE USER 'app'@'%'");
    return !/ACCOUNT LOCK/i.test(String(Object.values(rows[0] ?? {})[0]));
  } finally {
    await c.end();
  }
}

/** Chain points at which no fence of the consistent point may be up any more (it was lifted before each). */
const BRIEF_FENCE_LIFTED = new Set(['consistent-validate:after-lift', 'step:after:consistent-validate']);

export function expectNoSecret(...outs: Done[]): void {
  for (const o of outs) {
    expect(o.stdout).not.toContain(SECRET);
    expect(o.stderr).not.toContain(SECRET);
  }
}

/** A rollback that must succeed with the source writable (and, before the switch, every write on it once). */
export async function expectRollbackClean(engine: Engine, cwd: string, runId: string, point: string): Promise<Extra> {
  const rolled = await rekey(['rollback', runId, '--json'], cwd);
  const s = summaryOf(rolled) as Extra;
  expect({ point, code: rolled.code, ok: s.ok, status: s.status, endpointWritable: s.endpointWritable }).toEqual({ point, code: 0, ok: true, status: 'rolled_back', endpointWritable: true });
  if (beforeSwitch(engine).has(point) && s.writes) expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
  expectNoDoubleCreate(cwd, runId);
  expectNoSecret(rolled);
  return s;
}



/** The matrix's cells for one engine, as jest tests: the repro cells always, the rest with REKEY_CHAOS=full. */
export function killMatrix(engine: Engine): void {
  describe(`kill matrix on ${engine}`, () => {
    // The first repro: killed after the first writer was fenced, before the fence's output was journaled;
    // the resumed run then hits a drain timeout. The run must end with exit 5 and the source writable.
    itAlways('killed after the first principal is fenced, resumed into a drain timeout: exit 5, the source writable, 0 lost', async () => {
      const cwd = tempDir(`km-fence-drain-${engine}`);
      // The drain never completes (the sentinel is held back) and times out fast.
      const path = runbook(engine, cwd, (doc) => {
        doc.setIn(['rehearsal', 'failures', 'drainNeverArrives'], true);
        doc.setIn(['cutover', 'drainTimeoutSeconds'], 1);
      });
      // The sentinel never arriving stops the run already at the consistent point's brief fence (before the gate):
      // that fence, killed half-way, is the one the resumed run meets its drain timeout in.
      await crashAt('consistent-validate:fence:after-principal:1', ['rehearse', path, '--json'], cwd);
      const runId = onlyRun(cwd);
      const resumed = await rekey(['resume', runId, '--json'], cwd);
      const s = summaryOf(resumed) as Extra;
      expect(resumed.code).toBe(5);
      expect(s).toMatchObject({ ok: false, status: 'failed', switched: false, endpointWritable: true });
      expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
      expect(s.stillFenced).toBeUndefined();
      // The fence of the resumed attempt kept the principal the killed one had fenced.
      const fenced = journalOf(cwd, runId).filter((r) => r.t === 'step_checkpoint' && r.stepId === 'consistent-validate' && (r as { key?: string }).key === 'before') as unknown as { value: { principals: { name: string }[] } }[];
      expect(fenced.length).toBeGreaterThanOrEqual(2);
      const first = fenced[0]!.value.principals.map((p) => p.name);
      for (const later of fenced.slice(1)) expect(later.value.principals.map((p) => p.name)).toEqual(expect.arrayContaining(first));
      // And a rollback afterwards leaves it writable too.
      await expectRollbackClean(engine, cwd, runId, 'fence:after-principal:1');
    }, 300_000);

    // The second repro: killed at the same point, then `rekey rollback`: it must restore the writer it fenced.
    itAlways('killed after the first principal is fenced, then rolled back: exit 0, the source writable, every write on it once', async () => {
      const cwd = tempDir(`km-fence-rollback-${engine}`);
      await crashAt('fence:after-principal:1', ['rehearse', runbook(engine, cwd), '--json'], cwd);
      const runId = onlyRun(cwd);
      const s = await expectRollbackClean(engine, cwd, runId, 'fence:after-principal:1');
      expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
      // A second rollback is harmless.
      await expectRollbackClean(engine, cwd, runId, 'fence:after-principal:1');
    }, 300_000);

    (FULL ? it : it.skip)('a runner killed at every point in turn, each resume killed at the next, finishes: 0 lost, 0 duplicated, one of each resource', async () => {
      const cwd = tempDir(`km-chain-${engine}`);
      const path = runbook(engine, cwd);
      const cells: { point: string; result: string }[] = [];
      // In a resumed process the second rename is the first rename call it makes: no `@2` in the chain.
      const chain = points(engine).map((p) => p.replace(/@2$/, ''));
      let runId: string | undefined;
      for (const point of chain) {
        await crashAt(point, runId ? ['resume', runId, '--json'] : ['rehearse', path, '--json'], cwd);
        runId ??= onlyRun(cwd);
        // A runner killed with the consistent point's brief fence up (after-fence, after-snapshots): the next one
        // lifted it before going on, whatever it re-ran.
        if (BRIEF_FENCE_LIFTED.has(point)) expect({ point, appCanLogIn: await appCanLogIn(engine, cwd, runId) }).toEqual({ point, appCanLogIn: true });
        cells.push({ point, result: 'killed there' });
      }
      const last = await rekey(['resume', runId!, '--json'], cwd);
      const s = summaryOf(last) as Extra;
      expect(last.code).toBe(0);
      expect(s).toMatchObject({ ok: true, status: 'succeeded', switched: true, endpointWritable: true });
      expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
      expect(s.validation.mismatched).toBe(0);
      expectNoDoubleCreate(cwd, runId!);
      // The window is measured over every runner of the run; a window between two runners is called so.
      expect(s.runners).toBeGreaterThan(1);
      expect(s.downtimeMs).toBeGreaterThan(0);
      expectNoSecret(last);
      expect(cells.map((c) => c.point)).toEqual(chain);
    }, 1_200_000);

    const cells = FULL ? rollbackCells(engine) : [];
    (cells.length > 0 ? it.each(cells) : it.skip.each(['(full matrix only)']))('killed at %s, then rolled back: exit 0, the source writable', async (point) => {
      const cwd = tempDir(`km-rb-${engine}`);
      await crashAt(point, ['rehearse', runbook(engine, cwd), '--json'], cwd);
      await expectRollbackClean(engine, cwd, onlyRun(cwd), point);
    }, 300_000);
  });
}
