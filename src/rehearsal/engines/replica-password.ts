// The password of a replica on the rehearsal's MariaDB servers. MariaDB keeps what CHANGE MASTER TO was given,
// MASTER_PASSWORD included, in plain text in the data directory's master.info, and cannot read it from a file (as
// libpq reads a .pgpass: servers/passfile.ts). Where a replica logs in to an adopted source with a password
// (rehearsal.source.url: the DMS stand-in's replica, the native strategy's rds_set_external_source, a read replica,
// Blue/Green's green), the world clears it (MASTER_PASSWORD = '') before a runner closes the servers and sets it
// again when the next runner opens them, so the password is on disk only while a runner is alive. A runner killed
// with SIGKILL cannot clear it: the servers (detached) keep it until the next runner that opens the world (resume,
// rollback) closes it again.
import type { Connection } from 'mysql2/promise';
import type { Backend } from '../registry.js';
import { myConfig, myLiteral, rows, withMy } from './my-ops.js';

/** A login a replica may use on the adopted source: user name and its (non-empty) password. */
export interface ReplicaLogin {
  user: string;
  password: string;
}

interface ReplicaRow {
  Master_Host: string;
  Master_User: string;
  Slave_IO_Running: string;
  Slave_SQL_Running: string;
}

/** The default connection's replica when it logs in as one of `logins`: its user and whether a thread runs. */
async function replicaOf(c: Connection, logins: readonly ReplicaLogin[]): Promise<{ login: ReplicaLogin; running: boolean } | undefined> {
  const [r] = await rows<ReplicaRow>(c, 'SHOW SLAVE STATUS');
  if (!r || r.Master_Host === '') return undefined;
  const login = logins.find((l) => l.user === r.Master_User);
  if (!login) return undefined;
  return { login, running: r.Slave_IO_Running !== 'No' || r.Slave_SQL_Running !== 'No' };
}

/**
 * CHANGE MASTER TO MASTER_PASSWORD on the stopped replica, unlogged (a binlog is a file on disk too). Without
 * MASTER_LOG_FILE/POS the replica keeps its place: it reads on from where its SQL thread applied up to.
 */
async function setPassword(c: Connection, password: string): Promise<void> {
  await c.query('STOP SLAVE');
  await c.query('SET SESSION sql_log_bin = 0');
  await c.query(`CHANGE MASTER TO MASTER_PASSWORD = ${myLiteral(password)}`);
}

/**
 * Clears the password of `server`'s replica when it logs in as one of `logins` (the adopted source's logins);
 * returns whether it was running (the runner that reopens the world starts it again), or undefined when there was
 * nothing to clear. The replica is left stopped: without its password it could not reconnect anyway.
 */
export async function clearReplicaPassword(server: Backend, logins: readonly ReplicaLogin[]): Promise<{ wasRunning: boolean } | undefined> {
  if (logins.length === 0) return undefined;
  return withMy(myConfig(server, ''), async (c) => {
    const replica = await replicaOf(c, logins);
    if (!replica) return undefined;
    await setPassword(c, '');
    return { wasRunning: replica.running };
  });
}

/**
 * Gives `server`'s replica its password again (from `logins`, by its user) and starts it when it ran before the
 * password was cleared (`wasRunning`; unknown: when a thread runs now, e.g. after a runner was killed, or the server
 * started its replica by itself at boot). Returns whether a password was set.
 */
export async function restoreReplicaPassword(server: Backend, logins: readonly ReplicaLogin[], wasRunning: boolean | undefined): Promise<boolean> {
  if (logins.length === 0) return false;
  return withMy(myConfig(server, ''), async (c) => {
    const replica = await replicaOf(c, logins);
    if (!replica) return false;
    await setPassword(c, replica.login.password);
    if (wasRunning ?? replica.running) await c.query('START SLAVE');
    return true;
  });
}
