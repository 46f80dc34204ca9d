// Throwaway MariaDB server: binary log in ROW format, small InnoDB, no config files read.
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { findExecutable, launch, runTool } from './launch.js';
import type { EngineSpec, RunAs } from './launch.js';
import type { LocalServer } from './types.js';

async function need(name: string): Promise<string> {
  const path = await findExecutable(name);
  if (path === undefined) throw new Error(`${name} not found (apt-get install mariadb-server)`);
  return path;
}

/** The server's own temp dir, owned by the user it runs as. */
async function ensureTmpDir(dir: string, who: RunAs | undefined): Promise<void> {
  const tmp = join(dir, 'tmp');
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  if (who) await chown(tmp, who.uid, who.gid);
}

// InnoDB sizes given both to install-db and the server so the files match. The buffer pool is sized for the
// rehearsal's bigger seeds (a 32M pool made a 3M-row checksum pass evict the pages the write load needs, so writes
// stalled while validation ran); InnoDB touches its pages only as data is read, so small servers stay small.
const INNODB = ['--innodb-buffer-pool-size=256M', '--innodb-log-file-size=16M'];

// A unix socket path must fit in sockaddr_un; a long dir gets a short socket path in the temp dir.
function socketPath(dir: string): string {
  const inDir = join(dir, 'mysqld.sock');
  if (inDir.length < 100) return inDir;
  return join(tmpdir(), `rekey-my-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}.sock`);
}

async function probe(port: number): Promise<string> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 2000 });
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @@datadir AS d');
    return String(rows[0]?.d ?? '');
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** Start a MariaDB server in `dir` (mariadb-install-db on first use), or with `reuse` return the live one there. */
export async function startMariadb(opts: { dir: string; port?: number; serverId: number; reuse?: boolean }): Promise<LocalServer> {
  const installDb = await need('mariadb-install-db');
  const mariadbd = await need('mariadbd');
  const installArgs = ['--auth-root-authentication-method=normal', '--skip-test-db', ...INNODB];
  const spec: EngineSpec = {
    engine: 'mariadb',
    osUser: 'mysql',
    // A private tmpdir: concurrent bootstraps sharing /tmp collide on temporary-table file names
    // ("Unknown table 'mysql.tmp_user_sys'"), seen when several servers are initialised at once.
    prepare: ({ dir, who }) => ensureTmpDir(dir, who),
    init: ({ dir, dataDir, who }) => runTool(installDb, ['--no-defaults', `--datadir=${dataDir}`, `--tmpdir=${join(dir, 'tmp')}`, ...installArgs], { cwd: dir, who }),
    templateKey: JSON.stringify([installDb, ...installArgs]),
    command: ({ dir, dataDir, port }) => ({
      bin: mariadbd,
      args: [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${socketPath(dir)}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        `--tmpdir=${join(dir, 'tmp')}`,
        `--server-id=${opts.serverId}`,
        '--log-bin=mysql-bin',
        '--binlog-format=ROW',
        '--relay-log=relay-bin',
        '--skip-name-resolve',
        ...INNODB,
        '--innodb-flush-log-at-trx-commit=2',
        '--sync-binlog=0',
        // A restarted server must not replicate before the world has given its replica back its filters (they are
        // global variables, lost on restart: engines/replica-state.ts); the world starts it again.
        '--skip-slave-start',
      ],
    }),
    adminUrl: (port) => `mysql://root@127.0.0.1:${port}/`,
    probe,
  };
  return launch(spec, opts);
}
