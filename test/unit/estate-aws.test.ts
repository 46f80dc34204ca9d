// Request shapes of the key-estate commands against the real SDK clients (aws-sdk-client-mock): inventory reads and
// pagination, unreadable lists reported, key lookups, grants, Sign/Verify over a SHA-256 digest, cross-Region copies.
import { DescribeKeyCommand, KMSClient, ListAliasesCommand, ListGrantsCommand, SignCommand, VerifyCommand } from '@aws-sdk/client-kms';
import {
  CopyDBClusterSnapshotCommand, DescribeBlueGreenDeploymentsCommand, DescribeDBClusterAutomatedBackupsCommand, DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand,
  DescribeDBInstanceAutomatedBackupsCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand, DescribeGlobalClustersCommand, ListTagsForResourceCommand, RDSClient,
} from '@aws-sdk/client-rds';
import { mockClient } from 'aws-sdk-client-mock';
import type { Cloud } from '../../src/aws/cloud.js';
import { canonicalJson, digestOf, signAttestation, verifyAttestation, type Attestation } from '../../src/estate/attest.js';
import { copySnapshotToRegion } from '../../src/estate/copy-snapshot.js';
import { inventory, retireCheck } from '../../src/estate/inventory.js';

const rdsMock = mockClient(RDSClient);
const kmsMock = mockClient(KMSClient);
const OLD = 'arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111';
const SIGN = 'arn:aws:kms:us-east-1:111122223333:key/99999999-9999-9999-9999-999999999999';

function cloud(region = 'us-east-1'): Cloud {
  const c: Cloud = { rds: new RDSClient({ region }), kms: new KMSClient({ region }), dms: undefined as never, cloudwatch: undefined as never, autoscaling: undefined as never, provider: 'aws', region };
  c.inRegion = (r) => cloud(r);
  return c;
}

const denied = () => Object.assign(new Error('not authorized to perform rds:DescribeGlobalClusters'), { name: 'AccessDenied' });

beforeEach(() => {
  rdsMock.reset();
  kmsMock.reset();
  rdsMock.on(DescribeDBClustersCommand).callsFake((input: { Marker?: string }) =>
    input.Marker === undefined
      ? { DBClusters: [{ DBClusterIdentifier: 'a', DBClusterArn: 'arn:aws:rds:us-east-1:111122223333:cluster:a', StorageEncrypted: true, KmsKeyId: OLD, EarliestRestorableTime: new Date('2026-01-01T00:00:00Z'), BackupRetentionPeriod: 7 }], Marker: 'p2' }
      : { DBClusters: [{ DBClusterIdentifier: 'plain', StorageEncrypted: false }] },
  );
  rdsMock.on(DescribeDBInstancesCommand).resolves({ DBInstances: [{ DBInstanceIdentifier: 'r1', StorageEncrypted: true, KmsKeyId: OLD, ReadReplicaSourceDBInstanceIdentifier: 'db1' }] });
  rdsMock.on(DescribeDBClusterSnapshotsCommand).resolves({ DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: 's1', StorageEncrypted: true, KmsKeyId: OLD, SnapshotType: 'manual', Status: 'available' }] });
  rdsMock.on(DescribeDBSnapshotsCommand).resolves({ DBSnapshots: [] });
  rdsMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({
    DBInstanceAutomatedBackups: [{ DBInstanceIdentifier: 'gone', Status: 'retained', Encrypted: true, KmsKeyId: OLD, BackupRetentionPeriod: 7, RestoreWindow: { EarliestTime: new Date('2026-01-01T00:00:00Z'), LatestTime: new Date('2026-01-10T00:00:00Z') } }],
  });
  rdsMock.on(DescribeDBClusterAutomatedBackupsCommand).resolves({ DBClusterAutomatedBackups: [] });
  rdsMock.on(DescribeBlueGreenDeploymentsCommand).resolves({ BlueGreenDeployments: [{ BlueGreenDeploymentIdentifier: 'bgd-1', Source: 'arn:aws:rds:us-east-1:111122223333:cluster:a', Status: 'AVAILABLE' }] });
  rdsMock.on(DescribeGlobalClustersCommand).rejects(denied());
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: '11111111-1111-1111-1111-111111111111', Arn: OLD, KeyManager: 'CUSTOMER', MultiRegion: false, KeyState: 'Enabled' } });
  kmsMock.on(ListAliasesCommand).resolves({ Aliases: [{ AliasName: 'alias/old' }] });
  kmsMock.on(ListGrantsCommand).resolves({ Grants: [{ GrantId: 'g1', GranteePrincipal: 'rds.us-east-1.amazonaws.com', Operations: ['Decrypt'] }, { GrantId: 'g2', GranteePrincipal: 'arn:aws:iam::111122223333:role/app' }], Truncated: false });
});

describe('inventory', () => {
  test('reads every list with MaxRecords, follows Marker, groups by key, lists the unencrypted, reports an unreadable list', async () => {
    const inv = await inventory([cloud()], {});
    expect(rdsMock.commandCalls(DescribeDBClustersCommand).map((c) => c.args[0].input)).toEqual([{ MaxRecords: 100 }, { Marker: 'p2', MaxRecords: 100 }]);
    for (const cmd of [DescribeDBInstancesCommand, DescribeDBClusterSnapshotsCommand, DescribeDBSnapshotsCommand, DescribeDBInstanceAutomatedBackupsCommand, DescribeDBClusterAutomatedBackupsCommand, DescribeBlueGreenDeploymentsCommand, DescribeGlobalClustersCommand]) {
      expect(rdsMock.commandCalls(cmd as never).map((c) => (c.args[0] as { input: unknown }).input)).toEqual([{ MaxRecords: 100 }]);
    }
    expect(kmsMock.commandCalls(DescribeKeyCommand)[0]?.args[0].input).toEqual({ KeyId: OLD });
    expect(kmsMock.commandCalls(ListAliasesCommand)[0]?.args[0].input).toEqual({ KeyId: '11111111-1111-1111-1111-111111111111' });
    expect(inv.keys).toHaveLength(1);
    expect(inv.keys[0]?.key).toEqual({ arn: OLD, aliases: ['alias/old'], keyManager: 'CUSTOMER', multiRegion: false, state: 'Enabled' });
    expect(inv.keys[0]?.resources.map((r) => `${r.kind}:${r.id}`).sort()).toEqual(['blue-green-deployment:bgd-1', 'cluster-snapshot:s1', 'cluster:a', 'instance-automated-backup:gone', 'read-replica:r1']);
    expect(inv.unencrypted.map((r) => r.id)).toEqual(['plain']);
    expect(inv.problems).toEqual([{ region: 'us-east-1', action: 'rds:DescribeGlobalClusters', error: 'AccessDenied: not authorized to perform rds:DescribeGlobalClusters' }]);
  });

  test('--retire-check: every blocker with when it stops blocking; grants held by RDS (ListGrants paginated); unreadable lists block', async () => {
    const home = cloud();
    const inv = await inventory([home], { key: 'alias/old' });
    const check = await retireCheck(home, inv);
    expect(kmsMock.commandCalls(ListGrantsCommand)[0]?.args[0].input).toEqual({ KeyId: OLD, Limit: 100 });
    expect(check.safeToRetire).toBe(false);
    const by = Object.fromEntries(check.blockers.map((b) => [b.resource, b.until]));
    expect(by['instance-automated-backup gone']).toMatch(/^2026-01-17T00:00:00.000Z \(end of retention\)/);
    expect(by['cluster-snapshot s1']).toMatch(/owner action/);
    expect(by['kms grant g1']).toMatch(/RDS retires it/);
    expect(by['kms grant g2']).toBeUndefined();
    expect(by['rds:DescribeGlobalClusters']).toBeDefined();
  });

  test('safe only when nothing depends on the key and everything was read', async () => {
    for (const cmd of [DescribeDBClustersCommand, DescribeDBInstancesCommand, DescribeDBClusterSnapshotsCommand]) rdsMock.on(cmd as never).resolves({});
    rdsMock.on(DescribeDBInstanceAutomatedBackupsCommand).resolves({});
    rdsMock.on(DescribeBlueGreenDeploymentsCommand).resolves({});
    rdsMock.on(DescribeGlobalClustersCommand).resolves({});
    kmsMock.on(ListGrantsCommand).resolves({ Grants: [] });
    const home = cloud();
    const check = await retireCheck(home, await inventory([home], { key: OLD }));
    expect(check).toMatchObject({ safeToRetire: true, blockers: [] });
  });
});

const attestation = { kind: 'rekey-attestation', version: 1, runId: 'ab12cd34', resources: [{ identifier: 'a', keyAfter: OLD }] } as unknown as Attestation;

describe('attestation signature', () => {
  test('KMS Sign and Verify get the SHA-256 digest of the canonical JSON (MessageType DIGEST); an edited file fails before KMS is asked', async () => {
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: '9', Arn: SIGN, KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: ['RSASSA_PSS_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_256'] } });
    kmsMock.on(SignCommand).resolves({ Signature: new Uint8Array([1, 2, 3]) });
    kmsMock.on(VerifyCommand).resolves({ SignatureValid: true });
    const file = await signAttestation(cloud(), attestation, 'alias/attest');
    const sign = kmsMock.commandCalls(SignCommand)[0]?.args[0].input;
    expect(sign).toEqual({ KeyId: SIGN, Message: digestOf(attestation), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_256' });
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(await verifyAttestation(cloud(), JSON.stringify(file))).toMatchObject({ valid: true, keyId: SIGN });
    expect(kmsMock.commandCalls(VerifyCommand)[0]?.args[0].input).toMatchObject({ KeyId: SIGN, MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PSS_SHA_256', Message: digestOf(attestation) });
    const edited = JSON.stringify(file).replace('ab12cd34', 'ab12cd35');
    expect(await verifyAttestation(cloud(), edited)).toMatchObject({ valid: false });
    expect(kmsMock.commandCalls(VerifyCommand)).toHaveLength(1);
  });
});

describe('copy-snapshot', () => {
  test('CopyDBClusterSnapshot is sent in the destination Region with the source ARN, KmsKeyId and CopyTags; waits; reads the tags back', async () => {
    const src = 'arn:aws:rds:us-east-1:111122223333:cluster-snapshot:s1';
    const dst = 'arn:aws:rds:us-west-2:111122223333:cluster-snapshot:s1';
    let describes = 0;
    rdsMock.on(DescribeDBClusterSnapshotsCommand).callsFake(async (input: { DBClusterSnapshotIdentifier: string }, getClient: () => RDSClient) => {
      const region = await getClient().config.region();
      if (region === 'us-east-1') return { DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: 's1', DBClusterSnapshotArn: src, Status: 'available', KmsKeyId: OLD }] };
      describes++;
      if (describes === 1) throw Object.assign(new Error('nope'), { name: 'DBClusterSnapshotNotFoundFault' });
      return { DBClusterSnapshots: [{ DBClusterSnapshotIdentifier: input.DBClusterSnapshotIdentifier, DBClusterSnapshotArn: dst, Status: describes < 3 ? 'copying' : 'available', PercentProgress: 50, KmsKeyId: 'arn:aws:kms:us-west-2:111122223333:key/k' }] };
    });
    rdsMock.on(CopyDBClusterSnapshotCommand).resolves({});
    rdsMock.on(ListTagsForResourceCommand).resolves({ TagList: [{ Key: 'app', Value: 'x' }] });
    const progress: string[] = [];
    const result = await copySnapshotToRegion(cloud(), { snapshot: 's1', toRegion: 'us-west-2', kmsKeyId: 'alias/dr', onProgress: (m) => progress.push(m), pollMs: 1, timeoutMs: 5000, sleep: () => Promise.resolve() });
    const copy = rdsMock.commandCalls(CopyDBClusterSnapshotCommand)[0]!;
    expect(copy.args[0].input).toEqual({
      SourceDBClusterSnapshotIdentifier: src, TargetDBClusterSnapshotIdentifier: 's1', KmsKeyId: 'alias/dr', CopyTags: true,
      Tags: [{ Key: 'rekey:copied-from', Value: src }],
    });
    expect(rdsMock.commandCalls(ListTagsForResourceCommand)[0]?.args[0].input).toEqual({ ResourceName: dst });
    expect(result).toMatchObject({ kind: 'cluster-snapshot', created: true, copy: { arn: dst, region: 'us-west-2', status: 'available', tags: [{ Key: 'app', Value: 'x' }] } });
    expect(progress.some((p) => /copying 50%/.test(p))).toBe(true);
  });
});

describe('the cross-Region request on the wire', () => {
  test('the SDK adds a PreSignedUrl signed for the source Region (CopyDBClusterSnapshot to us-west-2 from an us-east-1 ARN)', async () => {
    rdsMock.restore();
    let body = '';
    const client = new RDSClient({
      region: 'us-west-2',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      requestHandler: {
        handle: (req: { body?: string }) => {
          body = String(req.body ?? '');
          return Promise.reject(Object.assign(new Error('captured'), { name: 'Captured' }));
        },
      },
    });
    const copy = new CopyDBClusterSnapshotCommand({ SourceDBClusterSnapshotIdentifier: 'arn:aws:rds:us-east-1:111122223333:cluster-snapshot:s1', TargetDBClusterSnapshotIdentifier: 's1', KmsKeyId: 'alias/dr', CopyTags: true });
    await expect(client.send(copy)).rejects.toThrow('captured');
    const params = new URLSearchParams(body);
    expect(params.get('Action')).toBe('CopyDBClusterSnapshot');
    expect(params.get('KmsKeyId')).toBe('alias/dr');
    const presigned = new URL(params.get('PreSignedUrl') ?? 'http://none');
    expect(presigned.hostname).toBe('rds.us-east-1.amazonaws.com');
    expect(presigned.searchParams.get('DestinationRegion')).toBe('us-west-2');
    expect(presigned.searchParams.get('X-Amz-Credential')).toMatch(/\/us-east-1\/rds\/aws4_request$/);
    rdsMock.reset();
  });
});
