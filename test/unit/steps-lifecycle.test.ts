// Every step id of every flow through the one lifecycle harness, against the fake world: run, run again (no second
// create), undo, undo again (nothing more deleted), run. DMS-CDC on all five engines; strategies native (publications,
// subscription, replica settings in the fake databases), blue-green (the fake deployment) and snapshot (offline) on
// Aurora PostgreSQL/MySQL and the postgres/mysql instance engines; clone (point-in-time restore) on Aurora.
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

type Engine = 'aurora-postgresql' | 'aurora-mysql' | 'postgres' | 'mysql';
/** A runbook of another strategy (no dms section) for an engine. */
const strategy = (name: 'native' | 'blue-green' | 'snapshot' | 'clone', engine: Engine): Runbook =>
  testRunbook({
    strategy: name,
    dms: undefined,
    // bg-delete then deletes the deployment object (and must find nothing on its re-run).
    ...(name === 'blue-green' ? { blueGreen: { deleteDeploymentAfter: true } } : {}),
    // The offline copy's predicted outage (no snapshot history in the fake world: the size model) must fit the fence.
    ...(name === 'snapshot' ? { cutover: { fenceTimeoutSeconds: 3600 } } : {}),
    source: { engine, identifier: engine.endsWith('postgresql') || engine === 'postgres' ? 'app-db' : 'shop-db', database: engine.endsWith('postgresql') || engine === 'postgres' ? 'app' : 'shop', username: 'rekey_admin', password: { env: 'PGPASSWORD_TEST' } },
  });
const ENGINES: Engine[] = ['aurora-postgresql', 'aurora-mysql', 'postgres', 'mysql'];

const RUNBOOKS: Record<string, () => Runbook> = {
  'aurora-postgresql': () => testRunbook(),
  'aurora-mysql': () => mysqlRunbook(),
  postgres: () => instance('postgres'),
  mysql: () => instance('mysql'),
  mariadb: () => instance('mariadb'),
  ...Object.fromEntries(ENGINES.map((e) => [`native ${e}`, () => strategy('native', e)])),
  ...Object.fromEntries(ENGINES.map((e) => [`blue-green ${e}`, () => strategy('blue-green', e)])),
  ...Object.fromEntries(ENGINES.map((e) => [`snapshot ${e}`, () => strategy('snapshot', e)])),
  ...Object.fromEntries((['aurora-postgresql', 'aurora-mysql'] as const).map((e) => [`clone ${e}`, () => strategy('clone', e)])),
};

const CREATES = /^(Create|Restore|Copy|Start)/;
const DELETES = /^(Delete|Stop|Modify(DBCluster|DBInstance)$)/;
const count = (re: RegExp): number =>
  [...rdsMock.calls(), ...dmsMock.calls()].filter((c) => re.test((c.args[0] as object).constructor.name.replace(/Command$/, ''))).length;

/** Steps whose undo must delete or stop something once they ran (the others only change SQL state or nothing). */
const UNDO_DELETES = new Set(['replica-position', 'snapshot', 'copy-snapshot', 'restore', 'dms-setup', 'start-cdc', 'switch', 'native-setup', 'bg-create', 'topology-readers', 'topology-endpoints', 'topology-after-switch']);

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
        creations: () => count(CREATES) + slots() + world.nativeCreates,
        deletions: () => count(DELETES) + world.nativeDeletes,
        afterUndo: (stepId) => {
          if (stepId === 'fence') expect([...world.roles.values()].every(Boolean)).toBe(true);
          if (stepId === 'prepare-source' && !world.isMysql) expect([world.slots.source.size, world.publications.source.size]).toEqual([0, 0]);
          if (stepId === 'native-setup') expect([world.subscriptions.target.size, world.replicas.target]).toEqual([0, undefined]);
          if (stepId === 'bg-create') expect(world.deployments.size).toBe(0);
        },
      }, id);
      if (UNDO_DELETES.has(id)) expect(result.deletedByUndo).toBeGreaterThan(0);
      // The final run left what the step makes: the enabled subscription at the captured LSN / the running replica; the deployment.
      if (id === 'native-setup') {
        if (world.isMysql) expect(world.replicas.target?.running).toBe(true);
        else expect(world.subscriptions.target.get(world.names.subscription)).toMatchObject({ enabled: true, originLsn: expect.any(String) });
        expect(result.createdByRun).toBeGreaterThan(0);
      }
      if (id === 'bg-create') expect([result.createdByRun, world.deployments.size]).toEqual([1, 1]);
      if (id === 'bg-delete') expect(world.deployments.size).toBe(0);
      // Aurora topology: the source's one reader made once on the new cluster; its custom endpoint moved; Auto Scaling put back.
      if (id === 'topology-readers') expect([result.createdByRun, world.instances.has(`${world.names.targetCluster}-r1`)]).toEqual([1, true]);
      if (id === 'topology-after-switch') {
        const src = world.runbook.source.identifier;
        expect(world.clusterEndpoints.get(`${src}-analytics`)).toMatchObject({ DBClusterIdentifier: src, StaticMembers: [expect.stringMatching(/-r1$/)] });
        expect(world.scalingPolicies.map((p) => p.PolicyName)).toEqual(['cpu60']);
      }
    });
  });
}

describe('recreate-replicas with a same-Region read replica: run, run again, undo, undo again, run', () => {
  test.each(['dms-cdc', 'native'] as const)('%s on postgres', async (strategy) => {
    const rb = (): Runbook => (strategy === 'native' ? { ...instance('postgres'), strategy: 'native', dms: undefined } : instance('postgres'));
    const world = new World(rb(), { readReplicas: ['app-db-r1'] });
    world.install();
    const result = await stepLifecycle({ flow: buildFlow(world.runbook), ctx: world.context(), creations: () => count(CREATES), deletions: () => count(DELETES) }, 'recreate-replicas');
    // The run renamed the old replica away and created one new replica; the undo deleted it and renamed the old one back.
    expect(result.createdByRun).toBe(1);
    expect(result.deletedByUndo).toBe(2);
    const old = `app-db-r1-old-${world.names.oldName.slice(-8)}`;
    expect(world.instances.get('app-db-r1')).toMatchObject({ KmsKeyId: world.key.Arn, ReadReplicaSourceDBInstanceIdentifier: 'app-db', TagList: expect.arrayContaining([{ Key: 'rekey:run-id', Value: expect.any(String) }]) });
    expect(world.instances.get(old)).toMatchObject({ KmsKeyId: expect.not.stringMatching(world.key.Arn ?? '') });
  });
});

describe('cutover.renameInstances: the instance-name steps through run, run again, undo, undo again, run', () => {
  const keepNames = (): Runbook => testRunbook({ cutover: { maxLatencySeconds: 5, sustainSeconds: 3, drainTimeoutSeconds: 5, fenceTimeoutSeconds: 120, renameInstances: true } });
  test.each(['topology-park-instances', 'topology-instance-names'])('%s on Aurora PostgreSQL', async (id) => {
    const world = new World(keepNames());
    world.install();
    const result = await stepLifecycle({ flow: buildFlow(world.runbook), ctx: world.context(), creations: () => count(CREATES), deletions: () => count(DELETES) }, id);
    // Two instances (the writer and the reader): two renames each way, none on a repeated run or undo.
    expect(result.deletedByUndo).toBe(2);
    const src = world.runbook.source.identifier;
    if (id === 'topology-park-instances') expect([world.instances.has(`${src}-w-old-ab12cd34`), world.instances.has(`${src}-r-old-ab12cd34`)]).toEqual([true, true]);
    else expect([world.instances.get(`${src}-w`)?.KmsKeyId, world.instances.get(`${src}-r`)?.KmsKeyId]).toEqual([world.key.Arn, world.key.Arn]);
  });
});
