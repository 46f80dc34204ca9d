// The rehearsal cloud's estate commands on a registry alone (no server): KMS Sign/Verify with a local key pair,
// cross-Region snapshot copies into a second Region with the checks RDS makes, the estate's reads in an Aurora world.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeKeyCommand, SignCommand, VerifyCommand } from '@aws-sdk/client-kms';
import {
  CopyDBClusterSnapshotCommand, CreateDBClusterCommand, CreateGlobalClusterCommand, DeleteDBClusterCommand, DeleteGlobalClusterCommand, DescribeDBClustersCommand,
  ModifyGlobalClusterCommand, RemoveFromGlobalClusterCommand, DescribeBlueGreenDeploymentsCommand, DescribeDBInstanceAutomatedBackupsCommand, DescribeDBClusterAutomatedBackupsCommand, DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand,
  DescribeGlobalClustersCommand, ListTagsForResourceCommand,
} from '@aws-sdk/client-rds';
import type { Cloud } from '../../src/aws/cloud.js';
import { REHEARSAL_SIGNING_ALIAS } from '../../src/rehearsal/aws/estate.js';
import { openRehearsalRegistry } from '../../src/rehearsal/estate-world.js';
import { declareKey } from '../../src/rehearsal/aws/kms.js';
import { Registry, type ClusterRecord, type SnapshotRecord } from '../../src/rehearsal/registry.js';
import { runbookSchema } from '../../src/runbook/schema.js';

const runbook = runbookSchema.parse({
  version: 1, name: 't', region: 'us-east-1', account: '123456789012',
  source: { engine: 'aurora-postgresql', identifier: 'orders-db', database: 'orders', username: 'u', password: { env: 'X' } },
  target: { kmsKeyId: 'alias/new' }, dms: { replicationInstance: { identifier: 'ri' } }, rehearsal: {},
});
const SNAP_ARN = 'arn:aws:rds:us-east-1:123456789012:cluster-snapshot:snap-1';

async function fault(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
  throw new Error('expected a fault');
}

let cloud: Cloud;
beforeEach(() => {
  const dir = mkdtempSync(join(tmpdir(), 'estate-rh-'));
  const reg = Registry.create(join(dir, 'cloud'), '123456789012', 'us-east-1');
  const old = declareKey(reg.state, 'alias/aws/rds', {});
  declareKey(reg.state, 'alias/new', {});
  declareKey(reg.state, 'alias/dr', { region: 'us-west-2' });
  reg.state.snapshots['snap-1'] = {
    identifier: 'snap-1', clusterIdentifier: 'orders-db', engine: 'aurora-postgresql', engineVersion: '15', kmsKeyArn: old.arn, createdAt: 0, readyAt: 0,
    clusterSettings: { masterUsername: 'u', availabilityZones: [], iamDatabaseAuthentication: false }, tags: [{ Key: 'app', Value: 'orders' }],
  } as unknown as SnapshotRecord;
  reg.save();
  cloud = openRehearsalRegistry(dir, runbook).cloud;
});

describe('rehearsal KMS Sign/Verify', () => {
  test('the attestation signing key signs a SHA-256 digest and verifies it; another digest, a symmetric key or a wrong algorithm fail as on KMS', async () => {
    const meta = (await cloud.kms.send(new DescribeKeyCommand({ KeyId: REHEARSAL_SIGNING_ALIAS }))).KeyMetadata;
    expect(meta).toMatchObject({ KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: ['ECDSA_SHA_256'], KeySpec: 'ECC_NIST_P256' });
    const digest = createHash('sha256').update('attestation').digest();
    const signed = await cloud.kms.send(new SignCommand({ KeyId: REHEARSAL_SIGNING_ALIAS, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect(signed.KeyId).toBe(meta?.Arn);
    const verify = (m: Buffer) => cloud.kms.send(new VerifyCommand({ KeyId: meta!.Arn!, Message: m, MessageType: 'DIGEST', Signature: signed.Signature!, SigningAlgorithm: 'ECDSA_SHA_256' }));
    expect((await verify(digest)).SignatureValid).toBe(true);
    const other = Buffer.from(digest);
    other[0] = other[0]! ^ 1;
    expect(await fault(verify(other))).toMatch(/^KMSInvalidSignatureException/);
    expect(await fault(cloud.kms.send(new SignCommand({ KeyId: 'alias/new', Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' })))).toMatch(/^InvalidKeyUsageException/);
    expect(await fault(cloud.kms.send(new SignCommand({ KeyId: REHEARSAL_SIGNING_ALIAS, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_256' })))).toMatch(/^InvalidKeyUsageException/);
  });
});

describe('rehearsal cross-Region snapshot copy', () => {
  const west = () => cloud.inRegion!('us-west-2');
  const copy = (input: Record<string, unknown>) => west().rds.send(new CopyDBClusterSnapshotCommand({ SourceDBClusterSnapshotIdentifier: SNAP_ARN, TargetDBClusterSnapshotIdentifier: 'snap-1', KmsKeyId: 'alias/dr', ...input }));

  test('refuses what RDS refuses: no key, a name instead of an ARN, a key of another Region', async () => {
    expect(await fault(copy({ KmsKeyId: undefined }))).toMatch(/^InvalidParameterCombination: KmsKeyId is required/);
    expect(await fault(copy({ SourceDBClusterSnapshotIdentifier: 'snap-1' }))).toMatch(/^InvalidParameterValue: The source snapshot must be given by ARN/);
    expect(await fault(copy({ KmsKeyId: 'alias/new' }))).toMatch(/^KMSKeyNotAccessibleFault/);
  });

  test('the copy lives in the destination Region under its key, with the source tags when CopyTags, and a second copy of the name is refused', async () => {
    const out = await copy({ CopyTags: true, Tags: [{ Key: 'rekey:copied-from', Value: SNAP_ARN }] });
    expect(out.DBClusterSnapshot).toMatchObject({ DBClusterSnapshotArn: 'arn:aws:rds:us-west-2:123456789012:cluster-snapshot:snap-1', SourceDBClusterSnapshotArn: SNAP_ARN });
    expect(out.DBClusterSnapshot?.KmsKeyId).toMatch(/^arn:aws:kms:us-west-2:123456789012:key\//);
    const listed = (await west().rds.send(new DescribeDBClusterSnapshotsCommand({}))).DBClusterSnapshots ?? [];
    expect(listed.map((s) => s.DBClusterSnapshotIdentifier)).toEqual(['snap-1']);
    const home = (await cloud.rds.send(new DescribeDBClusterSnapshotsCommand({}))).DBClusterSnapshots ?? [];
    expect(home.map((s) => s.DBClusterSnapshotArn)).toEqual([SNAP_ARN]);
    const tags = (await west().rds.send(new ListTagsForResourceCommand({ ResourceName: 'arn:aws:rds:us-west-2:123456789012:cluster-snapshot:snap-1' }))).TagList;
    expect(tags).toEqual([{ Key: 'app', Value: 'orders' }, { Key: 'rekey:copied-from', Value: SNAP_ARN }]);
    expect(await fault(copy({}))).toMatch(/^DBClusterSnapshotAlreadyExistsFault/);
  });

  test('an Aurora world answers the estate reads (no DB snapshots, no retained backups, no Blue/Green, no global cluster)', async () => {
    expect((await cloud.rds.send(new DescribeDBSnapshotsCommand({}))).DBSnapshots).toEqual([]);
    expect((await cloud.rds.send(new DescribeDBClusterAutomatedBackupsCommand({}))).DBClusterAutomatedBackups).toEqual([]);
    expect((await cloud.rds.send(new DescribeBlueGreenDeploymentsCommand({}))).BlueGreenDeployments).toEqual([]);
    expect((await cloud.rds.send(new DescribeGlobalClustersCommand({}))).GlobalClusters).toEqual([]);
    expect(await fault(cloud.rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'g' })))).toMatch(/^GlobalClusterNotFoundFault/);
  });
});

describe('rehearsal automated backups', () => {
  test('an RDS instance with backups has active automated backups on its key, restore window bounded by its retention', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'estate-rh-'));
    const reg = Registry.create(join(dir, 'cloud'), '123456789012', 'us-east-1');
    const key = declareKey(reg.state, 'alias/aws/rds', {});
    const now = Date.now();
    reg.state.clusters['orders-db'] = {
      identifier: 'orders-db', resourceId: 'db-ABC', engine: 'postgres', engineVersion: '15', kmsKeyArn: key.arn, createdAt: now - 30 * 86400_000, readyAt: 0,
      settings: { backupRetentionPeriod: 7 }, tags: [], instance: { dbiResourceId: 'db-ABC' },
    } as unknown as ClusterRecord;
    reg.save();
    const rb = runbookSchema.parse({ ...runbook, source: { ...runbook.source, engine: 'postgres' } });
    const c = openRehearsalRegistry(dir, rb).cloud;
    const out = (await c.rds.send(new DescribeDBInstanceAutomatedBackupsCommand({}))).DBInstanceAutomatedBackups ?? [];
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ DBInstanceIdentifier: 'orders-db', DbiResourceId: 'db-ABC', Status: 'active', KmsKeyId: key.arn, BackupRetentionPeriod: 7, Encrypted: true });
    const window = out[0]!.RestoreWindow!;
    expect(Math.round((window.LatestTime!.getTime() - window.EarliestTime!.getTime()) / 86400_000)).toBe(7);
    expect((await c.rds.send(new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: 'other' }))).DBInstanceAutomatedBackups).toEqual([]);
  });
});

describe('rehearsal Aurora global database', () => {
  test('a secondary in the second Region under a key of that Region only; members cannot be deleted; the primary leaves last', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'estate-rh-'));
    const reg = Registry.create(join(dir, 'cloud'), '123456789012', 'us-east-1');
    const key = declareKey(reg.state, 'alias/aws/rds', {});
    const eu = declareKey(reg.state, 'alias/orders-eu', { region: 'eu-west-1' });
    reg.state.clusters['orders-db'] = {
      identifier: 'orders-db', resourceId: 'cluster-ABC', engine: 'aurora-postgresql', engineVersion: '15.4', kmsKeyArn: key.arn, createdAt: 0, readyAt: 0,
      backend: { server: 'source', host: '127.0.0.1', port: 1, database: 'orders', user: 'rdsadmin' },
      settings: { parameterGroup: 'default.aurora-postgresql15', subnetGroup: 'subnets', securityGroupIds: ['sg-1'], availabilityZones: [] }, tags: [],
    } as unknown as ClusterRecord;
    reg.save();
    const home = openRehearsalRegistry(dir, runbook).cloud;
    const there = home.inRegion!('eu-west-1');
    const primaryArn = 'arn:aws:rds:us-east-1:123456789012:cluster:orders-db';
    await home.rds.send(new CreateGlobalClusterCommand({ GlobalClusterIdentifier: 'orders-global', SourceDBClusterIdentifier: primaryArn }));
    expect(await fault(home.rds.send(new CreateGlobalClusterCommand({ GlobalClusterIdentifier: 'other', SourceDBClusterIdentifier: primaryArn })))).toMatch(/^InvalidDBClusterStateFault: Cluster orders-db is already a member/);
    // A key of the home Region is refused in eu-west-1, as for a cross-Region read replica.
    const secondary = { DBClusterIdentifier: 'orders-eu', GlobalClusterIdentifier: 'orders-global', Engine: 'aurora-postgresql', StorageEncrypted: true };
    expect(await fault(there.rds.send(new CreateDBClusterCommand({ ...secondary, KmsKeyId: key.arn })))).toMatch(/^KMSKeyNotAccessibleFault: .*is in region us-east-1; RDS in eu-west-1 cannot use it/);
    expect(await fault(there.rds.send(new CreateDBClusterCommand({ DBClusterIdentifier: 'lone', Engine: 'aurora-postgresql', KmsKeyId: eu.arn })))).toMatch(/^InvalidParameterCombination/);
    await there.rds.send(new CreateDBClusterCommand({ ...secondary, KmsKeyId: 'alias/orders-eu' }));
    const seen = (await there.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'orders-eu' }))).DBClusters?.[0];
    expect(seen).toMatchObject({ DBClusterArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:orders-eu', KmsKeyId: eu.arn, GlobalClusterIdentifier: 'orders-global', Status: 'creating' });
    // A cluster of another Region is not found at home; the global cluster is seen from both.
    expect(await fault(home.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'orders-eu' })))).toMatch(/^DBClusterNotFoundFault/);
    const members = (await there.rds.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'orders-global' }))).GlobalClusters?.[0]?.GlobalClusterMembers;
    expect(members?.map((m) => [m.DBClusterArn, m.IsWriter])).toEqual([[primaryArn, true], [seen?.DBClusterArn, false]]);
    expect(await fault(there.rds.send(new CreateDBClusterCommand({ ...secondary, DBClusterIdentifier: 'orders-eu-2', KmsKeyId: eu.arn })))).toMatch(/^InvalidGlobalClusterStateFault: .*already has a member in eu-west-1/);
    // Members cannot be deleted, nor a global cluster with members; the primary leaves only as the last member.
    expect(await fault(there.rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: 'orders-eu', SkipFinalSnapshot: true })))).toMatch(/^InvalidDBClusterStateFault: Cluster orders-eu is a member/);
    expect(await fault(home.rds.send(new DeleteGlobalClusterCommand({ GlobalClusterIdentifier: 'orders-global' })))).toMatch(/^InvalidGlobalClusterStateFault/);
    expect(await fault(home.rds.send(new RemoveFromGlobalClusterCommand({ GlobalClusterIdentifier: 'orders-global', DbClusterIdentifier: primaryArn })))).toMatch(/^InvalidGlobalClusterStateFault/);
    await there.rds.send(new RemoveFromGlobalClusterCommand({ GlobalClusterIdentifier: 'orders-global', DbClusterIdentifier: seen?.DBClusterArn }));
    await there.rds.send(new DeleteDBClusterCommand({ DBClusterIdentifier: 'orders-eu', SkipFinalSnapshot: true }));
    await home.rds.send(new ModifyGlobalClusterCommand({ GlobalClusterIdentifier: 'orders-global', NewGlobalClusterIdentifier: 'orders-global-old' }));
    await home.rds.send(new RemoveFromGlobalClusterCommand({ GlobalClusterIdentifier: 'orders-global-old', DbClusterIdentifier: primaryArn }));
    await home.rds.send(new DeleteGlobalClusterCommand({ GlobalClusterIdentifier: 'orders-global-old' }));
    expect((await home.rds.send(new DescribeGlobalClustersCommand({}))).GlobalClusters).toEqual([]);
  });
});
