// strategy snapshot (offline) end to end against the rehearsal cloud, with live writes: the source is fenced before
// the snapshot and stays fenced until the switch; nothing acknowledged is lost or doubled, the tables match at rest,
// and the measured write outage is within a factor of 2 of the outage preflight estimated from the delays.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { expectCleanCutover, journalOf, rekey, SECRET, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';

/** A bundled rehearsal runbook with `strategy: snapshot`, no dms section, small data and small nonzero delays. */
function snapshotVariant(runbook: string, dir: string, edit: (doc: ReturnType<typeof parseDocument>) => void = () => undefined): string {
  const doc = parseDocument(readFileSync(resolve('runbooks', runbook), 'utf8'));
  doc.set('strategy', 'snapshot');
  doc.delete('dms');
  doc.setIn(['rehearsal', 'source', 'seedRows'], 2000);
  doc.setIn(['rehearsal', 'delays', 'snapshotSeconds'], 4);
  doc.setIn(['rehearsal', 'delays', 'restoreSeconds'], 4);
  doc.setIn(['rehearsal', 'delays', 'renameSeconds'], 1);
  doc.setIn(['cutover', 'fenceTimeoutSeconds'], 300);
  // The flow fences right after preflight: let the live writers write a while before (a before-fence hook).
  doc.setIn(['hooks', 'beforeFence'], [{ run: 'sleep 3', timeoutSeconds: 20 }]);
  edit(doc);
  const path = join(dir, runbook);
  writeFileSync(path, doc.toString());
  return path;
}

interface Outage { totalSeconds: number; from: string; snapshotSeconds: number; restoreSeconds: number }

describe.each(['rehearsal-postgres.yaml', 'rehearsal-mysql.yaml'])('strategy snapshot: rekey rehearse %s', (runbook) => {
  it('fences before the snapshot until the switch: 0 lost, 0 duplicated, exact at rest, outage within 2x of the estimate', async () => {
    const cwd = tempDir('snapshot');
    const out = await rekey(['rehearse', snapshotVariant(runbook, cwd), '--json'], cwd);
    const s = summaryOf(out);
    expect(s).toMatchObject({ type: 'summary', ok: true, status: 'succeeded', strategy: 'snapshot', switched: true, endpointWritable: true });
    expect(out.code).toBe(0);
    expectCleanCutover(s);
    const journal = journalOf(cwd, s.runId) as { t: string; stepId?: string; output?: { outage?: Outage } }[];
    const order = journal.flatMap((r) => (r.t === 'step_succeeded' && r.stepId ? [r.stepId] : []));
    // The fence is up before the snapshot and the switch comes after the validation at rest.
    expect(order.indexOf('fence')).toBeLessThan(order.indexOf('snapshot'));
    expect(order.indexOf('final-validate')).toBeLessThan(order.indexOf('switch'));
    expect(order).not.toEqual(expect.arrayContaining(['dms-setup']));
    expect(order).not.toContain('catch-up');
    const outage = journal.find((r) => r.t === 'step_succeeded' && r.stepId === 'preflight')?.output?.outage;
    expect(outage).toMatchObject({ from: 'rehearsal-delays', snapshotSeconds: 4, restoreSeconds: 4 });
    const estimateMs = (outage?.totalSeconds ?? 0) * 1000;
    // The measured outage: the longest stretch the live writers could not write.
    expect(s.downtimeMs).toBeGreaterThan(estimateMs / 2);
    expect(s.downtimeMs).toBeLessThan(estimateMs * 2);
    const runDir = join(cwd, '.rekey', 'runs', s.runId);
    for (const t of [out.stdout, out.stderr, readFileSync(join(runDir, 'journal.jsonl'), 'utf8')]) expect(t).not.toContain(SECRET);
  }, 300_000);
});

describe('strategy snapshot: the fence outlasts cutover.fenceTimeoutSeconds before the switch', () => {
  it('stops before switching, lifts the fence on the source, and no acknowledged write is lost', async () => {
    const cwd = tempDir('snapshot-timeout');
    // The writer takes 20 s more than the estimate knows of: the fence limit (15 s) is spent before the switch.
    const path = snapshotVariant('rehearsal-postgres.yaml', cwd, (doc) => {
      doc.setIn(['rehearsal', 'delays', 'availableSeconds'], 20);
      doc.setIn(['cutover', 'fenceTimeoutSeconds'], 15);
    });
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect(s).toMatchObject({ ok: false, switched: false, endpointWritable: true });
    expect(s.error.message).toMatch(/fenceTimeoutSeconds/);
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    const journal = journalOf(cwd, s.runId);
    expect(journal.some((r) => r.t === 'step_succeeded' && r.stepId === 'switch')).toBe(false);
  }, 300_000);
});

afterAll(stopServersLeftUnder);
