// strategy native, without servers: the runbook needs no dms section (and dms-cdc says precisely that it does),
// the flow's steps and plan, and the pure catch-up pieces.
import { buildFlow, planFlow } from '../../src/flows/index.js';
import { formatProblem, loadRunbook } from '../../src/runbook/load.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import { classifyNativeLag, PositionClock } from '../../src/steps/native.js';
import { rdsMock, testRunbook, World } from './steps-world.js';

const YAML = (strategy: string, dms: boolean): string => `version: 1
name: t
region: us-east-1
strategy: ${strategy}
source: {engine: aurora-postgresql, identifier: app-db, database: app, username: rekey_admin, password: {env: HOME}}
target: {kmsKeyId: alias/app-new}
${dms ? 'dms: {replicationInstance: {identifier: rekey-ri}, sslMode: require}\n' : ''}`;

describe('runbook: the dms section', () => {
  it('is optional for strategy native', () => {
    const r = loadRunbook('rb.yaml', YAML('native', false));
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
    expect(r.runbook.strategy).toBe('native');
    expect(r.runbook.dms).toBeUndefined();
  });

  it('is required for dms-cdc, with a message that says why and what instead', () => {
    const r = loadRunbook('rb.yaml', YAML('dms-cdc', false));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.problems.map(formatProblem).join('\n');
    expect(text).toMatch(/missing required key "dms": is required for strategy dms-cdc/);
    expect(text).toMatch(/choose strategy native/);
    expect(runbookSchema.safeParse({ version: 1, name: 't', region: 'us-east-1', source: { engine: 'postgres', identifier: 'a', database: 'd', username: 'u', password: { env: 'X' } }, target: { kmsKeyId: 'alias/x' } }).success).toBe(false);
  });
});

/** A native runbook (no dms section) for an engine. */
const nativeRunbook = (engine: 'aurora-postgresql' | 'aurora-mysql' | 'postgres' | 'mysql' = 'aurora-postgresql') =>
  testRunbook({ strategy: 'native', dms: undefined, source: { ...testRunbook().source, engine } });

describe('the native flow', () => {
  const ids = (engine: 'aurora-postgresql' | 'aurora-mysql' | 'postgres' | 'mysql'): string[] => buildFlow(nativeRunbook(engine)).steps.map((s) => s.id);
  const planText = (rb: ReturnType<typeof nativeRunbook>): string => {
    const world = new World(rb);
    world.install();
    return JSON.stringify(planFlow(buildFlow(rb), world.context()));
  };

  it('shares the dms-cdc steps where they are the same and replaces the DMS ones', () => {
    expect(ids('aurora-postgresql')).toEqual([
      'preflight', 'prepare-source', 'snapshot', 'restore', 'topology-readers', 'topology-endpoints', 'capture-position', 'native-setup', 'catch-up',
      'validate', 'before-fence', 'fence', 'drain', 'stop-replication', 'final-validate', 'fix-sequences', 'topology-release', 'switch',
      'topology-after-switch', 'topology-global', 'verify', 'after-switch', 'cleanup',
    ]);
    expect(ids('mysql').slice(0, 6)).toEqual(['preflight', 'prepare-source', 'replica-position', 'snapshot', 'copy-snapshot', 'restore']);
    expect(buildFlow(nativeRunbook()).id).toBe('native/aurora-postgresql');
  });

  it('plans the publication, the slot, the subscription at the captured LSN, and says the network is the user\'s', () => {
    const text = planText(nativeRunbook());
    expect(text).toContain("pg_create_logical_replication_slot('rekey_ab12cd34', 'pgoutput')");
    expect(text).toContain('create_slot = false, copy_data = false');
    expect(text).toContain('enabled = false');
    expect(text).toContain('pg_replication_origin_advance');
    expect(text).toMatch(/security groups.*yours to ensure/);
    expect(text).not.toContain('dms:');
    expect(rdsMock.calls()).toHaveLength(0);
  });

  it('plans the RDS procedures with TLS for MySQL', () => {
    const text = planText(nativeRunbook('aurora-mysql'));
    expect(text).toContain('mysql.rds_set_external_source');
    expect(text).toContain(', 1)');
    expect(text).toContain('mysql.rds_start_replication');
    expect(text).toContain('mysql.rds_stop_replication');
  });
});

describe('native catch-up', () => {
  it('turns a position lag into seconds since the first unapplied position appeared', () => {
    const c = new PositionClock();
    c.observe(0, 10n);
    c.observe(1000, 20n);
    c.observe(2000, 30n);
    expect(c.lagSeconds(3000, 30n)).toBe(0);
    expect(c.lagSeconds(3000, 15n)).toBe(2);
  });

  it('passes after the sustain window, fails when replication broke, waits otherwise', () => {
    expect(classifyNativeLag({ running: true, lagSeconds: 0.5, underForMs: 3000 }, 3000)).toEqual({ state: 'success' });
    expect(classifyNativeLag({ running: true, lagSeconds: 0.5, underForMs: 1000 }, 3000).state).toBe('retry');
    expect(classifyNativeLag({ running: false, lagSeconds: undefined, underForMs: 0 }, 0).state).toBe('retry');
    expect(classifyNativeLag({ running: false, failure: 'subscription x is disabled', lagSeconds: undefined, underForMs: 0 }, 0)).toEqual({ state: 'failure', reason: 'subscription x is disabled' });
  });
});
