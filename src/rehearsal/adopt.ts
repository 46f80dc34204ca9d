// Adopting an existing local database as the rehearsal source (rehearsal.source.url): the rehearsal adds only
// what its write load needs, an `app` login and a `rehearsal_writes` table, and leaves the user's data alone.
import mysql from 'mysql2/promise';
import pg from 'pg';

/** The adopted database, reached with the URL's user (a superuser / an account that may create users). */
export interface AdoptedSource {
  engine: 'postgres' | 'mysql';
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
}

const PG_WRITES = `CREATE TABLE IF NOT EXISTS public.rehearsal_writes (
  id bigserial PRIMARY KEY,
  token text NOT NULL,
  n bigint,
  written_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

const MY_WRITES = `CREATE TABLE IF NOT EXISTS rehearsal_writes (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  token VARCHAR(100) NOT NULL,
  n BIGINT NULL,
  written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY rehearsal_writes_token_idx (token)
) ENGINE=InnoDB`;

/** Creates the `app` login and `rehearsal_writes` (no unique token: a duplicated apply stays visible). Idempotent. */
export async function prepareAdoptedSource(src: AdoptedSource): Promise<void> {
  if (src.engine === 'postgres') {
    const c = new pg.Client({ host: src.host, port: src.port, database: src.database, user: src.user, password: src.password, application_name: 'rekey-adopt' });
    await c.connect();
    try {
      const found = await c.query("SELECT 1 FROM pg_roles WHERE rolname = 'app'");
      if (found.rowCount === 0) await c.query('CREATE ROLE app LOGIN');
      await c.query(PG_WRITES);
      await c.query('CREATE INDEX IF NOT EXISTS rehearsal_writes_token_idx ON public.rehearsal_writes (token)');
      await c.query('GRANT INSERT, SELECT ON public.rehearsal_writes TO app');
      await c.query('GRANT USAGE ON SEQUENCE public.rehearsal_writes_id_seq TO app');
    } finally {
      await c.end();
    }
    return;
  }
  const conn = await mysql.createConnection({ host: src.host, port: src.port, database: src.database, user: src.user, ...(src.password !== undefined ? { password: src.password } : {}) });
  try {
    await conn.query("CREATE USER IF NOT EXISTS 'app'@'%'");
    await conn.query(MY_WRITES);
    // Database-level, like the demo seed: a restore recreates accounts before it loads the tables.
    await conn.query(`GRANT SELECT, INSERT ON \`${src.database.replace(/`/g, '``')}\`.* TO 'app'@'%'`);
  } finally {
    await conn.end();
  }
}

/** Where rehearsal.source.url points, with the password from urlPasswordEnv (never from the URL). */
export function adoptedSource(url: string, engine: 'postgres' | 'mysql', fallbackDatabase: string, passwordEnv: string | undefined): AdoptedSource {
  const u = new URL(url);
  const password = passwordEnv ? process.env[passwordEnv] : undefined;
  return {
    engine,
    host: u.hostname,
    port: Number(u.port || (engine === 'mysql' ? 3306 : 5432)),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || fallbackDatabase,
    user: decodeURIComponent(u.username || (engine === 'mysql' ? 'root' : 'postgres')),
    ...(password !== undefined ? { password } : {}),
  };
}
