// The kill matrix on MySQL (MariaDB): see kill-matrix-postgres.test.ts for the points and what every cell asserts.
import { rekey, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';
import { itAlways, killMatrix, runbook, type Extra } from '../helpers/kill-matrix.js';

afterAll(stopServersLeftUnder);

killMatrix('mysql');

describe('MySQL cutover.writerRoles: [] (nothing to fence)', () => {
  itAlways('runs the cutover without any fence SQL (never `IN ()`), warns, and loses no write', async () => {
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

