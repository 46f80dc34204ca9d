// Throwaway local PostgreSQL / MariaDB servers for tests and the rehearsal cloud.
export type { LocalServer, ServerEngine, ServerProcess } from './types.js';
export { startPostgres, postgresBinDir } from './postgres.js';
export { startMariadb } from './mariadb.js';
export { findFreePort, isAlive, listServerProcesses, stopAllUnder, stopProcess } from './processes.js';
export { findExecutable } from './launch.js';
