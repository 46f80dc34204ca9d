// The kill matrix on MySQL (MariaDB): see kill-matrix-postgres.test.ts for the points and what every cell asserts.
import { journalOf, rekey, start, stopServersLeftUnder, summaryOf, tempDir, until } from '../helpers/rehearse-cli.js';
import { expectNoDoubleCreate, killMatrix, runbook, type Extra } from '../helpers/kill-matrix.js';

afterAll(stopServersLeftUnder);

killMatrix('mysql');

describe('MySQL cutover.writerRoles: [] (nothing to fence)', () => {
  it('runs the cutover without any fence SQL (never `IN ()`), warns, and loses no write', async () => {
    const cwd = tempDir('km-empty-fence');
    const path = runbook('mysql', cwd, (doc) => doc.setIn(['cutover', 'writerRoles'], []));
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out) as Extra;
    expect(out.stdout).toContain('no writer roles to fence');
    expect(out.stdout).not.toMatch(/IN \(\)|syntax/);
    // Without a fence the application keeps writing to the old database after the drain: the rehearsal counts
    // those as lost (exit 1); what matters here is that the cutover ran and the source stayed writable.
    expect(s.endpointWritable).toBe(true);
    expect(s.error?.stepId).not.toBe('fence');
  }, 300_000);
});


describe('one Ctrl-C (SIGINT) inside the switch', () => {
  it('finishes the rename pair, stops with 130 and the name answering writable; a resume ends with 0 lost, 0 duplicated', async () => {
    const cwd = tempDir('km-sigint-switch');
    // Each rename takes 2 s, so a signal sent once the first one is asked for lands between the two renames.
    const path = runbook('mysql', cwd, (doc) => doc.setIn(['rehearsal', 'delays'], { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 2, availableSeconds: 0 }));
    const live = start(['rehearse', path, '--json'], cwd);
    let out = '';
    live.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => (/renaming orders-db -> orders-db-old/.test(out) ? true : undefined), 240_000);
    live.child.kill('SIGINT');
    const stopped = await live.done;
    const s = summaryOf(stopped) as Extra;
    const runId = s.runId;
    // Exit 130 (interrupted), with the pair completed: the new database serves the name and takes the app's writes.
    expect(stopped.code).toBe(130);
    expect(s).toMatchObject({ ok: false, status: 'interrupted', switched: true, endpointWritable: true });
    expect(stopped.stdout).toContain('finishing the switch (both renames) before stopping');
    const records = journalOf(cwd, runId);
    expect(records.filter((r) => r.t === 'step_succeeded' && r.stepId === 'switch')).toHaveLength(1);
    expect(records.filter((r) => r.t === 'step_interrupted' && r.stepId === 'switch')).toHaveLength(0);
    const resumed = await rekey(['resume', runId, '--json'], cwd);
    const r = summaryOf(resumed) as Extra;
    expect(resumed.code).toBe(0);
    expect(r).toMatchObject({ ok: true, switched: true, endpointWritable: true });
    expect(r.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expectNoDoubleCreate(cwd, runId);
  }, 300_000);
});
