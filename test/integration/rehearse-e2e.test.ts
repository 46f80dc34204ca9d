// `rekey` end to end against the rehearsal cloud, with live writes: the happy path, bad keys, a failing DMS
// task, a drain that never completes, and a runner killed after every step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startMariadb, startPostgres } from '../../src/rehearsal/servers/index.js';
import type { LocalServer } from '../../src/rehearsal/servers/index.js';
import { expectCleanCutover, flowSteps, journalOf, killAfterEachStep, registryOf, rekey, SECRET, stopServersLeftUnder, succeededSteps, summaryOf, tempDir, testRunbook } from '../helpers/rehearse-cli.js';
import type { Registry, RunbookDoc } from '../helpers/rehearse-cli.js';

type Engine = 'postgres' | 'mysql';

/** The bundled rehearsal runbook, small and without simulated delays, with some fields changed, written to dir. */
const variant = (engine: Engine, dir: string, name: string, edit: (doc: RunbookDoc) => void): string => testRunbook(`rehearsal-${engine}.yaml`, dir, name, edit);

describe.each<Engine>(['postgres', 'mysql'])('rekey rehearse --engine %s end to end', (engine) => {
  // One rehearsal of the bundled demo, kept, serves the happy path and then the rollback.
  it('happy path on the bundled demo: 0 lost, 0 duplicated, 0 mismatched, 0 sequences behind, no secret anywhere; then rekey rollback renames back: the source name serves the old key again, writable', async () => {
    const cwd = tempDir(`happy-${engine}`);
    const out = await rekey(['rehearse', '--engine', engine, '--json', '--keep'], cwd);
    const s = summaryOf(out);
    expect(s).toMatchObject({ type: 'summary', ok: true, engine, status: 'succeeded', switched: true, endpointWritable: true });
    expect(out.code).toBe(0);
    expectCleanCutover(s);
    expect(typeof s.downtimeMs).toBe('number');
    const runDir = join(cwd, '.rekey', 'runs', s.runId);
    const texts = [out.stdout, out.stderr, readFileSync(join(runDir, 'journal.jsonl'), 'utf8'), readFileSync(join(runDir, 'report.md'), 'utf8')];
    for (const t of texts) expect(t).not.toContain(SECRET);
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toContain('lost **0**');

    const newKeyArn = registryOf(cwd, s.runId).clusters['orders-db']!.kmsKeyArn;
    const rolled = await rekey(['rollback', s.runId, '--json'], cwd);
    expect(rolled.code).toBe(0);
    expect(summaryOf(rolled)).toMatchObject({ ok: true, status: 'rolled_back', endpointWritable: true });
    const after = registryOf(cwd, s.runId);
    expect(after.clusters['orders-db']!.kmsKeyArn).not.toBe(newKeyArn);
    expect(Object.keys(after.clusters).sort()).toEqual(['orders-db', `orders-db-rekey-${s.runId}`].sort());
    const status = await rekey(['status', s.runId, '--json'], cwd);
    expect(JSON.parse(status.stdout)).toMatchObject({ runId: s.runId, status: 'rolled_back' });
    // The reports tell the rollback, not the ending of the run before it.
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toMatch(/- outcome: \*\*rolled back\*\* at /);
    expect(readFileSync(join(runDir, 'report.html'), 'utf8')).toContain('<strong>rolled back</strong>');
  }, 300_000);

  const badKeys: [string, Record<string, string>, RegExp][] = [
    ['Disabled', { state: 'Disabled' }, /Disabled/],
    ['asymmetric', { keySpec: 'RSA_2048' }, /RSA_2048|SYMMETRIC_DEFAULT/],
    ['PendingDeletion', { state: 'PendingDeletion' }, /PendingDeletion|pending deletion/i],
  ];
  // The key checks are shared by every engine: all three on PostgreSQL, one on MySQL.
  it.each(engine === 'postgres' ? badKeys : badKeys.slice(0, 1))('a %s new key makes plan and run exit 4 naming the problem', async (_name, key, pattern) => {
    const cwd = tempDir('badkey');
    const path = variant(engine, cwd, 'bad-key', (doc) => doc.setIn(['rehearsal', 'keys'], [{ id: 'alias/orders-2026', ...key }, { id: 'alias/aws/rds' }]));
    const plan = await rekey(['plan', path, '--rehearsal'], cwd);
    expect(plan.code).toBe(4);
    expect(plan.stdout).toMatch(pattern);
    const run = await rekey(['run', path, '--rehearsal', '--yes', '--json'], cwd);
    expect(run.code).toBe(4);
    const s = summaryOf(run);
    expect(s.error.kind).toBe('preflight');
    expect((s.error.details ?? []).join('\n')).toMatch(pattern);
    // Nothing was created: preflight is read-only.
    expect(journalOf(cwd, s.runId).filter((r) => r.t === 'step_succeeded')).toHaveLength(0);
  });

  it('a DMS task failing mid-CDC stops with exit 5 and the source writable', async () => {
    const cwd = tempDir('dmsfail');
    const path = variant(engine, cwd, 'dms-fails', (doc) => {
      doc.setIn(['rehearsal', 'failures', 'dmsTaskFailsAfterSeconds'], 1);
      doc.setIn(['cutover', 'sustainSeconds'], 8);
    });
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect(out.code).toBe(5);
    expect(s).toMatchObject({ ok: false, status: 'failed', endpointWritable: true, switched: false });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.next).toContain(`rekey resume ${s.runId}`);
  });

  it('a drain that times out unfences and never switches', async () => {
    const cwd = tempDir('drain');
    const path = variant(engine, cwd, 'drain-timeout', (doc) => {
      doc.setIn(['rehearsal', 'failures', 'drainNeverArrives'], true);
      doc.setIn(['cutover', 'drainTimeoutSeconds'], 2);
      doc.setIn(['cutover', 'sustainSeconds'], 1);
    });
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect(out.code).toBe(5);
    expect(s).toMatchObject({ ok: false, switched: false, endpointWritable: true });
    // The sentinel never arrives, so already the consistent point before the gate cannot be reached.
    expect(s.error.stepId).toBe('consistent-validate');
    const journal = journalOf(cwd, s.runId);
    expect(journal.some((r) => r.t === 'rewind')).toBe(true);
    expect(journal.some((r) => r.t === 'step_started' && r.stepId === 'switch')).toBe(false);
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
  });

  it('a corrupted target row is found at the consistent point: the cutover is refused, naming the table, the key range and the key', async () => {
    const cwd = tempDir(`corrupt-${engine}`);
    const path = variant(engine, cwd, 'corrupt', (doc) => {
      doc.setIn(['rehearsal', 'failures', 'corruptTargetRow'], true);
      doc.setIn(['validation', 'chunkRows'], 1000);
      // A changed value keeps the counts: only the checksums see it.
      doc.setIn(['validation', 'checksums'], true);
      doc.setIn(['cutover', 'sustainSeconds'], 1);
    });
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect(out.code).toBe(5);
    expect(s).toMatchObject({ ok: false, switched: false, endpointWritable: true });
    expect(s.error.stepId).toBe('consistent-validate');
    expect(s.error.message).toMatch(/consistent-point validation failed: 1 of \d+ tables differ .*the cutover is not offered/);
    expect((s.error.details ?? []).join('\n')).toMatch(/orders id < \d+: source \d+ rows, target \d+ rows, checksums differ; keys: \[1\] differs/);
    const journal = journalOf(cwd, s.runId);
    expect(journal.some((r) => r.t === 'gate_requested')).toBe(false);
    expect(journal.some((r) => r.t === 'step_started' && r.stepId === 'fence')).toBe(false);
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
  });

  it('with cutover.fenceTimeoutSeconds: 2 the window stays under 2 s plus one statement timeout, and the run ends switched or writable', async () => {
    const cwd = tempDir(`fence2-${engine}`);
    const path = variant(engine, cwd, 'fence-2s', (doc) => {
      doc.setIn(['cutover', 'fenceTimeoutSeconds'], 2);
      doc.setIn(['cutover', 'sustainSeconds'], 1);
      doc.setIn(['rehearsal', 'delays', 'renameSeconds'], 0);
    });
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect(s.endpointWritable).toBe(true);
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    if (s.ok) expectCleanCutover(s);
    else expect(s.next).toContain(`rekey resume ${s.runId}`);
    expect(s.downtimeMs).toBeLessThan(4000);
  });

  // The kill matrix's resume chain (kill-matrix-*.test.ts, run by `npm run test:chaos` in CI) kills this flow at every step
  // boundary and more, with the same checks; this copy runs only in the full matrix, so CI runs it once.
  (process.env.REKEY_CHAOS === 'full' ? it : it.skip)('a runner killed with SIGKILL after each step resumes to the end: no second resource, no lost write', async () => {
    const cwd = tempDir('kill');
    const { runId, final, killedAfter } = await killAfterEachStep(variant(engine, cwd, 'kill', (doc) => doc.setIn(['cutover', 'sustainSeconds'], 2)), cwd);
    // Killed right after every step (the chaos pause holds each runner between two steps).
    expect(killedAfter).toEqual(flowSteps(cwd, runId));
    const s = summaryOf(final);
    expect(final.code).toBe(0);
    expect(s).toMatchObject({ ok: true, switched: true, endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.mismatched).toBe(0);
    const registry = registryOf(cwd, runId);
    const made = registry.created.map((c) => `${c.action} ${c.identifier}`);
    // One of each, however often the runner died: no second snapshot, cluster, writer, endpoint or task.
    expect(new Set(made).size).toBe(made.length);
    expect(registry.created.map((c) => c.action).sort()).toEqual(
      ['CreateDBClusterSnapshot', 'CreateDBInstance', 'CreateEndpoint', 'CreateEndpoint', 'CreateReplicationInstance', 'CreateReplicationTask', 'RestoreDBClusterFromSnapshot'].sort(),
    );
    // Every step ran to success exactly once in the journal's final view, whatever was re-entered.
    for (const id of flowSteps(cwd, runId)) expect(succeededSteps(cwd, runId)).toContain(id);
  }, 600_000);
});

afterAll(stopServersLeftUnder);

/** A database the user already has, on their own throwaway server: their table `items` (5000 rows) and the login rekey connects as. */
interface UsersDatabase {
  server: LocalServer;
  name: string;
  /** rehearsal.source.url of it. */
  url: string;
  /** The variable holding the URL user's password (rehearsal.source.urlPasswordEnv), when it has one. */
  urlPasswordEnv?: string;
  /** The variable source.password names: rekey_admin's password there (unset for a passwordless rekey_admin). */
  adminPasswordEnv: string;
}

/** Passwords of the user's accounts: the URL's user (then `owner`, not the server's root) and rekey_admin. */
interface UsersPasswords {
  url: string;
  admin: string;
}
const URL_PASSWORD_ENV = 'REKEY_ADOPTED_URL_PASSWORD';

// The user's own server, not the suite's shared one: the cutover leaves the old source's app login fenced.
async function usersDatabase(engine: Engine, cwd: string, passwords?: UsersPasswords): Promise<UsersDatabase> {
  const name = `adopt_${Math.random().toString(36).slice(2, 8)}`;
  const server = engine === 'postgres' ? await startPostgres({ dir: join(cwd, 'users-pg') }) : await startMariadb({ dir: join(cwd, 'users-my'), serverId: 7 });
  const root = new URL(server.adminUrl).username || (engine === 'postgres' ? 'postgres' : 'root');
  const user = passwords ? 'owner' : root;
  const port = server.port;
  if (engine === 'postgres') {
    const c = new pg.Client({ host: '127.0.0.1', port, user: root, database: 'postgres' });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.query("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rekey_admin') THEN CREATE ROLE rekey_admin LOGIN SUPERUSER REPLICATION; END IF; END $$");
    if (passwords) {
      await c.query(`CREATE ROLE owner LOGIN SUPERUSER REPLICATION PASSWORD ${c.escapeLiteral(passwords.url)}`);
      await c.query(`ALTER ROLE rekey_admin PASSWORD ${c.escapeLiteral(passwords.admin)}`);
    }
    await c.end();
    const d = new pg.Client({ host: '127.0.0.1', port, user: root, database: name });
    await d.connect();
    await d.query('CREATE TABLE items (id bigserial PRIMARY KEY, label text NOT NULL)');
    await d.query("INSERT INTO items (label) SELECT 'item ' || g FROM generate_series(1, 5000) g");
    await d.end();
  } else {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: root, database: 'mysql' });
    await c.query(`CREATE DATABASE ${name}`);
    await c.query("CREATE USER IF NOT EXISTS 'rekey_admin'@'%'");
    await c.query("GRANT ALL PRIVILEGES ON *.* TO 'rekey_admin'@'%' WITH GRANT OPTION");
    if (passwords) {
      await c.query("CREATE USER 'owner'@'%' IDENTIFIED BY ?", [passwords.url]);
      await c.query("GRANT ALL PRIVILEGES ON *.* TO 'owner'@'%' WITH GRANT OPTION");
      await c.query("ALTER USER 'rekey_admin'@'%' IDENTIFIED BY ?", [passwords.admin]);
    }
    await c.query(`CREATE TABLE ${name}.items (id BIGINT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(50) NOT NULL)`);
    await c.query(`INSERT INTO ${name}.items (label) SELECT CONCAT('item ', seq) FROM seq_1_to_5000`);
    await c.end();
  }
  return {
    server, name, url: `${engine}://${user}@127.0.0.1:${port}/${name}`,
    // rekey_admin's password is the harness's REKEY_SOURCE_PASSWORD; a passwordless one is named by a variable left unset.
    ...(passwords ? { urlPasswordEnv: URL_PASSWORD_ENV, adminPasswordEnv: 'REKEY_SOURCE_PASSWORD' } : { adminPasswordEnv: 'REKEY_ADOPTED_ADMIN_HAS_NO_PASSWORD' }),
  };
}

/** The bundled `runbookFile` (small, no simulated delays) rehearsed against the user's database, written to dir. */
function adoptedRunbook(runbookFile: string, dir: string, db: UsersDatabase): string {
  return testRunbook(runbookFile, dir, 'adopt', (doc) => {
    doc.setIn(['source', 'database'], db.name);
    doc.setIn(['source', 'password'], { env: db.adminPasswordEnv });
    doc.setIn(['rehearsal', 'source'], { url: db.url, ...(db.urlPasswordEnv !== undefined ? { urlPasswordEnv: db.urlPasswordEnv } : {}) });
    // On a shared server the fence must touch only the application's login.
    doc.setIn(['cutover', 'writerRoles'], ['app']);
    doc.setIn(['cutover', 'sustainSeconds'], 2);
  });
}

describe.each<Engine>(['postgres', 'mysql'])('rekey rehearse --engine %s adopting an existing database (rehearsal.source.url)', (engine) => {
  it('rehearses against the adopted database and leaves its data identical on the new cluster', async () => {
    const cwd = tempDir(`adopt-${engine}`);
    const db = await usersDatabase(engine, cwd);
    const out = await rekey(['rehearse', adoptedRunbook(`rehearsal-${engine}.yaml`, cwd, db), '--json'], cwd);
    const s = summaryOf(out);
    expect({ ok: s.ok, error: s.error }).toEqual({ ok: true, error: undefined });
    expect(s).toMatchObject({ switched: true, endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.mismatched).toBe(0);
    expect(s.validation.tables).toBeGreaterThanOrEqual(2);
    await db.server.stop();
  });
});

describe('rekey rehearse --engine mysql adopting an existing database whose accounts have passwords', () => {
  it('connects with urlPasswordEnv as the URL user and with source.password as rekey_admin, to the adopted server and its restored copy, and never shows either password', async () => {
    const cwd = tempDir('adopt-mysql-passwords');
    const passwords = { url: 'Adopted-Url-P4ss-5521', admin: SECRET };
    const db = await usersDatabase('mysql', cwd, passwords);
    try {
      const out = await rekey(['rehearse', adoptedRunbook('rehearsal-mysql.yaml', cwd, db), '--json'], cwd, { [URL_PASSWORD_ENV]: passwords.url });
      const s = summaryOf(out);
      expect({ ok: s.ok, error: s.error }).toEqual({ ok: true, error: undefined });
      expect(s).toMatchObject({ switched: true, endpointWritable: true });
      expect(s.writes.acknowledged).toBeGreaterThan(0);
      expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
      expect(s.validation.mismatched).toBe(0);
      const runDir = join(cwd, '.rekey', 'runs', s.runId);
      const texts = [out.stdout, out.stderr, readFileSync(join(runDir, 'journal.jsonl'), 'utf8'), readFileSync(join(runDir, 'report.md'), 'utf8')];
      for (const t of texts) for (const p of [passwords.url, passwords.admin]) expect(t).not.toContain(p);
    } finally {
      await db.server.stop();
    }
  });
});

describe('rekey rehearse runbooks/rehearsal-rds-mysql.yaml (RDS for MySQL) adopting an existing database (rehearsal.source.url)', () => {
  it('takes the position from a read replica of the adopted server and leaves its rows identical on the new instance', async () => {
    const cwd = tempDir('adopt-rds-mysql');
    const db = await usersDatabase('mysql', cwd);
    const out = await rekey(['rehearse', adoptedRunbook('rehearsal-rds-mysql.yaml', cwd, db), '--json', '--keep'], cwd);
    const s = summaryOf(out);
    expect({ ok: s.ok, error: s.error }).toEqual({ ok: true, error: undefined });
    expect(s).toMatchObject({ switched: true, endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.mismatched).toBe(0);
    const reg = registryOf(cwd, s.runId);
    expect(reg.created.map((c) => c.action)).toContain('CreateDBInstanceReadReplica');
    // The temporary read replica is gone once the snapshot of it was taken.
    expect(Object.values(reg.clusters).filter((c) => c.instance?.replicaOf !== undefined)).toEqual([]);
    // The new instance is the restore on the rehearsal's target server (kept, stopped): the user's rows, unchanged.
    const target = await startMariadb({ dir: join(cwd, '.rekey', 'runs', s.runId, 'rehearsal', 'servers', 'my-target'), serverId: 2, reuse: true });
    const items = async (port: number): Promise<unknown[]> => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', database: db.name });
      try {
        return (await c.query('SELECT id, label FROM items ORDER BY id'))[0] as unknown[];
      } finally {
        await c.end();
      }
    };
    try {
      const [adopted, restored] = await Promise.all([items(db.server.port), items(target.port)]);
      expect(adopted).toHaveLength(5000);
      expect(restored).toEqual(adopted);
    } finally {
      await target.stop();
    }
    await db.server.stop();
  });
});

// RDS DB instances (issue 6): the bundled rehearsal-rds-* runbooks, snapshot -> CopyDBSnapshot under the new key ->
// restore -> rename cutover, with live writes; and a runner killed after every step.
type RdsEngine = 'postgres' | 'mysql';
describe.each<RdsEngine>(['postgres', 'mysql'])('rekey rehearse runbooks/rehearsal-rds-%s.yaml (RDS DB instance) end to end', (engine) => {
  const rdsRunbook = (dir: string, name: string, edit: (doc: RunbookDoc) => void = () => undefined): string => testRunbook(`rehearsal-rds-${engine}.yaml`, dir, name, edit);
  /** Whether the instance that answers to the source identifier is encrypted with the runbook's new key. */
  const servesNewKey = (reg: Registry, id: string, alias: string): boolean => {
    const key = Object.values(reg.keys).find((k) => k.aliases.includes(alias));
    const inst = reg.clusters[id];
    return key !== undefined && inst?.instance !== undefined && inst.kmsKeyArn === key.arn;
  };
  const newKeyAlias = (path: string): string => String(parseDocument(readFileSync(path, 'utf8')).getIn(['target', 'kmsKeyId']));
  const sourceId = (path: string): string => String(parseDocument(readFileSync(path, 'utf8')).getIn(['source', 'identifier']));

  it('happy path: 0 lost, 0 duplicated, 0 mismatched, sequences not behind, the source name serves the new key', async () => {
    const cwd = tempDir(`rds-happy-${engine}`);
    const path = rdsRunbook(cwd, 'rds');
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect({ ok: s.ok, error: s.error }).toEqual({ ok: true, error: undefined });
    expect(out.code).toBe(0);
    expect(s).toMatchObject({ status: 'succeeded', endpointWritable: true, switched: true });
    expectCleanCutover(s);
    const reg = registryOf(cwd, s.runId);
    expect(servesNewKey(reg, sourceId(path), newKeyAlias(path))).toBe(true);
    const journal = readFileSync(join(cwd, '.rekey', 'runs', s.runId, 'journal.jsonl'), 'utf8');
    expect(journal).not.toContain(SECRET);
  });

  it('a runner killed with SIGKILL after each step resumes to the end: no second read replica, snapshot, copy or instance, no lost write', async () => {
    const cwd = tempDir(`rds-kill-${engine}`);
    const path = rdsRunbook(cwd, 'rds-kill', (doc) => doc.setIn(['cutover', 'sustainSeconds'], 2));
    const { runId, final, killedAfter } = await killAfterEachStep(path, cwd);
    expect(flowSteps(cwd, runId)).toContain('copy-snapshot');
    expect(killedAfter).toEqual(flowSteps(cwd, runId));
    const s = summaryOf(final);
    expect(final.code).toBe(0);
    expect(s).toMatchObject({ ok: true, endpointWritable: true, switched: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.mismatched).toBe(0);
    expect(s.sequences.behind).toBe(0);
    const reg = registryOf(cwd, runId);
    const made = reg.created.map((c) => `${c.action} ${c.identifier}`);
    expect(new Set(made).size).toBe(made.length);
    expect(reg.created.map((c) => c.action).sort()).toEqual(
      [
        ...(engine === 'mysql' ? ['CreateDBInstanceReadReplica'] : []),
        'CopyDBSnapshot', 'CreateDBSnapshot', 'CreateEndpoint', 'CreateEndpoint', 'CreateReplicationInstance', 'CreateReplicationTask', 'RestoreDBInstanceFromDBSnapshot',
      ].sort(),
    );
    // The temporary read replica is gone once the snapshot of it was taken.
    expect(Object.values(reg.clusters).filter((c) => c.instance?.replicaOf !== undefined)).toEqual([]);
    expect(servesNewKey(reg, sourceId(path), newKeyAlias(path))).toBe(true);
  }, 600_000);
});
