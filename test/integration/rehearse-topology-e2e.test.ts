// The whole Aurora topology moves (issue 15, readers, custom endpoints, global database): `rekey rehearse` with readers,
// a custom endpoint and Aurora Auto Scaling on the source, with live writes and reads through the reader and custom
// endpoints. PostgreSQL: killed right after the first reader's CreateDBInstance, then resumed: no reader (or anything
// else) created twice; with cutover.renameInstances, killed again between the two renames of the instance pairs and
// resumed: the new instances carry the original names; the source also heads a global database with a secondary in a
// second rehearsal Region, killed again right after the new secondary's CreateDBCluster and resumed: the secondary and
// its instances made once, under the Region's key. MySQL: one reader. Both: ok, 0 lost, topology expected =
// recreated/moved/added, no read served by the old cluster after the switch. Small data, delays 0, short sustain.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { crashAt, expectNoDoubleCreate, onlyRun } from '../helpers/kill-matrix.js';
import { rekey, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';

function runbook(dir: string, file: string, source: Record<string, unknown>, cutover: Record<string, unknown> = {}, regionKeys: Record<string, string> = {}): string {
  const doc = parseDocument(readFileSync(resolve('runbooks', file), 'utf8'));
  doc.setIn(['rehearsal', 'source'], doc.createNode({ seedRows: 2000, ...source }));
  for (const [k, v] of Object.entries(cutover)) doc.setIn(['cutover', k], v);
  for (const [region, key] of Object.entries(regionKeys)) {
    doc.setIn(['target', 'regionKeys', region], key);
    (doc.getIn(['rehearsal', 'keys']) as { add(v: unknown): void }).add(doc.createNode({ id: key, region }));
  }
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
  clusters: Record<string, { resourceId: string; kmsKeyArn: string; region?: string }>;
  keys: Record<string, { arn: string; region: string; aliases: string[] }>;
  globalClusters?: Record<string, { members: { clusterResourceId: string; isWriter: boolean }[] }>;
  autoScaling?: { targets: Record<string, unknown>; policies: Record<string, unknown> };
}
const registryOf = (cwd: string, runId: string): Registry => JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as Registry;

afterAll(stopServersLeftUnder);

describe('rekey rehearse: the Aurora topology moves with the cluster', () => {
  it('PostgreSQL, 2 readers, a custom endpoint and a global secondary, killed while readers are made, names kept and the secondary made: resumed, each made once, no stale read', async () => {
    const cwd = tempDir('topology-pg');
    const file = runbook(cwd, 'rehearsal-postgres.yaml', {
      readers: 2,
      customEndpoints: [{ name: 'orders-analytics', staticMembers: ['orders-db-reader-1', 'orders-db-reader-2'] }],
      autoScaling: { minCapacity: 1, maxCapacity: 3 },
      globalSecondaries: [{ region: 'eu-west-1', instances: 2 }],
    }, { renameInstances: true }, { 'eu-west-1': 'alias/orders-eu-2026' });
    await crashAt('topology-readers:after-create@1', ['rehearse', file, '--json'], cwd);
    const runId = onlyRun(cwd);
    // cutover.renameInstances: killed again between the two renames of each pair (the old names parked, the new
    // writer's rename asked for, the readers' not yet); the next resume finishes every pair.
    await crashAt('topology-instances:after-name-call@1', ['resume', runId, '--json'], cwd);
    // The global database: killed right after the new secondary's CreateDBCluster (its instances not asked for yet).
    await crashAt('topology-global:after-create-secondary', ['resume', runId, '--json'], cwd);
    const out = await rekey(['resume', runId, '--json'], cwd);
    const s = summaryOf(out) as ReturnType<typeof summaryOf> & {
      topology: unknown; reads: { servedByOldAfterSwitch: number; ok: number };
      evidence?: { resources: { kind: string; role: string; identifier: string; region?: string; kmsKeyId?: string }[] };
    };
    expect(out.code).toBe(0);
    expect(s).toMatchObject({ ok: true, switched: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    const reg = registryOf(cwd, runId);
    const keyOf = (alias: string, region: string): string => Object.values(reg.keys).find((k) => k.region === region && k.aliases.includes(alias))!.arn;
    const euKey = keyOf('alias/orders-eu-2026', 'eu-west-1');
    expect(s.topology).toEqual({
      readers: { expected: 2, recreated: 2 }, customEndpoints: { expected: 1, moved: 1 }, replicas: { expected: 0, recreated: 0, regions: [] }, autoScaling: { expected: 1, registered: 1 },
      instanceNames: { expected: 3, kept: ['orders-db-instance-1', 'orders-db-reader-1', 'orders-db-reader-2'] },
      globalDatabase: { identifier: 'orders-db-global', expected: 1, added: 1, regions: [{ region: 'eu-west-1', identifier: 'orders-db-eu-west-1', key: euKey, added: true, lagMs: 0 }] },
      regionsWithoutReplica: [],
    });
    // The secondary and its two instances made once each, in eu-west-1; the new global database headed by the new cluster.
    expect(reg.created.filter((c) => c.action.endsWith('(eu-west-1)')).map((c) => `${c.action} ${c.identifier}`).sort()).toEqual([
      'CreateDBCluster (eu-west-1) orders-db-eu-west-1',
      `CreateDBInstance (eu-west-1) orders-db-eu-west-1-rekey-${runId}-1`, `CreateDBInstance (eu-west-1) orders-db-eu-west-1-rekey-${runId}-2`,
    ]);
    expect(reg.clusters['orders-db-eu-west-1']).toMatchObject({ kmsKeyArn: euKey, region: 'eu-west-1' });
    expect(reg.clusters[`orders-db-eu-west-1-old-${runId}`]).toMatchObject({ kmsKeyArn: keyOf('alias/rekey-rehearsal-old', 'eu-west-1'), region: 'eu-west-1' });
    const globalMembers = (g: string): (string | undefined)[] => (reg.globalClusters?.[g]?.members ?? []).map((m) => m.clusterResourceId);
    expect(globalMembers('orders-db-global')).toEqual([reg.clusters['orders-db']?.resourceId, reg.clusters['orders-db-eu-west-1']?.resourceId]);
    expect(globalMembers(`orders-db-global-old-${runId}`)).toEqual([reg.clusters[`orders-db-old-${runId}`]?.resourceId, reg.clusters[`orders-db-eu-west-1-old-${runId}`]?.resourceId]);
    // The encryption evidence lists the new secondary under the Region's key, and the old one.
    const secondaries = (s.evidence?.resources ?? []).filter((r) => r.region === 'eu-west-1').map((r) => [r.identifier, r.kmsKeyId]);
    expect(secondaries).toEqual([['orders-db-eu-west-1', euKey], [`orders-db-eu-west-1-old-${runId}`, keyOf('alias/rekey-rehearsal-old', 'eu-west-1')]]);
    expect(readFileSync(join(cwd, '.rekey', 'runs', runId, 'report.md'), 'utf8')).toContain('## Global database');
    // The old global database and its secondary are kept for rollback, and said so.
    expect((s as unknown as { rollback: { kept: string[] } }).rollback.kept).toContain(`the old global database orders-db-global-old-${runId} with its secondaries orders-db-eu-west-1-old-${runId} (eu-west-1) (on their Regions' old keys)`);
    expect(s.reads.servedByOldAfterSwitch).toBe(0);
    expect(s.reads.ok).toBeGreaterThan(0);
    expectNoDoubleCreate(cwd, runId);
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
    expect(s.topology).toEqual({ readers: { expected: 1, recreated: 1 }, customEndpoints: { expected: 0, moved: 0 }, replicas: { expected: 0, recreated: 0, regions: [] }, regionsWithoutReplica: [] });
    expect(s.reads.servedByOldAfterSwitch).toBe(0);
    expect(s.reads.ok).toBeGreaterThan(0);
  }, 400_000);
});
