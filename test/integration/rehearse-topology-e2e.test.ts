// The whole Aurora topology moves (issue 15, readers and custom endpoints): `rekey rehearse` with readers, a custom
// endpoint and Aurora Auto Scaling on the source, with live writes and reads through the reader and custom endpoints.
// PostgreSQL: killed right after the first reader's CreateDBInstance, then resumed: no reader (or anything else)
// created twice; with cutover.renameInstances, killed again between the two renames of the instance pairs and resumed:
// the new instances carry the original names. MySQL: one reader. Both: ok, 0 lost, topology expected = recreated/moved,
// no read served by the old cluster after the switch. Small data, delays 0, short sustain.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { crashAt, expectNoDoubleCreate, onlyRun } from '../helpers/kill-matrix.js';
import { rekey, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';

function runbook(dir: string, file: string, source: Record<string, unknown>, cutover: Record<string, unknown> = {}): string {
  const doc = parseDocument(readFileSync(resolve('runbooks', file), 'utf8'));
  doc.setIn(['rehearsal', 'source'], doc.createNode({ seedRows: 2000, ...source }));
  for (const [k, v] of Object.entries(cutover)) doc.setIn(['cutover', k], v);
  doc.setIn(['rehearsal', 'delays'], doc.createNode({ snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 }));
  doc.setIn(['cutover', 'sustainSeconds'], 1);
  const path = join(dir, file);
  writeFileSync(path, doc.toString());
  return path;
}

interface Registry {
  created: { action: string; identifier: string }[];
  instances: Record<string, { clusterIdentifier: string }>;
  clusterEndpoints: Record<string, { clusterResourceId: string; staticMembers: string[] }>;
  clusters: Record<string, { resourceId: string }>;
  autoScaling?: { targets: Record<string, unknown>; policies: Record<string, unknown> };
}
const registryOf = (cwd: string, runId: string): Registry => JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as Registry;

afterAll(stopServersLeftUnder);

describe('rekey rehearse: the Aurora topology moves with the cluster', () => {
  it('PostgreSQL, 2 readers and a custom endpoint, killed while the readers are created: resumed, each made once, moved, no stale read', async () => {
    const cwd = tempDir('topology-pg');
    const file = runbook(cwd, 'rehearsal-postgres.yaml', {
      readers: 2,
      customEndpoints: [{ name: 'orders-analytics', staticMembers: ['orders-db-reader-1', 'orders-db-reader-2'] }],
      autoScaling: { minCapacity: 1, maxCapacity: 3 },
    }, { renameInstances: true });
    await crashAt('topology-readers:after-create@1', ['rehearse', file, '--json'], cwd);
    const runId = onlyRun(cwd);
    // cutover.renameInstances: killed again between the two renames of each pair (the old names parked, the new
    // writer's rename asked for, the readers' not yet); the next resume finishes every pair.
    await crashAt('topology-instances:after-name-call@1', ['resume', runId, '--json'], cwd);
    const out = await rekey(['resume', runId, '--json'], cwd);
    const s = summaryOf(out) as ReturnType<typeof summaryOf> & { topology: unknown; reads: { servedByOldAfterSwitch: number; ok: number } };
    expect(out.code).toBe(0);
    expect(s).toMatchObject({ ok: true, switched: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.topology).toEqual({
      readers: { expected: 2, recreated: 2 }, customEndpoints: { expected: 1, moved: 1 }, autoScaling: { expected: 1, registered: 1 },
      instanceNames: { expected: 3, kept: ['orders-db-instance-1', 'orders-db-reader-1', 'orders-db-reader-2'] },
    });
    expect(s.reads.servedByOldAfterSwitch).toBe(0);
    expect(s.reads.ok).toBeGreaterThan(0);
    expectNoDoubleCreate(cwd, runId);
    const reg = registryOf(cwd, runId);
    const readers = reg.created.filter((c) => c.action === 'CreateDBInstance' && /-r\d$/.test(c.identifier)).map((c) => c.identifier).sort();
    expect(readers).toEqual([`orders-db-rekey-${runId}-r1`, `orders-db-rekey-${runId}-r2`]);
    // The custom endpoint's name is on the cluster now serving orders-db, its members the new readers (under the kept
    // names); the pre-switch name is gone.
    const ep = reg.clusterEndpoints['orders-analytics'];
    expect(ep?.clusterResourceId).toBe(reg.clusters['orders-db']?.resourceId);
    expect(ep?.staticMembers.sort()).toEqual(['orders-db-reader-1', 'orders-db-reader-2']);
    expect(Object.keys(reg.clusterEndpoints)).toEqual(['orders-analytics']);
    // The original instance names serve the new cluster; the old instances are renamed away with the old cluster.
    const members = (cluster: string) => Object.entries(reg.instances).filter(([, i]) => i.clusterIdentifier === cluster).map(([id]) => id).sort();
    expect(members('orders-db')).toEqual(['orders-db-instance-1', 'orders-db-reader-1', 'orders-db-reader-2']);
    expect(members(`orders-db-old-${runId}`)).toEqual(['orders-db-instance-1', 'orders-db-reader-1', 'orders-db-reader-2'].map((n) => `${n}-old-${runId}`));
    expect(Object.keys(reg.autoScaling?.policies ?? {})).toEqual(['cluster:orders-db rds:cluster:ReadReplicaCount reader-cpu']);

  }, 400_000);

  it('MySQL, 1 reader: recreated, 0 lost, no read served by the old cluster after the switch', async () => {
    const cwd = tempDir('topology-my');
    const out = await rekey(['rehearse', runbook(cwd, 'rehearsal-mysql.yaml', { readers: 1 }), '--json'], cwd);
    const s = summaryOf(out) as ReturnType<typeof summaryOf> & { topology: unknown; reads: { servedByOldAfterSwitch: number; ok: number } };
    expect(out.code).toBe(0);
    expect(s).toMatchObject({ ok: true, switched: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.topology).toEqual({ readers: { expected: 1, recreated: 1 }, customEndpoints: { expected: 0, moved: 0 } });
    expect(s.reads.servedByOldAfterSwitch).toBe(0);
    expect(s.reads.ok).toBeGreaterThan(0);
  }, 400_000);
});
