// Every step id of every DMS-CDC flow (each engine) through the one lifecycle harness, against the fake world:
// run, run again (no second create), undo, undo again (nothing more deleted), run.
import { describe, expect, test } from '@jest/globals';
import { buildFlow } from '../../src/flows/index.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { stepLifecycle } from '../helpers/lifecycle.js';
import { World, dmsMock, mysqlRunbook, rdsMock, testRunbook } from './steps-world.js';

const instance = (engine: 'postgres' | 'mysql' | 'mariadb'): Runbook =>
  testRunbook({
    source: { engine, identifier: engine === 'postgres' ? 'app-db' : 'shop-db', database: engine === 'postgres' ? 'app' : 'shop', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
    dms: { replicationInstance: { identifier: 'rekey-ri' }, sslMode: 'verify-full', certificateArn: 'arn:aws:dms:us-east-1:111122223333:cert:RDSCA' },
  });

const RUNBOOKS: Record<string, () => Runbook> = {
  'aurora-postgresql': () => testRunbook(),
  'aurora-mysql': () => mysqlRunbook(),
  postgres: () => instance('postgres'),
  mysql: () => instance('mysql'),
  mariadb: () => instance('mariadb'),
};

const CREATES = /^(Create|Restore|Copy|Start)/;
const DELETES = /^(Delete|Stop|Modify(DBCluster|DBInstance)$)/;
const count = (re: RegExp): number =>
  [...rdsMock.calls(), ...dmsMock.calls()].filter((c) => re.test((c.args[0] as object).constructor.name.replace(/Command$/, ''))).length;

/** Steps whose undo must delete or stop something once they ran (the others only change SQL state or nothing). */
const UNDO_DELETES = new Set(['replica-position', 'snapshot', 'copy-snapshot', 'restore', 'dms-setup', 'start-cdc', 'switch']);

for (const [engine, runbook] of Object.entries(RUNBOOKS)) {
  describe(`the ${engine} flow: every step through run, run again, undo, undo again, run`, () => {
    const ids = buildFlow(runbook()).steps.map((s) => s.id);
    test.each(ids)('%s', async (id) => {
      const world = new World(runbook());
      world.install();
      const slots = (): number => world.slots.source.size + world.slots.target.size;
      const result = await stepLifecycle({
        flow: buildFlow(world.runbook),
        ctx: world.context(),
        creations: () => count(CREATES) + slots(),
        deletions: () => count(DELETES),
        afterUndo: (stepId) => {
          if (stepId === 'fence') expect([...world.roles.values()].every(Boolean)).toBe(true);
          if (stepId === 'prepare-source' && !world.isMysql) expect(world.slots.source.size).toBe(0);
        },
      }, id);
      if (UNDO_DELETES.has(id)) expect(result.deletedByUndo).toBeGreaterThan(0);
    });
  });
}
