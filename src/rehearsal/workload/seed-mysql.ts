// The rehearsal's MariaDB/MySQL demo database: the accounts a rehearsal logs in as, and a schema that exercises what a
// key move must get right (AUTO_INCREMENT tables linked by foreign keys, a table without a primary key, the write
// load's table), filled with generated rows so the counters really advance.
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { demoRowCounts } from './seed.js';
import type { SeedOptions } from './seed.js';
import { MY_WRITES_TABLE } from './writes-table.js';

/** The demo tables, parents first; rehearsal_writes is created last and so marks a finished seed. */
export const MYSQL_DEMO_TABLES = ['customers', 'orders', 'order_items', 'invoices', 'audit_log', 'rehearsal_writes'] as const;

/** Scratch table of the numbers 1..N the fills select from. */
const NUMBERS = 'rekey_seed_numbers';

const SCHEMA_SQL = [
  `CREATE TABLE customers (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     name VARCHAR(100) NOT NULL,
     email VARCHAR(200) NOT NULL,
     created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     updated_at TIMESTAMP(6) NULL
   ) ENGINE=InnoDB`,
  `CREATE TABLE orders (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     customer_id BIGINT NOT NULL,
     status VARCHAR(20) NOT NULL,
     total DECIMAL(12, 2) NOT NULL,
     ordered_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
   ) ENGINE=InnoDB`,
  `CREATE TABLE order_items (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     order_id BIGINT NOT NULL,
     sku VARCHAR(20) NOT NULL,
     qty INT NOT NULL,
     price DECIMAL(10, 2) NOT NULL,
     CONSTRAINT order_items_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)
   ) ENGINE=InnoDB`,
  `CREATE TABLE invoices (
     id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     order_id BIGINT NOT NULL,
     amount DECIMAL(12, 2) NOT NULL,
     issued_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     CONSTRAINT invoices_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)
   ) ENGINE=InnoDB`,
  `CREATE TABLE audit_log (
     at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
     actor VARCHAR(50) NOT NULL,
     action VARCHAR(20) NOT NULL,
     detail VARCHAR(200) NULL
   ) ENGINE=InnoDB`,
];

// Ids come from AUTO_INCREMENT (never given), so every counter ends past the rows it produced.
const FILL_SQL: Record<keyof ReturnType<typeof demoRowCounts>, string> = {
  customers: `INSERT INTO customers (name, email, created_at)
    SELECT CONCAT('customer ', g.n), CONCAT('customer', g.n, '@example.test'), NOW(6) - INTERVAL (g.n % 1000) HOUR
    FROM ${NUMBERS} g WHERE g.n <= ? ORDER BY g.n`,
  orders: `INSERT INTO orders (customer_id, status, total)
    SELECT c.lo + g.n % c.cnt, ELT(1 + g.n % 4, 'new', 'paid', 'shipped', 'cancelled'), (g.n * 37 % 100000) / 100
    FROM (SELECT MIN(id) AS lo, COUNT(*) AS cnt FROM customers) c, ${NUMBERS} g WHERE g.n <= ? ORDER BY g.n`,
  order_items: `INSERT INTO order_items (order_id, sku, qty, price)
    SELECT o.lo + g.n % o.cnt, CONCAT('SKU-', g.n % 500), 1 + g.n % 5, (g.n * 13 % 10000) / 100
    FROM (SELECT MIN(id) AS lo, COUNT(*) AS cnt FROM orders) o, ${NUMBERS} g WHERE g.n <= ? ORDER BY g.n`,
  invoices: `INSERT INTO invoices (order_id, amount)
    SELECT o.lo + g.n % o.cnt, (g.n * 53 % 100000) / 100
    FROM (SELECT MIN(id) AS lo, COUNT(*) AS cnt FROM orders) o, ${NUMBERS} g WHERE g.n <= ? ORDER BY g.n`,
  audit_log: `INSERT INTO audit_log (at, actor, action, detail)
    SELECT NOW(6) - INTERVAL g.n SECOND, 'app', ELT(1 + g.n % 3, 'login', 'order', 'refund'), CONCAT('event ', g.n)
    FROM ${NUMBERS} g WHERE g.n <= ?`,
};

/**
 * Create the rehearsal accounts ('rekey_admin'@'%' with every privilege incl. replication and GRANT OPTION; 'app'@'%'
 * with DML on the database; both passwordless, as the rehearsal has no secrets), the demo database and its filled
 * schema on a MariaDB/MySQL server reached by `adminUrl` (an account that may create users). Idempotent: a database
 * that already holds the finished demo schema is left as it is; a half-finished one (a crash mid-seed: MySQL DDL
 * cannot be rolled back) is rebuilt. Concurrent seeders of the same database wait for each other.
 */
export async function seedMysqlDemo(adminUrl: string, opts: SeedOptions): Promise<void> {
  assertIdentifier(opts.database);
  const conn = await connectOrExplain(adminUrl);
  const lock = `rekey-seed:${opts.database}`;
  try {
    const [got] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, 120) AS ok', [lock]);
    if (Number(got[0]?.ok) !== 1) throw new Error('another seeder held the seed lock for 120 s');
    try {
      await createAccounts(conn, opts.database);
      if (await isSeeded(conn, opts.database)) return;
      await conn.query(`USE \`${opts.database}\``);
      // The data is consistent by construction: skip the per-row foreign key lookups of the bulk load.
      await conn.query('SET SESSION foreign_key_checks = 0');
      for (const table of [...MYSQL_DEMO_TABLES, NUMBERS].reverse()) await conn.query(`DROP TABLE IF EXISTS \`${table}\``);
      for (const ddl of SCHEMA_SQL) await conn.query(ddl);
      const counts = demoRowCounts(opts.rows);
      await fillNumbers(conn, Math.max(...Object.values(counts)));
      for (const table of ['customers', 'orders', 'order_items', 'invoices', 'audit_log'] as const) {
        await conn.query(FILL_SQL[table], [counts[table]]);
      }
      await conn.query(`DROP TABLE ${NUMBERS}`);
      await conn.query('SET SESSION foreign_key_checks = 1');
      await conn.query(`ANALYZE TABLE ${MYSQL_DEMO_TABLES.slice(0, -1).join(', ')}`);
      await conn.query(MY_WRITES_TABLE);
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [lock]);
    }
  } catch (error) {
    throw new Error(`seeding demo database "${opts.database}" failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await conn.end().catch(() => undefined);
  }
}

async function createAccounts(conn: Connection, database: string): Promise<void> {
  await conn.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  await conn.query("CREATE USER IF NOT EXISTS 'rekey_admin'@'%'");
  await conn.query("GRANT ALL PRIVILEGES ON *.* TO 'rekey_admin'@'%' WITH GRANT OPTION");
  await conn.query("CREATE USER IF NOT EXISTS 'app'@'%'");
  await conn.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.* TO 'app'@'%'`);
}

async function isSeeded(conn: Connection, database: string): Promise<boolean> {
  const [rows] = await conn.query<RowDataPacket[]>(
    "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'rehearsal_writes'",
    [database],
  );
  return rows.length > 0;
}

/** Fills the scratch table with 1..n (at least) by doubling: about log2(n) statements. */
async function fillNumbers(conn: Connection, n: number): Promise<void> {
  await conn.query(`CREATE TABLE ${NUMBERS} (n INT NOT NULL PRIMARY KEY) ENGINE=InnoDB`);
  await conn.query(`INSERT INTO ${NUMBERS} VALUES (1)`);
  for (let have = 1; have < n; have *= 2) {
    await conn.query(`INSERT INTO ${NUMBERS} (n) SELECT n + ? FROM ${NUMBERS}`, [have]);
  }
}

function assertIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,63}$/.test(name)) {
    throw new Error(`demo database name "${name}" must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 64 chars)`);
  }
}

/** mysql2's errors carry no URL; say what failed, never the URL (it may hold a password). */
async function connectOrExplain(adminUrl: string): Promise<Connection> {
  try {
    const conn = await mysql.createConnection({ uri: adminUrl, connectTimeout: 15_000 });
    conn.on('error', () => undefined);
    return conn;
  } catch (error) {
    throw new Error(`seeder cannot connect to the MySQL server: ${(error as Error).message}`, { cause: error });
  }
}
