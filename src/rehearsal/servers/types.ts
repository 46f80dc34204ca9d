// Shapes shared by the throwaway PostgreSQL and MariaDB servers of tests and the rehearsal cloud.

/** Which server program. */
export type ServerEngine = 'postgres' | 'mariadb';

/** A running local server started (or reused) by startPostgres / startMariadb. */
export interface LocalServer {
  /** Which server program runs. */
  engine: ServerEngine;
  /** Address it listens on; always 127.0.0.1. */
  host: string;
  /** TCP port it listens on. */
  port: number;
  /** PID of the server process (the postmaster / mariadbd). */
  pid: number;
  /** The server's directory (holds data/, server.log, server.pid, server.port). */
  dir: string;
  /** Admin connection URL without password: postgres://postgres@127.0.0.1:PORT/postgres or mysql://root@127.0.0.1:PORT/ */
  adminUrl: string;
  /** Stop by PID (SIGTERM/fast shutdown, then SIGKILL after a grace period); resolves when the process is gone. */
  stop(): Promise<void>;
  /** True when the server was already running and this start reused it (its session-wide settings are intact). */
  reused?: true;
}

/** A server process found in /proc. */
export interface ServerProcess {
  /** Process id. */
  pid: number;
  /** Which server program it is. */
  engine: ServerEngine;
  /** Its data directory (absolute). */
  dir: string;
}
