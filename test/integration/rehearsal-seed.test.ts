// The demo seeder on a real PostgreSQL: roles, database owned by app, the schema features a key move must handle
// (identity column, one sequence shared by two tables, a table without a primary key), row counts, advanced
// sequences, and idempotency.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { demoRowCounts, seedPostgresDemo } from '../../src/rehearsal/workload/seed.js';
import { startPostgres, type LocalServer } from '../../src/rehearsal/servers/index.js';

let root: string;
let server: LocalServer | undefined;
let adminUrl: string;
const database = `seed_${process.pid}_${Date.now() % 100000}`;
const ROWS = 300_000;
let seedMs = 0;

function urlFor(db: string, user?: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${db}`;
  if (user) url.username = user;
  return url.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function snapshotState(): Promise<Record<string, string>> {
  return withClient(urlFor(database), async (c) => {
    const state: Record<string, string> = {};
    for (const table of ['customers', 'orders', 'order_items', 'invoices', 'audit_log', 'rehearsal_writes']) {
      const r = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
      state[table] = r.rows[0]!.n;
    }
    const seqs = await c.query<{ name: string; v: string }>(
      "SELECT sequencename AS name, coalesce(last_value, 0)::text AS v FROM pg_sequences WHERE schemaname = 'public'");
    for (const row of seqs.rows) state[`seq:${row.name}`] = row.v;
    return state;
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), 'rehearsal-seed-'));
  if (process.env.REKEY_TEST_PG_SOURCE_URL) {
    adminUrl = process.env.REKEY_TEST_PG_SOURCE_URL;
  } else {
    server = await startPostgres({ dir: join(root, 'pg') });
    adminUrl = server.adminUrl;
  }
  const started = Date.now();
  await seedPostgresDemo(adminUrl, { database, rows: ROWS });
  seedMs = Date.now() - started;
});

afterAll(async () => {
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)).catch(() => undefined);
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

test('row shares add up to the requested total', () => {
  for (const rows of [2, 10, 999, 300_000]) {
    const counts = demoRowCounts(rows);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(rows);
    expect(counts.customers).toBeGreaterThanOrEqual(1);
    expect(counts.orders).toBeGreaterThanOrEqual(1);
  }
});

test('creates a few hundred thousand rows in a few seconds', async () => {
  expect(seedMs).toBeLessThan(20_000);
  const state = await snapshotState();
  const expected = demoRowCounts(ROWS);
  for (const [table, n] of Object.entries(expected)) expect(Number(state[table])).toBe(n);
  expect(state.rehearsal_writes).toBe('0');
  const total = Object.keys(expected).reduce((sum, t) => sum + Number(state[t]), 0);
  expect(total).toBe(ROWS);
});

test('creates the rehearsal roles and gives the database and tables to app', async () => {
  const roles = await withClient(adminUrl, (c) => c.query<{ rolname: string; rolcanlogin: boolean; rolsuper: boolean; rolreplication: boolean }>(
    "SELECT rolname, rolcanlogin, rolsuper, rolreplication FROM pg_roles WHERE rolname IN ('rekey_admin', 'app') ORDER BY rolname"));
  expect(roles.rows).toEqual([
    { rolname: 'app', rolcanlogin: true, rolsuper: false, rolreplication: false },
    { rolname: 'rekey_admin', rolcanlogin: true, rolsuper: true, rolreplication: true },
  ]);
  const owner = await withClient(adminUrl, (c) => c.query<{ o: string }>(
    'SELECT pg_get_userbyid(datdba) AS o FROM pg_database WHERE datname = $1', [database]));
  expect(owner.rows[0]?.o).toBe('app');
  const tables = await withClient(urlFor(database), (c) => c.query<{ tablename: string; tableowner: string }>(
    "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"));
  expect(tables.rows.map((r) => r.tablename)).toEqual(['audit_log', 'customers', 'invoices', 'order_items', 'orders', 'rehearsal_writes']);
  expect(new Set(tables.rows.map((r) => r.tableowner))).toEqual(new Set(['app']));
  // The application can write, as the write load will.
  await withClient(urlFor(database, 'app'), async (c) => {
    await c.query('BEGIN');
    await c.query("INSERT INTO rehearsal_writes (token, n) VALUES ('probe', 1), ('probe', 1)");
    await c.query('UPDATE customers SET updated_at = now() WHERE id = 1');
    await c.query('ROLLBACK');
  });
});

test('has the schema features the key move must handle', async () => {
  await withClient(urlFor(database), async (c) => {
    const identity = await c.query<{ attidentity: string }>(
      "SELECT attidentity FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id'");
    expect(identity.rows[0]?.attidentity).toBe('d'); // GENERATED BY DEFAULT AS IDENTITY

    const defaults = await c.query<{ table_name: string; column_default: string }>(
      "SELECT table_name, column_default FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'id' AND table_name IN ('order_items', 'invoices') ORDER BY table_name");
    expect(defaults.rows).toEqual([
      { table_name: 'invoices', column_default: "nextval('shared_doc_seq'::regclass)" },
      { table_name: 'order_items', column_default: "nextval('shared_doc_seq'::regclass)" },
    ]);

    const pks = await c.query<{ relname: string }>(
      "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')");
    expect(pks.rows.map((r) => r.relname)).toEqual(['audit_log']);

    const unique = await c.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'rehearsal_writes'::regclass AND i.indisunique AND a.attname = 'token'");
    expect(unique.rows[0]?.n).toBe('0'); // a duplicated apply must stay visible

    const fks = await c.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace");
    expect(fks.rows[0]?.n).toBe('3');

    // audit_log has no index, so only ANALYZE can have set its statistics (-1 means never analysed).
    const analyzed = await c.query<{ reltuples: number }>("SELECT reltuples FROM pg_class WHERE oid = 'audit_log'::regclass");
    expect(analyzed.rows[0]?.reltuples).toBeGreaterThan(0);
  });
});

test('sequences were advanced by the inserts', async () => {
  const state = await snapshotState();
  const counts = demoRowCounts(ROWS);
  expect(Number(state['seq:customers_id_seq'])).toBe(counts.customers);
  expect(Number(state['seq:orders_id_seq'])).toBe(counts.orders);
  expect(Number(state['seq:shared_doc_seq'])).toBe(counts.order_items + counts.invoices);
  await withClient(urlFor(database), async (c) => {
    const max = await c.query<{ m: string }>('SELECT greatest((SELECT max(id) FROM order_items), (SELECT max(id) FROM invoices))::text AS m');
    expect(max.rows[0]?.m).toBe(state['seq:shared_doc_seq']);
  });
});

test('a second call on the seeded database changes nothing', async () => {
  await withClient(urlFor(database), (c) => c.query("INSERT INTO rehearsal_writes (token, n) VALUES ('kept', 1)"));
  const before = await snapshotState();
  const started = Date.now();
  await Promise.all([
    seedPostgresDemo(adminUrl, { database, rows: ROWS }),
    seedPostgresDemo(adminUrl, { database, rows: 10 }),
  ]);
  expect(Date.now() - started).toBeLessThan(seedMs + 2000);
  expect(await snapshotState()).toEqual(before);
});

test('concurrent first seeds of a new database produce one schema', async () => {
  const other = `${database}_b`;
  try {
    await Promise.all([seedPostgresDemo(adminUrl, { database: other, rows: 100 }), seedPostgresDemo(adminUrl, { database: other, rows: 100 })]);
    const n = await withClient(urlFor(other), (c) => c.query<{ n: string }>('SELECT count(*)::text AS n FROM customers'));
    expect(n.rows[0]?.n).toBe(String(demoRowCounts(100).customers));
  } finally {
    await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${other} WITH (FORCE)`));
  }
});

test('rejects database names that are not plain identifiers', async () => {
  await expect(seedPostgresDemo(adminUrl, { database: 'bad"name', rows: 10 })).rejects.toThrow(/lower-case identifier/);
});
