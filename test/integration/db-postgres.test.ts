// The PostgreSQL adapter against a real PostgreSQL server: the shared one from the global setup
// (REKEY_TEST_PG_SOURCE_URL) or a throwaway one started here. Everything lives in a database made for this file;
// roles and slots are cluster-wide, so their names carry this file's random suffix.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { defaultConnector } from '../../src/db/connector.js';
import { compareLsns, createPostgresAdapter, parseLsn, poolConfig } from '../../src/db/postgres.js';
import { filterTables, matchesTablePattern, quoteIdent } from '../../src/db/sql.js';
import type { DbAdapter, DbEndpoint } from '../../src/db/types.js';
import { postgresBinDir, startPostgres } from '../../src/rehearsal/servers/index.js';
import type { LocalServer } from '../../src/rehearsal/servers/index.js';

const sfx = Math.random().toString(36).slice(2, 8);
const dbName = `rekey_dbpg_${sfx}`;
const role = (r: string): string => `rk_${sfx}_${r}`;
const slotName = (s: string): string => `rk_${sfx}_${s}`;

let server: LocalServer | undefined;
let serverDir: string | undefined;
let adminUrl: URL;
let endpoint: DbEndpoint;
let db: DbAdapter;
let sql: pg.Client;
const createdRoles: string[] = [];
const createdSlots: string[] = [];

function client(over: Partial<pg.ClientConfig> = {}): pg.Client {
  const c = new pg.Client({
    host: adminUrl.hostname,
    port: Number(adminUrl.port),
    user: decodeURIComponent(adminUrl.username),
    password: decodeURIComponent(adminUrl.password) || undefined,
    database: dbName,
    ...over,
  });
  c.on('error', () => undefined);
  return c;
}

async function createRole(name: string, attrs: string): Promise<void> {
  await sql.query(`CREATE ROLE ${quoteIdent(name, 'postgres')} ${attrs}`);
  createdRoles.push(name);
}

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  const url = process.env.REKEY_TEST_PG_SOURCE_URL;
  if (url) {
    adminUrl = new URL(url);
  } else {
    serverDir = await mkdtemp(join(tmpdir(), 'rekey-dbpg-'));
    await chmod(serverDir, 0o755);
    server = await startPostgres({ dir: join(serverDir, 'pg') });
    adminUrl = new URL(server.adminUrl);
  }
  const admin = client({ database: adminUrl.pathname.slice(1) || 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quoteIdent(dbName, 'postgres')}`);
  await admin.end();
  endpoint = {
    host: adminUrl.hostname,
    port: Number(adminUrl.port),
    database: dbName,
    user: decodeURIComponent(adminUrl.username),
    password: decodeURIComponent(adminUrl.password) || undefined,
  };
  sql = client();
  await sql.connect();
  db = await createPostgresAdapter(endpoint);
}, 60_000);

afterAll(async () => {
  await db?.close();
  for (const s of createdSlots) {
    await sql.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [s]).catch(() => undefined);
  }
  await sql?.end();
  if (adminUrl) {
    const admin = client({ database: adminUrl.pathname.slice(1) || 'postgres' });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName, 'postgres')} WITH (FORCE)`);
    for (const r of createdRoles) await admin.query(`DROP ROLE IF EXISTS ${quoteIdent(r, 'postgres')}`);
    await admin.end();
  }
  await server?.stop();
  if (serverDir) await rm(serverDir, { recursive: true, force: true });
}, 60_000);

describe('connecting', () => {
  it('reports the server version', async () => {
    expect(await db.serverVersion()).toMatch(/^\d+(\.\d+)?/);
  });

  it('names the endpoint but never the password when a connection fails', async () => {
    const secret = 'very-Secret-pw-123';
    const err = await createPostgresAdapter({ ...endpoint, user: role('nobody'), password: secret }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toContain(`${endpoint.host}:${endpoint.port}/${dbName}`);
    expect(err?.message).not.toContain(secret);
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain(secret);
  });

  it('the default connector opens postgres adapters', async () => {
    const other = await defaultConnector.open('postgres', endpoint);
    expect(other.engine).toBe('postgres');
    await other.close();
  });
});

describe('preflight', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE TYPE mood AS ENUM ('ok', 'sad');
      CREATE TYPE pair AS (a int, b text);
      CREATE DOMAIN ip_domain AS inet;
      CREATE TABLE pk (id int PRIMARY KEY, v text);
      CREATE TABLE nopk (v text);
      CREATE TABLE uniq_ident (k int NOT NULL, v text);
      CREATE UNIQUE INDEX uniq_ident_k ON uniq_ident (k);
      ALTER TABLE uniq_ident REPLICA IDENTITY USING INDEX uniq_ident_k;
      CREATE TABLE uniq_only (k int NOT NULL UNIQUE);
      CREATE TABLE part_nopk (d date, v text) PARTITION BY RANGE (d);
      CREATE TABLE awsdms_ddl_audit (c_key bigint);
      CREATE TABLE typed (
        id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        by_default int GENERATED BY DEFAULT AS IDENTITY,
        plain int, label text,
        m mood, moods mood[], addr inet, addr2 ip_domain, mac macaddr, doc tsvector, q tsquery,
        span int4range, p pair, pt point, blob oid);
      INSERT INTO pk SELECT g, 'v' || g FROM generate_series(1, 500) g;
      ANALYZE pk;
    `);
  });

  it('passes the replication checks on a logical-decoding superuser connection', async () => {
    const checks = await db.replicationChecks();
    const byId = new Map(checks.map((c) => [c.id, c]));
    expect([...byId.keys()].sort()).toEqual(
      [
        'pg.idle_in_transaction_session_timeout',
        'pg.max_slot_wal_keep_size',
        'pg.replication_privilege',
        'pg.replication_slots',
        'pg.wal_level',
        'pg.wal_sender_timeout',
        'pg.wal_senders',
      ].sort(),
    );
    for (const id of ['pg.wal_level', 'pg.replication_slots', 'pg.wal_senders', 'pg.replication_privilege', 'pg.wal_sender_timeout']) {
      expect(byId.get(id)).toMatchObject({ ok: true, severity: 'error' });
    }
    expect(byId.get('pg.replication_privilege')?.message).toMatch(/superuser/);
    expect(byId.get('pg.max_slot_wal_keep_size')).toMatchObject({ ok: true, severity: 'warning' });
  });

  it('flags a role that cannot create slots and an idle-in-transaction timeout', async () => {
    const plain = role('plain');
    await createRole(plain, `LOGIN PASSWORD 'plain-pw'`);
    await sql.query(`ALTER ROLE ${quoteIdent(plain, 'postgres')} IN DATABASE ${quoteIdent(dbName, 'postgres')} SET idle_in_transaction_session_timeout = '5s'`);
    const asPlain = await createPostgresAdapter({ ...endpoint, user: plain, password: 'plain-pw' });
    try {
      const checks = await asPlain.replicationChecks();
      const priv = checks.find((c) => c.id === 'pg.replication_privilege');
      expect(priv).toMatchObject({ ok: false, severity: 'error' });
      expect(priv?.message).toContain(plain);
      const idle = checks.find((c) => c.id === 'pg.idle_in_transaction_session_timeout');
      expect(idle).toMatchObject({ ok: false, severity: 'warning' });
      expect(idle?.message).toContain('5000 ms');
    } finally {
      await asPlain.close();
    }
  });

  it('lists tables without a primary key or a replica-identity index', async () => {
    const names = (await db.tablesWithoutPrimaryKey()).map((t) => `${t.schema}.${t.name}`);
    expect(names).toEqual(expect.arrayContaining(['public.nopk', 'public.uniq_only', 'public.part_nopk']));
    expect(names).not.toContain('public.pk');
    expect(names).not.toContain('public.uniq_ident');
    expect(names).not.toContain('public.typed');
    expect(names).not.toContain('public.awsdms_ddl_audit');
  });

  it('names the columns DMS handles poorly and GENERATED ALWAYS identities', async () => {
    const concerns = (await db.columnConcerns()).filter((c) => c.name === 'typed');
    const cols = concerns.map((c) => c.column).sort();
    expect(cols).toEqual(['addr', 'addr2', 'blob', 'doc', 'id', 'm', 'mac', 'moods', 'p', 'pt', 'q', 'span'].sort());
    expect(concerns.find((c) => c.column === 'id')?.reason).toMatch(/GENERATED ALWAYS/);
    expect(concerns.find((c) => c.column === 'moods')).toMatchObject({ type: 'mood[]', reason: expect.stringMatching(/enum/) });
    expect(concerns.find((c) => c.column === 'addr2')?.reason).toMatch(/inet/);
    expect(concerns.find((c) => c.column === 'span')?.reason).toMatch(/range/);
    expect(concerns.find((c) => c.column === 'p')?.reason).toMatch(/composite/);
    expect(concerns.find((c) => c.column === 'pt')?.reason).toMatch(/geometric/);
    expect(concerns.find((c) => c.column === 'blob')?.reason).toMatch(/large object/);
  });

  it('estimates table sizes from statistics', async () => {
    const sizes = await db.tableSizes();
    const pk = sizes.find((s) => s.schema === 'public' && s.name === 'pk');
    expect(pk?.estimatedRows).toBe(500);
    expect(pk?.bytes).toBeGreaterThan(8192);
    const empty = sizes.find((s) => s.name === 'nopk');
    expect(empty?.estimatedRows).toBe(0);
  });
});

describe('slots and positions', () => {
  it('creates a test_decoding slot once and returns the same one again', async () => {
    const name = slotName('main');
    createdSlots.push(name);
    expect(await db.slot(name)).toBeUndefined();
    const first = await db.ensureLogicalSlot(name, 'test_decoding');
    expect(first).toMatchObject({ name, plugin: 'test_decoding', database: dbName, active: false });
    expect(first.confirmedFlushLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    const again = await db.ensureLogicalSlot(name, 'test_decoding');
    expect(again).toEqual(first);
    const count = await sql.query('SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1', [name]);
    expect(count.rows[0].n).toBe(1);
    const now = await sql.query('SELECT pg_current_wal_lsn()::text AS lsn');
    expect(db.comparePositions(first.confirmedFlushLsn!, now.rows[0].lsn)).toBeLessThanOrEqual(0);
  });

  it('reads the WAL the source retains for a slot, growing as the source writes and nobody reads', async () => {
    const name = slotName('backlog');
    createdSlots.push(name);
    expect(await db.slotRetainedWalBytes!(name)).toBeUndefined();
    await db.ensureLogicalSlot(name, 'test_decoding');
    const before = await db.slotRetainedWalBytes!(name);
    expect(before).toBeGreaterThanOrEqual(0);
    await sql.query("SELECT pg_logical_emit_message(true, 'rekey-test', repeat('x', 100000))");
    const after = await db.slotRetainedWalBytes!(name);
    // At least most of the 100 kB message (the record's exact size in WAL is the server's business).
    expect(after! - before!).toBeGreaterThanOrEqual(50_000);
  });

  it('refuses a slot of that name with another plugin', async () => {
    const name = slotName('pgout');
    createdSlots.push(name);
    await sql.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [name]);
    await expect(db.ensureLogicalSlot(name, 'test_decoding')).rejects.toThrow(/plugin pgoutput/);
    expect((await db.slot(name))?.plugin).toBe('pgoutput');
  });

  it('drops a slot even while a walsender streams from it', async () => {
    const name = slotName('busy');
    createdSlots.push(name);
    await db.ensureLogicalSlot(name, 'test_decoding');
    const bin = join(await postgresBinDir(), 'pg_recvlogical');
    let child: ChildProcess | undefined;
    try {
      child = spawn(
        bin,
        ['-h', endpoint.host, '-p', String(endpoint.port), '-U', endpoint.user, '-d', dbName, '-S', name, '--start', '--no-loop', '-f', '-'],
        { stdio: 'ignore', env: { ...process.env, PGPASSWORD: endpoint.password ?? '' } },
      );
      await waitFor(async () => (await db.slot(name))?.active === true);
      expect(await db.dropSlotIfExists(name)).toBe(true);
      expect(await db.slot(name)).toBeUndefined();
      expect(await db.dropSlotIfExists(name)).toBe(false);
    } finally {
      if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
    }
  });

  it('reads a seed position only through a function that exists', async () => {
    await expect(db.seedPosition('aurora_volume_logical_start_lsn')).rejects.toThrow(/aurora_volume_logical_start_lsn\(\) does not exist/);
    await expect(db.seedPosition('rds_tools.logical_seed_lsn')).rejects.toThrow(/rds_tools\.logical_seed_lsn\(\).*CREATE EXTENSION rds_tools/);
    await sql.query(`
      CREATE SCHEMA rds_tools;
      CREATE FUNCTION rds_tools.logical_seed_lsn() RETURNS pg_lsn LANGUAGE sql AS $$ SELECT '2/16B3748'::pg_lsn $$;
      CREATE FUNCTION public.aurora_volume_logical_start_lsn() RETURNS pg_lsn LANGUAGE sql AS $$ SELECT 'A/0'::pg_lsn $$;
    `);
    expect(await db.seedPosition('rds_tools.logical_seed_lsn')).toBe('2/16B3748');
    expect(await db.seedPosition('aurora_volume_logical_start_lsn')).toBe('A/0');
  });

  it('compares LSNs as 64-bit numbers, not as text', () => {
    expect(parseLsn('1/0')).toBe(1n << 32n);
    expect(compareLsns('0/16B3748', '0/16B3748')).toBe(0);
    expect(compareLsns('0/9', '0/10')).toBeLessThan(0);
    expect(compareLsns('A/0', '9/FFFFFFFF')).toBeGreaterThan(0);
    expect(compareLsns('0/FFFFFFFF', '1/0')).toBeLessThan(0);
    expect(db.comparePositions('10/0', '2/0')).toBeGreaterThan(0);
    expect(() => compareLsns('mysql-bin.000001:4', '0/0')).toThrow(/not a PostgreSQL LSN/);
  });
});

describe('sentinel', () => {
  it('creates the table once, writes and finds a token', async () => {
    expect(await db.hasSentinel('rk_sentinel', 'tok-1')).toBe(false);
    await db.ensureSentinelTable('rk_sentinel');
    await db.ensureSentinelTable('rk_sentinel');
    expect(await db.hasSentinel('rk_sentinel', 'tok-1')).toBe(false);
    await db.writeSentinel('rk_sentinel', 'tok-1');
    await db.writeSentinel('rk_sentinel', 'tok-1');
    expect(await db.hasSentinel('rk_sentinel', 'tok-1')).toBe(true);
    expect(await db.hasSentinel('rk_sentinel', 'tok-2')).toBe(false);
    const rows = await sql.query('SELECT token, written_at FROM public.rk_sentinel');
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0].written_at).toBeInstanceOf(Date);
  });

  it('commits the token where CDC can read it at once, even when the database commits asynchronously', async () => {
    // Logical decoding reads only flushed WAL, like DMS's slot: an asynchronous commit would show up there only
    // after the WAL writer's next round (165-410 ms on these servers), which the drain would spend fenced.
    await sql.query(`ALTER DATABASE ${quoteIdent(dbName, 'postgres')} SET synchronous_commit = off`);
    const slot = slotName('sentinel_flush');
    createdSlots.push(slot);
    await sql.query("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot]);
    const async = await createPostgresAdapter(endpoint);
    try {
      const fresh = client();
      await fresh.connect();
      const setting = await fresh.query<{ v: string }>("SELECT current_setting('synchronous_commit') AS v").finally(() => fresh.end());
      expect(setting.rows[0]?.v).toBe('off');
      await async.writeSentinel('rk_sentinel', 'tok-flushed');
      const seen = await sql.query<{ data: string }>('SELECT data FROM pg_logical_slot_peek_changes($1, NULL, NULL)', [slot]);
      expect(seen.rows.map((r) => r.data).join('\n')).toContain("'tok-flushed'");
    } finally {
      await async.close();
      await sql.query(`ALTER DATABASE ${quoteIdent(dbName, 'postgres')} RESET synchronous_commit`);
    }
  });
});

describe('fence', () => {
  const writer = role('writer');
  const off = role('off');
  const limited = role('limited');
  const spared = role('spared');
  const attrs = async (): Promise<unknown[]> =>
    (
      await sql.query<Record<string, unknown>>(
        'SELECT rolname, rolcanlogin, rolconnlimit, rolsuper, rolreplication FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname',
        [[writer, off, limited, spared]],
      )
    ).rows;

  beforeAll(async () => {
    await createRole(writer, `LOGIN PASSWORD 'writer-pw'`);
    await createRole(off, `NOLOGIN PASSWORD 'off-pw'`);
    await createRole(limited, `LOGIN CONNECTION LIMIT 3 PASSWORD 'limited-pw'`);
    await createRole(spared, `LOGIN PASSWORD 'spared-pw'`);
    await createRole(`rdsfake_${sfx}`, 'LOGIN');
    await sql.query(`CREATE TABLE fenced_writes (n int)`);
    for (const r of [writer, limited, spared]) {
      await sql.query(`GRANT INSERT, SELECT ON fenced_writes TO ${quoteIdent(r, 'postgres')}`);
    }
  });

  it('lists login roles except the excluded, rds*/pg_* and the current user', async () => {
    const principals = await db.writerPrincipals([spared]);
    expect(principals).toEqual(expect.arrayContaining([writer, limited]));
    expect(principals).not.toContain(spared);
    expect(principals).not.toContain(off);
    expect(principals).not.toContain(`rdsfake_${sfx}`);
    expect(principals).not.toContain(endpoint.user);
    expect(principals.filter((p) => p.startsWith('pg_'))).toEqual([]);
  });

  it('openSessions lists another client of rekey\'s own login, never rekey\'s own connections', async () => {
    const other = client({ application_name: 'billing-api' });
    await other.connect();
    const second = await createPostgresAdapter(endpoint);
    try {
      await Promise.all([db.serverVersion(), second.serverVersion()]);
      const open = await db.openSessions([endpoint.user]);
      expect(open).toContainEqual({ user: endpoint.user, client: '127.0.0.1', application: 'billing-api' });
      expect(open.filter((x) => x.application === 'rekey')).toEqual([]);
      expect(open.every((x) => x.user === endpoint.user)).toBe(true);
      await other.end();
      // The backend of a closed client goes away a moment after the client does.
      await new Promise((r) => setTimeout(r, 200));
      const after = await db.openSessions([endpoint.user]);
      expect(after.filter((x) => x.application === 'billing-api')).toEqual([]);
      expect(await db.openSessions([role('nobody-here')])).toEqual([]);
    } finally {
      await other.end().catch(() => undefined);
      await second.close();
    }
  });

  it('stops writers, keeps others working, and unfence restores exactly what was there', async () => {
    const original = await attrs();
    const session = client({ user: writer, password: 'writer-pw' });
    await session.connect();
    await session.query('INSERT INTO fenced_writes VALUES (1)');
    const bystander = client({ user: spared, password: 'spared-pw' });
    await bystander.connect();

    const state = await db.fence([writer, off, limited]);
    expect(state.principals).toEqual([
      { name: writer, before: { rolcanlogin: true, rolconnlimit: -1 } },
      { name: off, before: { rolcanlogin: false, rolconnlimit: -1 } },
      { name: limited, before: { rolcanlogin: true, rolconnlimit: 3 } },
    ]);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);

    // The open session is gone and no new one gets in.
    await expect(session.query('INSERT INTO fenced_writes VALUES (2)')).rejects.toThrow();
    const again = client({ user: writer, password: 'writer-pw' });
    await expect(again.connect()).rejects.toThrow(/not permitted to log in/);
    await again.end().catch(() => undefined);
    await bystander.query('INSERT INTO fenced_writes VALUES (3)');
    await bystander.end();

    await db.unfence(state);
    expect(await attrs()).toEqual(original);
    const back = client({ user: writer, password: 'writer-pw' });
    await back.connect();
    await back.query('INSERT INTO fenced_writes VALUES (4)');
    await back.end();
    const off2 = client({ user: off, password: 'off-pw' });
    await expect(off2.connect()).rejects.toThrow(/not permitted to log in/);
    await off2.end().catch(() => undefined);
    const written = await sql.query<{ n: number }>('SELECT n FROM fenced_writes ORDER BY n');
    expect(written.rows.map((r) => r.n)).toEqual([1, 3, 4]);

    // Unfencing twice changes nothing more.
    await db.unfence(state);
    expect(await attrs()).toEqual(original);
  });

  it('journals the state before changing anything, and a re-fence after a crash restores the original, not the half-fenced', async () => {
    const original = await attrs();
    let seenBefore: unknown;
    const first = await db.fence([writer], {
      beforeChange: async (state) => {
        seenBefore = state.principals;
        // Nothing has been altered yet when the caller gets to journal the state.
        const now = await sql.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [writer]);
        expect(now.rows[0]?.rolcanlogin).toBe(true);
      },
    });
    expect(seenBefore).toEqual(first.principals);
    // A second attempt (the runner died after the ALTER) reads NOLOGIN now, but keeps the journaled "before".
    const second = await db.fence([writer], { previous: first });
    expect(second.principals).toEqual([{ name: writer, before: { rolcanlogin: true, rolconnlimit: -1 } }]);
    await db.unfence(second);
    expect(await attrs()).toEqual(original);
  });

  it('an empty fence runs no statement; stillFenced names what an unfence left locked', async () => {
    const original = await attrs();
    expect(await db.fence([])).toMatchObject({ principals: [] });
    await db.unfence({ principals: [], at: new Date().toISOString() });
    expect(await attrs()).toEqual(original);
    const state = await db.fence([writer]);
    expect(await db.stillFenced?.(state)).toEqual([writer]);
    await db.unfence(state);
    expect(await db.stillFenced?.(state)).toEqual([]);
  });

  it('refuses to fence its own role or an unknown one, changing nothing', async () => {
    const before = await attrs();
    await expect(db.fence([writer, endpoint.user])).rejects.toThrow(/itself connects as/);
    await expect(db.fence([writer, role('ghost')])).rejects.toThrow(/unknown role/);
    expect(await attrs()).toEqual(before);
  });
});

describe('validation', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE SCHEMA app;
      CREATE SCHEMA other;
      CREATE TABLE app.orders (id int PRIMARY KEY, note text, at timestamptz, amount numeric);
      CREATE TABLE app.orders_copy (LIKE app.orders);
      CREATE TABLE app.skip_me (id int);
      CREATE TABLE app."Mixed ""Case""" (id int);
      CREATE TABLE app.awsdms_apply_exceptions (id int);
      CREATE TABLE app.events (d date, n int) PARTITION BY RANGE (d);
      CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
      CREATE TABLE other.orders (id int);
      INSERT INTO app.orders SELECT g, 'n' || g, '2024-01-01 00:00+00'::timestamptz + g * interval '1 hour', g * 1.5
        FROM generate_series(1, 200) g;
      INSERT INTO app.orders_copy SELECT * FROM app.orders ORDER BY id DESC;
      INSERT INTO app.events VALUES ('2024-03-01', 1), ('2024-04-01', 2);
    `);
  });

  it('matches schema.table patterns with % and applies excludes', async () => {
    const tables = (await db.listTables(['app.%'], ['app.skip%'])).map((t) => `${t.schema}.${t.name}`);
    expect(tables).toEqual(['app.Mixed "Case"', 'app.events', 'app.orders', 'app.orders_copy']);
    const all = (await db.listTables(['%.%'], [])).map((t) => `${t.schema}.${t.name}`);
    expect(all).toEqual(expect.arrayContaining(['other.orders', 'public.pk', 'app.skip_me']));
    expect(all.some((t) => t.startsWith('pg_catalog.') || t.startsWith('information_schema.'))).toBe(false);
    expect(all.some((t) => t.includes('awsdms_'))).toBe(false);
    expect(all).not.toContain('app.events_2024');
    expect((await db.listTables(['%.orders'], [])).map((t) => t.schema)).toEqual(['app', 'other']);
  });

  it('counts rows exactly, including partitioned tables and awkward names', async () => {
    expect(await db.rowCount({ schema: 'app', name: 'orders' })).toBe(200);
    expect(await db.rowCount({ schema: 'app', name: 'events' })).toBe(2);
    expect(await db.rowCount({ schema: 'app', name: 'Mixed "Case"' })).toBe(0);
  });

  it('checksums ignore row order and change when one value changes', async () => {
    const a = await db.checksum({ schema: 'app', name: 'orders' });
    const b = await db.checksum({ schema: 'app', name: 'orders_copy' });
    expect(a).toBe(b);
    expect(a.startsWith('200:')).toBe(true);
    // Same length, one character: a weak sum (of lengths, say) would miss it.
    await sql.query(`UPDATE app.orders_copy SET note = 'm100' WHERE id = 100`);
    const changed = await db.checksum({ schema: 'app', name: 'orders_copy' });
    expect(changed).not.toBe(a);
    await sql.query(`UPDATE app.orders_copy SET note = 'n100' WHERE id = 100`);
    expect(await db.checksum({ schema: 'app', name: 'orders_copy' })).toBe(a);
    // Two rows swapping their notes keep every column's multiset but not the rows.
    await sql.query(`UPDATE app.orders_copy SET note = CASE id WHEN 1 THEN 'n2' ELSE 'n1' END WHERE id IN (1, 2)`);
    expect(await db.checksum({ schema: 'app', name: 'orders_copy' })).not.toBe(a);
    await sql.query(`UPDATE app.orders_copy SET note = 'n' || id WHERE id IN (1, 2)`);
    await sql.query(`UPDATE app.orders_copy SET amount = amount + 0.01 WHERE id = 7`);
    expect(await db.checksum({ schema: 'app', name: 'orders_copy' })).not.toBe(a);
  });

  it('pattern helpers treat everything but % literally', () => {
    expect(matchesTablePattern({ schema: 'app', name: 'a_b' }, 'app.a_b')).toBe(true);
    expect(matchesTablePattern({ schema: 'app', name: 'axb' }, 'app.a_b')).toBe(false);
    expect(matchesTablePattern({ schema: 'app', name: 'a.b' }, 'app.a.b')).toBe(true);
    expect(matchesTablePattern({ schema: 'App', name: 't' }, 'app.%')).toBe(false);
    const refs = [{ schema: 's', name: 't1' }, { schema: 's', name: 't2' }, { schema: 'x', name: 't1' }];
    expect(filterTables(refs, ['%.t1', 's.%'], ['x.%'])).toEqual([{ schema: 's', name: 't1' }, { schema: 's', name: 't2' }]);
    expect(quoteIdent('we"ird', 'postgres')).toBe('"we""ird"');
    expect(quoteIdent('we`ird', 'mysql')).toBe('`we``ird`');
  });
});

describe('consistent-point reads', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE SCHEMA snap;
      CREATE TABLE snap.big (id bigint PRIMARY KEY, note text);
      CREATE TABLE snap.pair (a text, b int, v text, PRIMARY KEY (a, b));
      CREATE TABLE snap.bag (v text);
      INSERT INTO snap.big SELECT g, 'n' || g FROM generate_series(1, 1000) g;
      INSERT INTO snap.pair SELECT chr(97 + g % 3), g, 'v' || g FROM generate_series(1, 30) g;
      INSERT INTO snap.bag VALUES ('x'), ('y');
      CREATE VIEW snap.slow AS SELECT 1 AS s FROM pg_sleep(2);
    `);
  });
  const big = { schema: 'snap', name: 'big' };

  it('reads primary keys: one integer column, composite, none', async () => {
    const r = await db.snapshotReader();
    try {
      expect(await r.primaryKey(big)).toEqual({ columns: ['id'], integer: true });
      expect(await r.primaryKey({ schema: 'snap', name: 'pair' })).toEqual({ columns: ['a', 'b'], integer: false });
      expect(await r.primaryKey({ schema: 'snap', name: 'bag' })).toBeUndefined();
      expect(await r.keyExtent(big, 'id')).toEqual({ min: '1', max: '1000' });
      expect(await r.keySplits({ schema: 'snap', name: 'pair' }, ['a', 'b'], 10)).toEqual([['a', '30'], ['b', '28'], ['c', '29']]);
    } finally {
      await r.close();
    }
  });

  it('a begun reader sees the table as it was, whatever is written after; ranges add up to the whole', async () => {
    const r = await db.snapshotReader();
    try {
      await r.begin();
      const whole = await r.digest(big, true);
      await sql.query(`UPDATE snap.big SET note = 'changed' WHERE id = 500; INSERT INTO snap.big VALUES (1001, 'new')`);
      expect(await r.digest(big, true)).toEqual(whole);
      const parts = await Promise.all([{ to: ['400'] }, { from: ['400'], to: ['700'] }, { from: ['700'] }].map((range) => r.digest(big, true, { key: ['id'], range })));
      expect(parts.map((p) => p.rows)).toEqual([399, 300, 301]);
      expect(parts.reduce((n, p) => n + BigInt(p.sum ?? '0'), 0n).toString()).toBe(whole.sum);
      const fresh = await db.snapshotReader();
      try {
        expect((await fresh.digest(big, true)).rows).toBe(1001);
        const then = await r.rowHashes(big, ['id'], { from: ['499'], to: ['502'] }, 10);
        const now = await fresh.rowHashes(big, ['id'], { from: ['499'], to: ['502'] }, 10);
        expect([...then.keys()]).toEqual(['[499]', '[500]', '[501]']);
        expect(then.get('[500]')).not.toBe(now.get('[500]'));
        expect(then.get('[499]')).toBe(now.get('[499]'));
      } finally {
        await fresh.close();
      }
      // Composite keys compare as row values.
      expect((await r.digest({ schema: 'snap', name: 'pair' }, false, { key: ['a', 'b'], range: { from: ['b', '0'], to: ['c', '0'] } })).rows).toBe(10);
    } finally {
      await r.close();
    }
  });

  it('the typed row hash: each column by its type where that is exact, by text otherwise; equal rows hash equal, any changed value differs', async () => {
    await sql.query(`
      CREATE TYPE snap.mood AS ENUM ('ok', 'sad');
      CREATE TABLE snap.typed (id bigint PRIMARY KEY, n int, t text, v varchar(10), b bool, d date, ts timestamptz, amount numeric(10, 2),
        u uuid, raw bytea, free numeric, f float8, j json, p point, m snap.mood);
      INSERT INTO snap.typed SELECT g, g * 7, 'text ' || g, 'v' || g, g % 2 = 0, date '2026-01-01' + g, timestamptz '2026-01-01 00:00+00' + g * interval '1 minute',
        g / 3.0, md5(g::text)::uuid, decode(md5(g::text), 'hex'), g / 7.0, g / 3.0, json_build_object('g', g), point(g, -g), 'ok'
        FROM generate_series(1, 300) g;
      UPDATE snap.typed SET t = NULL, f = NULL WHERE id % 50 = 0;
      CREATE TABLE snap.typed_copy (LIKE snap.typed INCLUDING ALL);
      INSERT INTO snap.typed_copy SELECT * FROM snap.typed ORDER BY id DESC;
    `);
    const typed = { schema: 'snap', name: 'typed' };
    const copy = { schema: 'snap', name: 'typed_copy' };
    const r = await db.snapshotReader();
    try {
      const spec = await r.hashSpec!(typed);
      expect(spec?.columns.map((c) => `${c.name}:${c.hash}`)).toEqual([
        'id:typed', 'n:typed', 't:typed', 'v:typed', 'b:typed', 'd:typed', 'ts:typed', 'amount:typed',
        'u:typed', 'raw:typed', 'free:text', 'f:text', 'j:text', 'p:text', 'm:text',
      ]);
      expect(await r.hashSpec!(copy)).toEqual(spec);
      // Same rows, other physical order: the same digest, which is not the row text's.
      const whole = await r.digest(typed, spec!);
      expect(whole.rows).toBe(300);
      expect(await r.digest(copy, spec!)).toEqual(whole);
      expect(whole.sum).not.toBe((await r.digest(typed, true)).sum);
      const parts = await Promise.all([{ to: ['100'] }, { from: ['100'] }].map((range) => r.digest(typed, spec!, { key: ['id'], range })));
      expect(parts.reduce((n, p) => n + BigInt(p.sum ?? '0'), 0n).toString()).toBe(whole.sum);
      // One value changed in any kind of column, a NULL filled, or two values swapped between rows: the digest differs.
      for (const change of [
        'UPDATE snap.typed_copy SET amount = amount + 0.01 WHERE id = 7',
        "UPDATE snap.typed_copy SET f = f + 1e-12 WHERE id = 7",
        "UPDATE snap.typed_copy SET j = '{\"g\": 7.0}' WHERE id = 7",
        "UPDATE snap.typed_copy SET m = 'sad' WHERE id = 7",
        "UPDATE snap.typed_copy SET t = 'x' WHERE id = 50",
        "UPDATE snap.typed_copy SET ts = ts + interval '1 microsecond' WHERE id = 7",
        'UPDATE snap.typed_copy SET n = CASE id WHEN 7 THEN 56 ELSE 49 END WHERE id IN (7, 8)',
      ]) {
        await sql.query(`TRUNCATE snap.typed_copy; INSERT INTO snap.typed_copy SELECT * FROM snap.typed ORDER BY id DESC; ${change}`);
        const fresh = await db.snapshotReader();
        try {
          expect([change, (await fresh.digest(copy, spec!)).sum]).not.toEqual([change, whole.sum]);
          const [a, b] = await Promise.all([r.rowHashes(typed, ['id'], {}, 1000, spec), fresh.rowHashes(copy, ['id'], {}, 1000, spec)]);
          expect([change, [...a.keys()].filter((k) => a.get(k) !== b.get(k))]).toEqual([change, expect.arrayContaining([change.includes('50') ? '[50]' : '[7]'])]);
        } finally {
          await fresh.close();
        }
      }
    } finally {
      await r.close();
    }
  });

  it('a statement timeout cuts off a long statement, and the connection stops at its deadline', async () => {
    const bounded = await createPostgresAdapter({ ...endpoint, database: dbName, statementTimeoutMs: 300 });
    try {
      const t0 = Date.now();
      // Whichever comes first: the server's statement_timeout or the client's read timeout at the deadline.
      await expect(bounded.rowCount({ schema: 'snap', name: 'slow' })).rejects.toThrow(/timeout/i);
      expect(poolConfig({ ...endpoint, statementTimeoutMs: 300 })).toMatchObject({ statement_timeout: 300 });
      expect(Date.now() - t0).toBeLessThan(1500);
      await new Promise((r) => setTimeout(r, 350));
      await expect(bounded.rowCount(big)).rejects.toThrow(/statement timeout: the fence time box/);
    } finally {
      await bounded.close();
    }
  });
});

describe('sequences', () => {
  beforeAll(async () => {
    await sql.query(`
      CREATE SCHEMA seqs;
      CREATE TABLE seqs.serial_t (id serial PRIMARY KEY, v text);
      CREATE TABLE seqs.ident_t (id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 10) PRIMARY KEY, v text);
      CREATE SEQUENCE seqs.shared START 5000;
      CREATE TABLE seqs.a (id bigint PRIMARY KEY DEFAULT nextval('seqs.shared'));
      CREATE TABLE seqs.b (id bigint PRIMARY KEY DEFAULT nextval('seqs.shared'));
      CREATE SEQUENCE seqs.lonely START 7;
      CREATE SEQUENCE seqs.reset;
      SELECT setval('seqs.reset', 40, false);
      INSERT INTO seqs.serial_t (v) SELECT 'x' FROM generate_series(1, 3);
      INSERT INTO seqs.ident_t (v) VALUES ('a'), ('b');
      INSERT INTO seqs.a DEFAULT VALUES; INSERT INTO seqs.b DEFAULT VALUES; INSERT INTO seqs.a DEFAULT VALUES;
    `);
  });

  it('finds serial, identity, shared and standalone sequences with their next value', async () => {
    const seqs = (await db.sequences()).filter((s) => s.name.startsWith('seqs.'));
    const byName = new Map(seqs.map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(['seqs.ident_t_id_seq', 'seqs.lonely', 'seqs.reset', 'seqs.serial_t_id_seq', 'seqs.shared']);
    expect(byName.get('seqs.serial_t_id_seq')).toEqual({
      name: 'seqs.serial_t_id_seq',
      nextValue: 4n,
      columns: [{ schema: 'seqs', name: 'serial_t', column: 'id' }],
    });
    expect(byName.get('seqs.ident_t_id_seq')).toMatchObject({ nextValue: 120n, columns: [{ schema: 'seqs', name: 'ident_t', column: 'id' }] });
    expect(byName.get('seqs.shared')).toMatchObject({
      nextValue: 5003n,
      columns: [
        { schema: 'seqs', name: 'a', column: 'id' },
        { schema: 'seqs', name: 'b', column: 'id' },
      ],
    });
    expect(byName.get('seqs.lonely')).toMatchObject({ nextValue: 7n, columns: [] });
    expect(byName.get('seqs.reset')?.nextValue).toBe(40n);

    // The computed next values are what nextval() really hands out.
    for (const name of ['seqs.serial_t_id_seq', 'seqs.ident_t_id_seq', 'seqs.shared', 'seqs.lonely', 'seqs.reset']) {
      const got = await sql.query('SELECT nextval($1::regclass)::text AS v', [name]);
      expect(BigInt(got.rows[0].v)).toBe(byName.get(name)?.nextValue);
    }
  });

  it('reads column maxima', async () => {
    expect(await db.columnMax({ schema: 'seqs', name: 'a' }, 'id')).toBe(5002n);
    expect(await db.columnMax({ schema: 'seqs', name: 'ident_t' }, 'id')).toBe(110n);
    await sql.query('CREATE TABLE seqs.empty (id int)');
    expect(await db.columnMax({ schema: 'seqs', name: 'empty' }, 'id')).toBeNull();
  });

  it('raises a sequence so the next value is at least the target, never lowering it', async () => {
    await db.raiseSequence('seqs.shared', 9000n);
    expect((await db.sequences()).find((s) => s.name === 'seqs.shared')?.nextValue).toBe(9000n);
    await db.raiseSequence('seqs.shared', 10n);
    const got = await sql.query(`INSERT INTO seqs.b DEFAULT VALUES RETURNING id::text`);
    expect(got.rows[0].id).toBe('9000');
    await db.raiseSequence('seqs.ident_t_id_seq', 5000n);
    const ident = await sql.query(`INSERT INTO seqs.ident_t (v) VALUES ('c') RETURNING id::text`);
    expect(ident.rows[0].id).toBe('5000');
    await expect(db.raiseSequence('seqs.nope', 1n)).rejects.toThrow(/not found/);
  });
});
