// The fence's open-session guard in a rehearsal with live writes: an application logged in with rekey's own login
// (which the fence cannot lock out) makes the cutover stop at the fence, unfenced, nothing switched, no write lost.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { journalOf, registryOf, start, stopServersLeftUnder, summaryOf, tempDir, testRunbook, until } from '../helpers/rehearse-cli.js';

afterAll(stopServersLeftUnder);

describe('rekey rehearse: a session of rekey\'s own login from an application', () => {
  it('stops at the first fence (the consistent point) with exit 5, naming the session; the source stays writable and nothing is switched', async () => {
    const cwd = tempDir('guard');
    // sustainSeconds 2: the application has time to log in during catch-up, before the consistent point.
    const path = testRunbook('rehearsal-postgres.yaml', cwd, 'guard', (doc) => doc.setIn(['cutover', 'sustainSeconds'], 2));
    const run = start(['rehearse', path, '--json'], cwd);
    const runsDir = join(cwd, '.rekey', 'runs');
    const runId = await until(() => (existsSync(runsDir) ? readdirSync(runsDir)[0] : undefined));
    // Once CDC runs, an "application" logs in as rekey_admin through the source's endpoint and stays.
    await until(() => (journalOf(cwd, runId).some((r) => r.t === 'step_started' && r.stepId === 'catch-up') ? true : undefined), 120_000);
    const registry = registryOf(cwd, runId);
    const app = new pg.Client({ host: '127.0.0.1', port: registry.proxyPorts['orders-db'], user: 'rekey_admin', database: 'orders', application_name: 'billing-api' });
    app.on('error', () => undefined);
    await app.connect();
    try {
      const out = await run.done;
      const s = summaryOf(out);
      expect(out.code).toBe(5);
      expect(s).toMatchObject({ ok: false, status: 'failed', switched: false, endpointWritable: true, error: { stepId: 'consistent-validate', kind: 'retryable' } });
      expect(s.error.message).toMatch(/^refusing to cut over: 1 session of rekey_admin from other clients is open once the fence is up: rekey_admin@127\.0\.0\.1 \(billing-api\)/);
      expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
      // The consistent point's brief fence meets the session first: the cutover fence and drain never start.
      expect(journalOf(cwd, runId).some((r) => r.t === 'step_started' && (r.stepId === 'fence' || r.stepId === 'drain'))).toBe(false);
    } finally {
      await app.end().catch(() => undefined);
    }
  }, 300_000);
});
