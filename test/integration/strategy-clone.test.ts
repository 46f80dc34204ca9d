// strategy clone end to end against the rehearsal cloud, with live writes: an Aurora clone of the source under the
// new key (the rehearsal cloud refuses copy-on-write under another key, so rekey falls back to full-copy and says
// so), then the native flow's replication from the clone's seed position, fenced cutover, rename.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { expectCleanCutover, journalOf, rekey, SECRET, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';

function cloneVariant(runbook: string, dir: string, cdc: 'native' | 'dms' = 'native'): string {
  const doc = parseDocument(readFileSync(resolve('runbooks', runbook), 'utf8'));
  doc.set('strategy', 'clone');
  if (cdc === 'dms') doc.set('cdc', 'dms');
  else doc.delete('dms');
  doc.setIn(['rehearsal', 'source', 'seedRows'], 3000);
  for (const k of ['snapshotSeconds', 'restoreSeconds', 'renameSeconds']) doc.setIn(['rehearsal', 'delays', k], 0);
  doc.setIn(['cutover', 'sustainSeconds'], 1);
  const path = join(dir, runbook);
  writeFileSync(path, doc.toString());
  return path;
}

function created(cwd: string, runId: string): string[] {
  const registry = JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as { created: { action: string; identifier: string }[] };
  return registry.created.map((c) => `${c.action} ${c.identifier}`);
}

describe.each(['rehearsal-postgres.yaml', 'rehearsal-mysql.yaml'])('strategy clone: rekey rehearse %s', (runbook) => {
  it('clones under the new key (full-copy after AWS refuses copy-on-write), replicates natively: 0 lost, 0 duplicated', async () => {
    const cwd = tempDir('clone');
    const out = await rekey(['rehearse', cloneVariant(runbook, cwd), '--json'], cwd);
    const s = summaryOf(out);
    expect(s).toMatchObject({ type: 'summary', ok: true, status: 'succeeded', strategy: 'clone', switched: true, endpointWritable: true });
    expect(out.code).toBe(0);
    expectCleanCutover(s);
    const journal = journalOf(cwd, s.runId) as { t: string; stepId?: string; output?: { restoreType?: string; fallbackReason?: string } }[];
    const steps = journal.flatMap((r) => (r.t === 'step_succeeded' && r.stepId ? [r.stepId] : []));
    expect(steps).not.toContain('snapshot');
    expect(steps).toEqual(expect.arrayContaining(['prepare-source', 'restore', 'capture-position', 'native-setup', 'catch-up', 'switch']));
    const restored = journal.find((r) => r.t === 'step_succeeded' && r.stepId === 'restore')?.output;
    expect(restored).toMatchObject({ restoreType: 'full-copy', fallbackReason: expect.stringMatching(/InvalidParameterCombination.*copy-on-write/) });
    expect(created(cwd, s.runId).filter((c) => /Snapshot|Replication|Endpoint/.test(c))).toEqual([]);
    const runDir = join(cwd, '.rekey', 'runs', s.runId);
    for (const t of [out.stdout, out.stderr, readFileSync(join(runDir, 'journal.jsonl'), 'utf8')]) expect(t).not.toContain(SECRET);
  }, 300_000);
});

describe('strategy clone with cdc: dms: rekey rehearse rehearsal-postgres.yaml', () => {
  it('clones under the new key, then a DMS task from the clone\'s position: 0 lost, 0 duplicated', async () => {
    const cwd = tempDir('clone-dms');
    const out = await rekey(['rehearse', cloneVariant('rehearsal-postgres.yaml', cwd, 'dms'), '--json'], cwd);
    const s = summaryOf(out);
    expect(s).toMatchObject({ type: 'summary', ok: true, status: 'succeeded', strategy: 'clone', switched: true, endpointWritable: true });
    expectCleanCutover(s);
    const steps = journalOf(cwd, s.runId).flatMap((r) => (r.t === 'step_succeeded' && r.stepId ? [r.stepId] : []));
    expect(steps).toEqual(expect.arrayContaining(['restore', 'dms-setup', 'start-cdc', 'catch-up', 'consistent-validate', 'stop-task', 'switch']));
    expect(steps).not.toContain('snapshot');
  }, 300_000);
});

afterAll(stopServersLeftUnder);
