// An RDS for PostgreSQL rehearsal whose source has two read replicas: one in its Region, one in a second rehearsal
// Region under that Region's own key (target.regionKeys). The runner is killed right after it asked for the second
// (cross-Region) replica, then resumed: each replica is created exactly once (the rehearsal cloud's registry of
// create calls), both under the right keys (read back, in the encryption evidence and the summary's topology), the
// old replicas renamed -old-<runid> and still attached to the old primary, 0 writes lost or duplicated.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { crashAt, expectNoDoubleCreate, onlyRun } from '../helpers/kill-matrix.js';
import { rekey, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';

afterAll(stopServersLeftUnder);

interface Registry {
  created: { action: string; identifier: string }[];
  clusters: Record<string, { identifier: string; resourceId: string; kmsKeyArn: string; region?: string; route?: boolean; instance?: { replicaOfResourceId?: string } }>;
  keys: Record<string, { arn: string; region: string; aliases: string[] }>;
}

test('same-Region and cross-Region read replicas are recreated once each, across a kill, under the right keys', async () => {
  const cwd = tempDir('replicas-e2e');
  const doc = parseDocument(readFileSync(resolve('runbooks/rehearsal-rds-postgres.yaml'), 'utf8'));
  doc.setIn(['rehearsal', 'source', 'seedRows'], 2000);
  doc.setIn(['rehearsal', 'source', 'replicas'], [{}, { region: 'eu-west-1' }]);
  doc.setIn(['rehearsal', 'delays'], { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 });
  doc.setIn(['rehearsal', 'load', 'writesPerSecond'], 50);
  doc.setIn(['cutover', 'sustainSeconds'], 1);
  doc.setIn(['cutover', 'fenceTimeoutSeconds'], 600);
  doc.setIn(['target', 'regionKeys'], { 'eu-west-1': 'alias/billing-eu-2026' });
  const keys = doc.getIn(['rehearsal', 'keys']) as { add(v: unknown): void };
  keys.add(doc.createNode({ id: 'alias/billing-eu-2026', region: 'eu-west-1' }));
  const path = join(cwd, 'rds-replicas.yaml');
  writeFileSync(path, doc.toString());

  // The second create call is the cross-Region one (the same-Region replica is listed first).
  await crashAt('replicas:after-create-call@2', ['rehearse', path, '--json'], cwd);
  const runId = onlyRun(cwd);
  const resumed = await rekey(['resume', runId, '--json'], cwd);
  const s = summaryOf(resumed) as ReturnType<typeof summaryOf> & {
    topology?: { replicas: { expected: number; recreated: number; regions: { region: string; key: string; recreated: boolean; lagSeconds?: number }[] }; regionsWithoutReplica: string[] };
    evidence?: { resources: { kind: string; role: string; identifier: string; kmsKeyId?: string }[] };
  };
  expect({ code: resumed.code, ok: s.ok }).toEqual({ code: 0, ok: true });
  expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });

  const reg = JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as Registry;
  expectNoDoubleCreate(cwd, runId);
  expect(reg.created.filter((c) => c.action.startsWith('CreateDBInstanceReadReplica')).map((c) => `${c.action} ${c.identifier}`).sort())
    .toEqual(['CreateDBInstanceReadReplica (eu-west-1) billing-db-replica-2', 'CreateDBInstanceReadReplica billing-db-replica-1']);

  const keyOf = (alias: string, region: string): string => Object.values(reg.keys).find((k) => k.region === region && k.aliases.includes(alias))!.arn;
  const newKey = keyOf('alias/billing-2026', 'us-east-1');
  const euKey = keyOf('alias/billing-eu-2026', 'eu-west-1');
  const primary = reg.clusters['billing-db']!;
  const oldPrimary = reg.clusters[`billing-db-old-${runId}`]!;
  expect(primary.kmsKeyArn).toBe(newKey);
  // The new replicas: from the new primary, same-Region under its key, cross-Region under the Region's key.
  expect(reg.clusters['billing-db-replica-1']).toMatchObject({ kmsKeyArn: newKey, instance: { replicaOfResourceId: primary.resourceId } });
  expect(reg.clusters['billing-db-replica-2']).toMatchObject({ kmsKeyArn: euKey, region: 'eu-west-1', instance: { replicaOfResourceId: primary.resourceId } });
  // The old replicas: renamed so they say they are old, still attached to the old primary, still on their old keys.
  expect(reg.clusters[`billing-db-replica-1-old-${runId}`]).toMatchObject({ kmsKeyArn: oldPrimary.kmsKeyArn, instance: { replicaOfResourceId: oldPrimary.resourceId } });
  expect(reg.clusters[`billing-db-replica-2-old-${runId}`]?.kmsKeyArn).toBe(keyOf('alias/rekey-rehearsal-old', 'eu-west-1'));

  expect(s.topology).toEqual({
    replicas: {
      expected: 2, recreated: 2,
      regions: [{ region: 'us-east-1', key: newKey, recreated: true, lagSeconds: 0 }, { region: 'eu-west-1', key: euKey, recreated: true, lagSeconds: 0 }],
    },
    regionsWithoutReplica: [],
  });
  const replicas = (s.evidence?.resources ?? []).filter((r) => r.kind === 'read-replica').map((r) => [r.identifier, r.kmsKeyId]);
  expect(replicas).toEqual([
    ['billing-db-replica-1', newKey], [`billing-db-replica-1-old-${runId}`, oldPrimary.kmsKeyArn],
    ['billing-db-replica-2', euKey], [`billing-db-replica-2-old-${runId}`, keyOf('alias/rekey-rehearsal-old', 'eu-west-1')],
  ]);
  const report = readFileSync(join(cwd, '.rekey', 'runs', runId, 'report.md'), 'utf8');
  expect(report).toContain('billing-db-replica-2');
}, 300_000);
