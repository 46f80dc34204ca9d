// An adopted PostgreSQL source whose logins have passwords (pg_hba scram-sha-256 on TCP), rehearsed with --keep:
// the subscriptions on the rehearsal's servers (the DMS stand-in's, and the native strategy's own) authenticate
// through a password file that exists only while a runner does, so no password is left in plain text anywhere
// under the run's directory: not in pg_subscription, the WAL, a server log, the journal, the reports or a dump.
//
// An adopted MariaDB source whose accounts have passwords: MariaDB keeps a replica's MASTER_PASSWORD in plain text in
// master.info, so the rehearsal clears it when a runner closes the servers and sets it again when the next one opens
// them (src/rehearsal/engines/replica-password.ts). The case shows the password in master.info after a SIGKILL (no
// runner could clear it: the grep can fail), gone after the next runner stopped at the cutover gate, and replication
// working again for the runner after that.
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { parseDocument } from 'yaml';
import { startMariadb, startPostgres } from '../../src/rehearsal/servers/index.js';
import type { LocalServer } from '../../src/rehearsal/servers/index.js';
import { crashAt, onlyRun } from '../helpers/kill-matrix.js';
import { rekey, SECRET, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';

afterAll(stopServersLeftUnder);

const URL_PASSWORD = 'Adopted-Owner-Pw-40917';
const URL_PASSWORD_ENV = 'REKEY_ADOPTED_URL_PASSWORD';

/** The user's own server: database `shop` with `items`, `owner` (the URL's user) and `rekey_admin`, both with passwords. */
async function usersServer(cwd: string): Promise<LocalServer> {
  const server = await startPostgres({ dir: join(cwd, 'users-pg') });
  const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
  await c.connect();
  await c.query('CREATE DATABASE shop');
  await c.query(`CREATE ROLE owner LOGIN SUPERUSER REPLICATION PASSWORD ${c.escapeLiteral(URL_PASSWORD)}`);
  await c.query(`CREATE ROLE rekey_admin LOGIN SUPERUSER REPLICATION PASSWORD ${c.escapeLiteral(SECRET)}`);
  await c.end();
  const d = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'shop' });
  await d.connect();
  await d.query('CREATE TABLE items (id bigserial PRIMARY KEY, label text NOT NULL)');
  await d.query("INSERT INTO items (label) SELECT 'item ' || g FROM generate_series(1, 500) g");
  // From here on every TCP login needs its password (the local socket stays trusted for the test's own cleanup).
  writeFileSync(join(server.dir, 'data', 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost replication all 127.0.0.1/32 scram-sha-256\n');
  await d.query('SELECT pg_reload_conf()');
  await d.end();
  return server;
}

/** Every regular file under dir (the servers' data directories included) that holds `needle`. */
function filesHolding(dir: string, needles: string[]): string[] {
  const hits: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile()) {
        const bytes = readFileSync(path);
        for (const n of needles) if (bytes.includes(n)) hits.push(`${path}: ${n === SECRET ? 'source.password' : 'urlPasswordEnv'}`);
      }
    }
  };
  walk(dir);
  return hits;
}

describe.each(['dms-cdc', 'native'])('rekey rehearse --keep, strategy %s, adopting a PostgreSQL database whose logins have passwords', (strategy) => {
  it('authenticates its subscriptions through a password file and leaves no password on disk', async () => {
    const cwd = tempDir(`adopt-secret-${strategy}`);
    const server = await usersServer(cwd);
    try {
      const doc = parseDocument(readFileSync(resolve('runbooks/rehearsal-postgres.yaml'), 'utf8'));
      if (strategy === 'native') {
        doc.set('strategy', 'native');
        doc.delete('dms');
      }
      doc.setIn(['source', 'database'], 'shop');
      doc.setIn(['rehearsal', 'source'], { url: `postgres://owner@127.0.0.1:${server.port}/shop`, urlPasswordEnv: URL_PASSWORD_ENV });
      doc.setIn(['rehearsal', 'delays'], { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 });
      doc.setIn(['rehearsal', 'load', 'writesPerSecond'], 50);
      doc.setIn(['cutover', 'writerRoles'], ['app']);
      doc.setIn(['cutover', 'sustainSeconds'], 1);
      const path = join(cwd, 'adopt.yaml');
      writeFileSync(path, doc.toString());

      const out = await rekey(['rehearse', path, '--json', '--keep'], cwd, { [URL_PASSWORD_ENV]: URL_PASSWORD });
      const s = summaryOf(out);
      expect({ ok: s.ok, error: s.error }).toEqual({ ok: true, error: undefined });
      expect(s).toMatchObject({ switched: true, endpointWritable: true });
      // The writes reached the new database: the subscription logged in to the scram-only source.
      expect(s.writes.acknowledged).toBeGreaterThan(0);
      expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
      expect(s.validation.mismatched).toBe(0);

      const worldDir = join(cwd, '.rekey', 'runs', s.runId, 'rehearsal');
      // --keep kept the servers' data directories; the password file went with the runner.
      expect(readdirSync(join(worldDir, 'servers')).filter((d) => d.startsWith('pg-'))).toEqual(['pg-source', 'pg-target']);
      expect(existsSync(join(worldDir, 'servers', 'pgpass'))).toBe(false);
      expect(filesHolding(join(cwd, '.rekey'), [URL_PASSWORD, SECRET])).toEqual([]);
      for (const text of [out.stdout, out.stderr]) for (const p of [URL_PASSWORD, SECRET]) expect(text).not.toContain(p);
    } finally {
      await server.stop();
    }
  }, 300_000);
});

/** The user's own MariaDB: database `shop` with `items`, `owner` (the URL's user) and `rekey_admin`, both with passwords. */
async function usersMariadb(cwd: string): Promise<LocalServer> {
  const server = await startMariadb({ dir: join(cwd, 'users-my'), serverId: 7 });
  const c = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root', database: 'mysql' });
  try {
    await c.query('CREATE DATABASE shop');
    for (const [user, password] of [['owner', URL_PASSWORD], ['rekey_admin', SECRET]] as const) {
      await c.query(`CREATE USER '${user}'@'%' IDENTIFIED BY ?`, [password]);
      await c.query(`GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%' WITH GRANT OPTION`);
    }
    await c.query('CREATE TABLE shop.items (id BIGINT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(50) NOT NULL)');
    await c.query("INSERT INTO shop.items (label) SELECT CONCAT('item ', seq) FROM seq_1_to_500");
  } finally {
    await c.end();
  }
  return server;
}

describe('strategy native adopting a MariaDB database whose accounts have passwords', () => {
  it('keeps the replica password in master.info only while a runner is alive, and sets it again for the next runner', async () => {
    const cwd = tempDir('adopt-secret-mysql');
    const server = await usersMariadb(cwd);
    const env = { [URL_PASSWORD_ENV]: URL_PASSWORD };
    try {
      const doc = parseDocument(readFileSync(resolve('runbooks/rehearsal-mysql.yaml'), 'utf8'));
      doc.set('strategy', 'native');
      doc.delete('dms');
      doc.setIn(['source', 'database'], 'shop');
      doc.setIn(['rehearsal', 'source'], { url: `mysql://owner@127.0.0.1:${server.port}/shop`, urlPasswordEnv: URL_PASSWORD_ENV });
      doc.setIn(['rehearsal', 'delays'], { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 });
      doc.setIn(['rehearsal', 'load', 'writesPerSecond'], 50);
      doc.setIn(['cutover', 'writerRoles'], ['app']);
      doc.setIn(['cutover', 'sustainSeconds'], 1);
      const path = join(cwd, 'adopt.yaml');
      writeFileSync(path, doc.toString());

      // Killed once replication runs (rds_set_external_source was given rekey_admin's password): nothing cleared it.
      await crashAt('step:before:validate', ['run', path, '--rehearsal', '--json'], cwd, env);
      const runId = onlyRun(cwd);
      const rekeyDir = join(cwd, '.rekey');
      const masterInfo = join(rekeyDir, 'runs', runId, 'rehearsal', 'servers', 'my-target', 'data', 'master.info');
      expect(filesHolding(rekeyDir, [URL_PASSWORD, SECRET])).toEqual([`${masterInfo}: source.password`]);

      // The next runner sets it again, stops at the cutover gate and clears it as it stops the servers.
      const atGate = await rekey(['resume', runId, '--json'], cwd, env);
      expect({ code: atGate.code, status: summaryOf(atGate).status }).toEqual({ code: 3, status: 'awaiting_approval' });
      expect(existsSync(masterInfo)).toBe(true);
      expect(filesHolding(rekeyDir, [URL_PASSWORD, SECRET])).toEqual([]);

      // The last runner gives the replica its password back: the drain's sentinel and every write arrive through it.
      const done = await rekey(['resume', runId, '--json', '--approve', 'cutover'], cwd, env);
      expect(done.stdout + done.stderr).toContain('the replica on my-target has its password again');
      const s = summaryOf(done);
      expect({ code: done.code, ok: s.ok, error: s.error }).toEqual({ code: 0, ok: true, error: undefined });
      expect(s).toMatchObject({ switched: true, endpointWritable: true });
      expect(s.writes.acknowledged).toBeGreaterThan(0);
      expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
      expect(filesHolding(rekeyDir, [URL_PASSWORD, SECRET])).toEqual([]);
      for (const out of [atGate, done]) for (const text of [out.stdout, out.stderr]) for (const p of [URL_PASSWORD, SECRET]) expect(text).not.toContain(p);
    } finally {
      await server.stop();
    }
  }, 300_000);
});
