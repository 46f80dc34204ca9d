// A MariaDB replica's filters across a server restart. The rehearsal's replicas (the DMS stand-in, read replicas,
// Blue/Green's green, the native strategy's external source) replicate only their tables through the global
// replicate_wild_do_table / replicate_ignore_table, which a restart forgets: a replica started again without them
// would apply everything the source logs, the fence's ACCOUNT LOCK of the application's login included. So the
// servers start with --skip-slave-start (servers/mariadb.ts); the world reads each replica's filters and state before
// it stops the servers, and gives them back (filters first, then START SLAVE if it ran) when it starts them again.
import type { Backend, ReplicaState } from '../registry.js';
import { myConfig, myLiteral, rows, withMy } from './my-ops.js';

interface StatusRow {
  Master_Host: string;
  Slave_IO_Running: string;
  Slave_SQL_Running: string;
}

/** `server`'s replica (the default connection's): its filters and whether a thread runs; undefined without one. */
export async function readReplicaState(server: Backend): Promise<ReplicaState | undefined> {
  return withMy(myConfig(server, ''), async (c) => {
    const [r] = await rows<StatusRow>(c, 'SHOW SLAVE STATUS');
    if (!r || r.Master_Host === '') return undefined;
    const [f] = await rows<{ d: string | null; i: string | null }>(c, 'SELECT @@GLOBAL.replicate_wild_do_table AS d, @@GLOBAL.replicate_ignore_table AS i');
    return { running: r.Slave_IO_Running !== 'No' || r.Slave_SQL_Running !== 'No', doTables: f?.d ?? '', ignoreTables: f?.i ?? '' };
  });
}

/**
 * Gives a restarted `server`'s replica its filters back, and starts it when it ran and `start` allows (the caller
 * holds it back while its password is still missing). The replica is stopped (--skip-slave-start).
 */
export async function applyReplicaState(server: Backend, state: ReplicaState, start: boolean): Promise<void> {
  await withMy(myConfig(server, ''), async (c) => {
    await c.query('STOP SLAVE');
    await c.query(`SET GLOBAL replicate_wild_do_table = ${myLiteral(state.doTables)}`);
    await c.query(`SET GLOBAL replicate_ignore_table = ${myLiteral(state.ignoreTables)}`);
    if (start && state.running) await c.query('START SLAVE');
  });
}

/** Starts `server`'s replica when one is configured and stopped (what a restart did before --skip-slave-start). */
export async function startReplicaIfConfigured(server: Backend): Promise<void> {
  await withMy(myConfig(server, ''), async (c) => {
    const [r] = await rows<StatusRow>(c, 'SHOW SLAVE STATUS');
    if (r && r.Master_Host !== '' && r.Slave_IO_Running === 'No' && r.Slave_SQL_Running === 'No') await c.query('START SLAVE');
  });
}
