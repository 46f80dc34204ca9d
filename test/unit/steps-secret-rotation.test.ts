// A Secrets Manager password that rotated during a long run: a refused login reads the secret again, once.
import { describe, expect, test } from '@jest/globals';
import type { DbConnector } from '../../src/db/types.js';
import { withSource } from '../../src/steps/common.js';
import { testRunbook, World } from './steps-world.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:app-db-AbCdEf';

function rotating(world: World, refusing: (password: string | undefined) => boolean) {
  const inner = world.connector();
  const tried: (string | undefined)[] = [];
  const db: DbConnector = {
    open: (engine, endpoint) => {
      tried.push(endpoint.password);
      if (refusing(endpoint.password)) {
        return Promise.reject(new Error('cannot connect: password authentication failed', { cause: Object.assign(new Error('password authentication failed'), { code: '28P01' }) }));
      }
      return inner.open(engine, endpoint);
    },
  };
  let value = 'before-rotation';
  let refreshed = 0;
  const secrets = {
    resolve: () => Promise.resolve(value),
    refresh: () => {
      refreshed += 1;
      value = 'after-rotation';
    },
  };
  return { db, secrets, tried, refreshed: () => refreshed };
}

describe('a rotated Secrets Manager password', () => {
  test('a refused login reads the secret again and connects with the new value', async () => {
    const world = new World(testRunbook({ source: { engine: 'aurora-postgresql', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { secretArn: ARN } } }));
    world.install();
    const r = rotating(world, (pw) => pw === 'before-rotation');
    const ctx = world.context({}, { ...world.services(), db: r.db, secrets: r.secrets });
    await expect(withSource(ctx, (db) => db.serverVersion())).resolves.toEqual(expect.any(String));
    expect(r.tried).toEqual(['before-rotation', 'after-rotation']);
    expect(r.refreshed()).toBe(1);
    expect(world.events.some((e) => e.includes(`reading secret ${ARN} again`))).toBe(true);
  });

  test('only once, and only for a refused login with a Secrets Manager password', async () => {
    const world = new World(testRunbook({ source: { engine: 'aurora-postgresql', identifier: 'app-db', database: 'app', username: 'rekey_admin', password: { secretArn: ARN } } }));
    world.install();
    const r = rotating(world, () => true);
    const ctx = world.context({}, { ...world.services(), db: r.db, secrets: r.secrets });
    await expect(withSource(ctx, (db) => db.serverVersion())).rejects.toThrow(/password authentication failed/);
    expect(r.tried).toHaveLength(2);
    const env = new World();
    env.install();
    const e = rotating(env, () => true);
    await expect(withSource(env.context({}, { ...env.services(), db: e.db, secrets: e.secrets }), (db) => db.serverVersion())).rejects.toThrow(/password authentication failed/);
    expect(e.tried).toHaveLength(1);
    expect(e.refreshed()).toBe(0);
  });
});
