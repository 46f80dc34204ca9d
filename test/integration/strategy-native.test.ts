// strategy native end to end against the rehearsal cloud, with live writes: the bundled runbooks with
// `strategy: native` (no dms section) cut over with nothing lost, doubled or mismatched; a runner killed after
// every step resumes to the end without creating anything twice.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { expectCleanCutover, journalOf, rekey, SECRET, start, stopServersLeftUnder, summaryOf, tempDir, until } from '../helpers/rehearse-cli.js';
import type { Done } from '../helpers/rehearse-cli.js';

/** A bundled rehearsal runbook with `strategy: native`, no dms section, small data and no simulated AWS delays. */
function nativeVariant(runbook: string, dir: string, edit: (doc: ReturnType<typeof parseDocument>) => void = () => undefined): string {
  const doc = parseDocument(readFileSync(resolve('runbooks', runbook), 'utf8'));
  doc.set('strategy', 'native');
  doc.delete('dms');
  doc.setIn(['rehearsal', 'source', 'seedRows'], 3000);
  for (const k of ['snapshotSeconds', 'restoreSeconds', 'renameSeconds']) doc.setIn(['rehearsal', 'delays', k], 0);
  doc.setIn(['cutover', 'sustainSeconds'], 1);
  edit(doc);
  const path = join(dir, runbook);
  writeFileSync(path, doc.toString());
  return path;
}

/** The registry of what the rehearsal cloud created. */
function created(cwd: string, runId: string): string[] {
  const registry = JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as { created: { action: string; identifier: string }[] };
  return registry.created.map((c) => `${c.action} ${c.identifier}`);
}

describe.each(['rehearsal-postgres.yaml', 'rehearsal-mysql.yaml', 'rehearsal-rds-postgres.yaml', 'rehearsal-rds-mysql.yaml'])('strategy native: rekey rehearse %s', (runbook) => {
  it('cuts over with the engine\'s own replication: 0 lost, 0 duplicated, 0 mismatched, 0 sequences behind, no DMS resource', async () => {
    const cwd = tempDir('native');
    const out = await rekey(['rehearse', nativeVariant(runbook, cwd), '--json'], cwd);
    const s = summaryOf(out);
    expect(s).toMatchObject({ type: 'summary', ok: true, status: 'succeeded', strategy: 'native', switched: true, endpointWritable: true });
    expect(out.code).toBe(0);
    expectCleanCutover(s);
    const steps = (s as unknown as { steps: { id: string }[] }).steps.map((x) => x.id);
    expect(steps).toEqual(expect.arrayContaining(['prepare-source', 'native-setup', 'catch-up', 'stop-replication', 'cleanup']));
    expect(steps).not.toContain('dms-setup');
    expect(created(cwd, s.runId).filter((c) => /Replication|Endpoint/.test(c))).toEqual([]);
    const runDir = join(cwd, '.rekey', 'runs', s.runId);
    for (const t of [out.stdout, out.stderr, readFileSync(join(runDir, 'journal.jsonl'), 'utf8')]) expect(t).not.toContain(SECRET);
  }, 300_000);
});

// PostgreSQL in every run; MySQL (about 40 s more) in the full matrix only (REKEY_CHAOS=full), to keep CI under its limit.
describe.each(['rehearsal-postgres.yaml', 'rehearsal-mysql.yaml'])('strategy native: %s killed after every step', (runbook) => {
  (runbook === 'rehearsal-postgres.yaml' || process.env.REKEY_CHAOS === 'full' ? it : it.skip)('resumes to the end: nothing created twice, no write lost', async () => {
    const cwd = tempDir('native-kill');
    const path = nativeVariant(runbook, cwd, (doc) => doc.setIn(['cutover', 'sustainSeconds'], 2));
    const chaos = { REKEY_CHAOS_PAUSE_MS: '400' };
    const runsDir = join(cwd, '.rekey', 'runs');
    let runner = start(['rehearse', path, '--json'], cwd, chaos);
    const runId = await until(() => (existsSync(runsDir) ? readdirSync(runsDir)[0] : undefined));
    await until(() => (journalOf(cwd, runId).some((r) => r.t === 'runner_started') ? true : undefined));
    const succeeded = (): string[] => journalOf(cwd, runId).flatMap((r) => (r.t === 'step_succeeded' && r.stepId ? [r.stepId] : []));
    const killedAfter: string[] = [];
    let final: Done | undefined;
    for (;;) {
      const before = succeeded().length;
      const ended = await Promise.race([
        runner.done,
        until(() => (succeeded().length > before ? true : undefined), 120_000).then(
          () => undefined,
          (error: unknown) => {
            // Say where it stood: the last journal records of the runner that made no progress.
            throw new Error(`no step finished within 120 s after ${succeeded().at(-1) ?? 'the start'}: ${JSON.stringify(journalOf(cwd, runId).slice(-6))}`, { cause: error });
          },
        ),
      ]);
      if (ended) {
        final = ended;
        break;
      }
      runner.child.kill('SIGKILL');
      await runner.done;
      killedAfter.push(succeeded().at(-1) ?? '');
      runner = start(['resume', runId, '--json'], cwd, chaos);
    }
    for (const id of ['prepare-source', 'native-setup', 'catch-up', 'stop-replication']) expect(killedAfter).toContain(id);
    const s = summaryOf(final);
    expect({ code: final.code, error: s.error }).toEqual({ code: 0, error: undefined });
    expect(s).toMatchObject({ ok: true, strategy: 'native', switched: true, endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.mismatched).toBe(0);
    const made = created(cwd, runId);
    expect(new Set(made).size).toBe(made.length);
    expect(made.map((c) => c.split(' ')[0]).sort()).toEqual(['CreateDBClusterSnapshot', 'CreateDBInstance', 'RestoreDBClusterFromSnapshot'].sort());
    // Each resume reopens the rehearsal cloud: about 20 of them on a busy 2-core machine took up to 9 minutes.
  }, 900_000);
});

describe('rekey plan compares the strategies', () => {
  it('plan runbooks/rehearsal-postgres.yaml --rehearsal --json works on a fresh state dir: one entry per strategy, exactly one recommended', async () => {
    const cwd = tempDir('plan-compare');
    const out = await rekey(['plan', resolve('runbooks/rehearsal-postgres.yaml'), '--rehearsal', '--json'], cwd);
    const s = JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; exitCode: number; strategies: { strategy: string; recommended: boolean; reason: string; prerequisites: { missing: string[] } }[] };
    expect({ code: out.code, ok: s.ok }).toEqual({ code: 0, ok: true });
    expect(s.strategies.map((x) => x.strategy)).toEqual(['dms-cdc', 'native', 'clone', 'snapshot']);
    expect(s.strategies.filter((x) => x.recommended)).toHaveLength(1);
    expect(s.strategies.find((x) => x.recommended)?.reason).not.toBe('');
    for (const x of s.strategies) expect(x.prerequisites.missing).toEqual([]);
  }, 300_000);
});

afterAll(stopServersLeftUnder);
