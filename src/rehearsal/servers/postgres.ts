// Throwaway PostgreSQL server: system binaries, trust auth, logical decoding on, durability off.
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { launch, runTool } from './launch.js';
import type { EngineSpec } from './launch.js';
import type { LocalServer } from './types.js';

const PG_ROOT = '/usr/lib/postgresql';

/** The bin directory of the newest PostgreSQL major installed under /usr/lib/postgresql. */
export async function postgresBinDir(): Promise<string> {
  let majors: string[] = [];
  try {
    majors = (await readdir(PG_ROOT)).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
  } catch {
    // no PostgreSQL at all
  }
  for (const major of majors) {
    const bin = join(PG_ROOT, major, 'bin');
    try {
      await access(join(bin, 'initdb'));
      await access(join(bin, 'postgres'));
      return bin;
    } catch {
      // a client-only install of this major; try the next
    }
  }
  throw new Error(`no PostgreSQL server binaries found under ${PG_ROOT}/<major>/bin (apt-get install postgresql)`);
}

// A unix socket path must fit in sockaddr_un (108 bytes); beyond that TCP alone has to do.
const socketDir = (dir: string): string => (`${dir}/.s.PGSQL.65535.lock`.length < 100 ? dir : '');

async function probe(port: number, superuser: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: superuser, database: 'postgres', connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const res = await client.query<{ data_directory: string }>("SELECT current_setting('data_directory') AS data_directory");
    return res.rows[0]?.data_directory ?? '';
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Start a PostgreSQL server in `dir` (initdb on first use), or with `reuse` return the live one there. */
export async function startPostgres(opts: {
  dir: string;
  port?: number;
  reuse?: boolean;
  /** Bootstrap superuser (default `postgres`); the rehearsal cloud uses `rdsadmin`, as RDS does, so fencing app roles never locks it out. */
  superuser?: string;
}): Promise<LocalServer> {
  const bin = await postgresBinDir();
  const superuser = opts.superuser ?? 'postgres';
  const initArgs = ['-U', superuser, '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'];
  const spec: EngineSpec = {
    engine: 'postgres',
    osUser: 'postgres',
    init: ({ dir, dataDir, who }) => runTool(join(bin, 'initdb'), ['-D', dataDir, ...initArgs], { cwd: dir, who }),
    templateKey: JSON.stringify([bin, ...initArgs]),
    command: ({ dir, dataDir, port }) => ({
      bin: join(bin, 'postgres'),
      args: [
        '-D', dataDir,
        '-p', String(port),
        '-k', socketDir(dir),
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'wal_level=logical',
        '-c', 'max_replication_slots=20',
        '-c', 'max_wal_senders=20',
        '-c', 'wal_retrieve_retry_interval=200ms',
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
      ],
    }),
    adminUrl: (port) => `postgres://${superuser}@127.0.0.1:${port}/postgres`,
    probe: (port) => probe(port, superuser),
  };
  return launch(spec, opts);
}
