// The AWS ending's writability probe (src/steps/fence.ts probeWritability, used by `rekey run`/`resume` after exit 5
// or 130 and by `rekey rollback`) against the shared real servers, with no rehearsal cloud and no write load: it
// reads, as the master user, whether the writer principals a fence recorded could write again, names the ones
// still fenced with the exact statements that undo it, and its verdict matches what the writer's own login meets.
import mysql from 'mysql2/promise';
import pg from 'pg';
import { defaultConnector } from '../../src/db/connector.js';
import type { DbAdapter, DbEndpoint } from '../../src/db/types.js';
import { probeWritability } from '../../src/steps/fence.js';
import { freshDatabase } from '../helpers/servers.js';

const sfx = Math.random().toString(36).slice(2, 8);

function endpointOf(url: string): DbEndpoint {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), database: u.pathname.slice(1), user: decodeURIComponent(u.username) };
}

describe('probeWritability on PostgreSQL', () => {
  const writer = `rk_wp_${sfx}`;
  let url: string;
  let db: DbAdapter;
  let admin: pg.Client;
  /** Whether the writer's own login can insert a row: the application's path. */
  const writerWrites = async (): Promise<boolean> => {
    const c = new pg.Client({ ...endpointOf(url), user: writer });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('INSERT INTO w (v) VALUES (1)');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  };

  beforeAll(async () => {
    url = await freshDatabase('postgres', 'writability');
    admin = new pg.Client(endpointOf(url));
    await admin.connect();
    await admin.query(`CREATE ROLE ${writer} LOGIN`);
    await admin.query(`CREATE TABLE w (id serial PRIMARY KEY, v int); GRANT INSERT ON w TO ${writer}; GRANT USAGE ON SEQUENCE w_id_seq TO ${writer}`);
    db = await defaultConnector.open('postgres', endpointOf(url));
  });
  afterAll(async () => {
    await db?.close();
    await admin?.query(`DROP OWNED BY ${writer}; DROP ROLE IF EXISTS ${writer}`).catch(() => undefined);
    await admin?.end();
  });

  it('names a fenced writer with its undo; after the undo it (and the writer\'s login) writes; a revoked CONNECT is not the fence\'s', async () => {
    expect(await writerWrites()).toBe(true);
    const state = await db.fence([writer]);
    const fenced = await probeWritability(db, state, 'postgres');
    expect(fenced).toEqual({
      writable: false, checked: [writer], stillFenced: [writer],
      undo: [`ALTER ROLE "${writer}" LOGIN;`, `ALTER ROLE "${writer}" CONNECTION LIMIT -1;`],
      problems: [`${writer}: NOLOGIN`],
    });
    expect(await writerWrites()).toBe(false);
    for (const statement of fenced.undo) await admin.query(statement);
    expect(await probeWritability(db, state, 'postgres')).toMatchObject({ writable: true, stillFenced: [], undo: [], problems: [] });
    expect(await writerWrites()).toBe(true);

    // Something else stops the writer: reported, but no undo of the fence's is offered for it.
    const database = endpointOf(url).database;
    await admin.query(`REVOKE CONNECT ON DATABASE "${database}" FROM PUBLIC`);
    try {
      const revoked = await probeWritability(db, state, 'postgres');
      expect(revoked).toMatchObject({ writable: false, stillFenced: [], undo: [], problems: [`${writer}: no CONNECT privilege on the database`] });
      expect(await writerWrites()).toBe(false);
    } finally {
      await admin.query(`GRANT CONNECT ON DATABASE "${database}" TO PUBLIC`);
    }
    // Nothing journaled: only the server itself is checked.
    expect(await probeWritability(db, undefined, 'postgres')).toEqual({ writable: true, checked: [], stillFenced: [], undo: [], problems: [] });
  });
});

describe('probeWritability on MySQL (MariaDB)', () => {
  const writer = `rk_wp_${sfx}`;
  let url: string;
  let db: DbAdapter;
  let admin: mysql.Connection;
  const writerWrites = async (): Promise<boolean> => {
    try {
      const c = await mysql.createConnection({ ...endpointOf(url), user: writer });
      try {
        await c.query('INSERT INTO w (v) VALUES (1)');
        return true;
      } finally {
        await c.end();
      }
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    url = await freshDatabase('mysql', 'writability');
    admin = await mysql.createConnection(endpointOf(url));
    await admin.query("CREATE USER ?@'%'", [writer]);
    await admin.query('CREATE TABLE w (id INT AUTO_INCREMENT PRIMARY KEY, v INT)');
    await admin.query(`GRANT INSERT ON \`${endpointOf(url).database}\`.* TO ?@'%'`, [writer]);
    db = await defaultConnector.open('mysql', endpointOf(url));
  });
  afterAll(async () => {
    await db?.close();
    await admin?.query("DROP USER IF EXISTS ?@'%'", [writer]).catch(() => undefined);
    await admin?.end();
  });

  it('names a locked account with its ACCOUNT UNLOCK; after it, the account writes again', async () => {
    expect(await writerWrites()).toBe(true);
    const state = await db.fence([`${writer}@%`]);
    const fenced = await probeWritability(db, state, 'mysql');
    expect(fenced).toEqual({
      writable: false, checked: [`${writer}@%`], stillFenced: [`${writer}@%`],
      undo: [`ALTER USER '${writer}'@'%' ACCOUNT UNLOCK;`],
      problems: [`${writer}@%: ACCOUNT LOCK`],
    });
    expect(await writerWrites()).toBe(false);
    for (const statement of fenced.undo) await admin.query(statement);
    expect(await probeWritability(db, state, 'mysql')).toMatchObject({ writable: true, stillFenced: [], undo: [], problems: [] });
    expect(await writerWrites()).toBe(true);
  });
});
