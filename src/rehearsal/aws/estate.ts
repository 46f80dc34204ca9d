// The key estate in the rehearsal cloud: the read commands `rekey inventory` and `rekey attest` send (automated
// backups, retained backups, Blue/Green deployments, DB snapshots in an Aurora world), the global database commands
// (aws/global.ts), snapshot copies into a second rehearsal Region and what lives there (read replicas, global database
// secondaries), and KMS Sign/Verify with a local key pair (node:crypto). It wraps the
// fake RDS and KMS senders: what it does not answer goes to them unchanged.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Core, Input } from '../core.js';
import { arn, isInstanceWorld, ms, str } from '../core.js';
import type { ClusterRecord, EstateState, KeyRecord, RegionalCopy, SnapshotRecord, TagRecord } from '../registry.js';
import { awsFault } from './faults.js';
import { declareKey, findKey } from './kms.js';
import { paginate, rdsTick, restoreKeyArn, snapshotProgress, tagsOf } from './rds-records.js';
import { dbInstanceShape, inRegion, instanceSend } from './rds-instance.js';
import { globalSend } from './global.js';
import { clusterShape, rdsSend } from './rds.js';

/** A signing key every rehearsal has (ECC_NIST_P256), declared when first used: `rekey attest --sign-key` against a rehearsal. */
export const REHEARSAL_SIGNING_ALIAS = 'alias/rekey-rehearsal-attest';

type Send = (name: string, input: Input) => Promise<unknown>;

function estate(core: Core): EstateState {
  const st = core.reg.state;
  st.estate ??= { copies: [], retained: [] };
  return st.estate;
}

const DAY = 86400_000;

function rdsArn(region: string, account: string, kind: string, id: string): string {
  return `arn:aws:rds:${region}:${account}:${kind}:${id}`;
}

function copyShape(core: Core, c: RegionalCopy): Record<string, unknown> {
  const s = c.record;
  const { status, percent } = snapshotProgress(core, s);
  const common = {
    SnapshotCreateTime: new Date(s.createdAt), Engine: s.engine, EngineVersion: s.engineVersion, Status: status, PercentProgress: percent,
    KmsKeyId: s.kmsKeyArn, SnapshotType: 'manual', TagList: s.tags, MasterUsername: s.clusterSettings.masterUsername, SourceRegion: c.sourceRegion,
  };
  if (c.kind === 'cluster') {
    return {
      ...common, DBClusterSnapshotIdentifier: s.identifier, DBClusterIdentifier: s.clusterIdentifier, DBClusterSnapshotArn: rdsArn(c.region, core.account, 'cluster-snapshot', s.identifier),
      StorageEncrypted: true, SourceDBClusterSnapshotArn: c.sourceArn, EngineMode: 'provisioned', AllocatedStorage: 1,
    };
  }
  return {
    ...common, DBSnapshotIdentifier: s.identifier, DBInstanceIdentifier: s.clusterIdentifier, DBSnapshotArn: rdsArn(c.region, core.account, 'snapshot', s.identifier),
    Encrypted: true, SourceDBSnapshotIdentifier: c.sourceArn, AllocatedStorage: s.dbSnapshot?.instance.allocatedStorage ?? 20,
  };
}

/** The home-Region snapshot (or an earlier copy) an ARN or identifier names. */
function findSource(core: Core, ref: string, kind: 'db' | 'cluster'): { record: SnapshotRecord; arn: string; region: string } | undefined {
  const type = kind === 'cluster' ? 'cluster-snapshot' : 'snapshot';
  for (const s of Object.values(core.reg.state.snapshots)) {
    if ((kind === 'db') !== (s.dbSnapshot !== undefined)) continue;
    const a = arn.rds(core, type, s.identifier);
    if (ref === a || ref === s.identifier) return { record: s, arn: a, region: core.region };
  }
  for (const c of estate(core).copies) {
    if (c.kind !== kind) continue;
    const a = rdsArn(c.region, core.account, type, c.record.identifier);
    if (ref === a) return { record: c.record, arn: a, region: c.region };
  }
  return undefined;
}

/** CopyDBSnapshot / CopyDBClusterSnapshot into `region` (the client's Region), from the same or another Region. */
function copySnapshot(core: Core, region: string, kind: 'db' | 'cluster', input: Input): unknown {
  const [srcKey, dstKey, notFound, exists] = kind === 'cluster'
    ? ['SourceDBClusterSnapshotIdentifier', 'TargetDBClusterSnapshotIdentifier', 'DBClusterSnapshotNotFoundFault', 'DBClusterSnapshotAlreadyExistsFault']
    : ['SourceDBSnapshotIdentifier', 'TargetDBSnapshotIdentifier', 'DBSnapshotNotFoundFault', 'DBSnapshotAlreadyExistsFault'];
  const ref = str(input, srcKey) ?? '';
  const id = str(input, dstKey);
  if (id === undefined) throw awsFault('rds', 'InvalidParameterValue', `${dstKey} is required`);
  const crossRegion = region !== core.region || (ref.startsWith('arn:') && ref.split(':')[3] !== region);
  if (crossRegion) {
    // As RDS: a copy across Regions names its source by ARN (from which the SDK pre-signs the request for the source Region).
    if (!ref.startsWith('arn:')) throw awsFault('rds', 'InvalidParameterValue', `The source snapshot must be given by ARN for a copy across Regions: ${ref}`);
    if (str(input, 'KmsKeyId') === undefined) throw awsFault('rds', 'InvalidParameterCombination', 'KmsKeyId is required to copy an encrypted snapshot across Regions: a KMS key belongs to one Region.');
  }
  const source = findSource(core, ref, kind);
  if (!source) throw awsFault('rds', notFound, `${kind === 'cluster' ? 'DBClusterSnapshot' : 'DBSnapshot'} ${ref} not found.`, 404);
  if (snapshotProgress(core, source.record).status !== 'available') throw awsFault('rds', kind === 'cluster' ? 'InvalidDBClusterSnapshotStateFault' : 'InvalidDBSnapshotStateFault', `Snapshot ${ref} is not available.`);
  const taken = estate(core).copies.some((c) => c.region === region && c.kind === kind && c.record.identifier === id) || (region === core.region && core.reg.state.snapshots[id] !== undefined);
  if (taken) throw awsFault('rds', exists, `Cannot copy the snapshot because one with the identifier ${id} already exists.`);
  const kmsKeyArn = restoreKeyArn({ ...core, region }, str(input, 'KmsKeyId'), source.record);
  const createdAt = core.now();
  const tags: TagRecord[] = [...(input.CopyTags === true ? source.record.tags : []), ...tagsOf(input)];
  const record: SnapshotRecord = { ...structuredClone(source.record), identifier: id, kmsKeyArn, createdAt, readyAt: createdAt + ms(core.delays.snapshotSeconds), tags };
  const copy: RegionalCopy = { region, kind, sourceArn: source.arn, sourceRegion: source.region, record };
  estate(core).copies.push(copy);
  core.reg.save();
  return kind === 'cluster' ? { DBClusterSnapshot: copyShape(core, copy) } : { DBSnapshot: copyShape(core, copy) };
}

function listCopies(core: Core, region: string, kind: 'db' | 'cluster', input: Input): Record<string, unknown>[] {
  const id = str(input, kind === 'cluster' ? 'DBClusterSnapshotIdentifier' : 'DBSnapshotIdentifier');
  const type = kind === 'cluster' ? 'cluster-snapshot' : 'snapshot';
  return estate(core).copies
    .filter((c) => c.region === region && c.kind === kind)
    .filter((c) => id === undefined || id === c.record.identifier || id === rdsArn(region, core.account, type, c.record.identifier))
    .map((c) => copyShape(core, c));
}

function restoreWindow(core: Core, createdAt: number, retentionDays: number, latest: number): { EarliestTime: Date; LatestTime: Date } {
  return { EarliestTime: new Date(Math.max(createdAt, latest - retentionDays * DAY)), LatestTime: new Date(Math.min(latest, core.now())) };
}

function instanceBackups(core: Core, input: Input): unknown {
  const id = str(input, 'DBInstanceIdentifier');
  const dbi = str(input, 'DbiResourceId');
  const live = Object.values(core.reg.state.clusters)
    .filter((c): c is ClusterRecord & { instance: NonNullable<ClusterRecord['instance']> } => c.instance !== undefined && c.settings.backupRetentionPeriod > 0)
    .map((c) => ({
      DBInstanceIdentifier: c.identifier, DbiResourceId: c.instance.dbiResourceId, Region: core.region, Status: 'active', Engine: c.engine, EngineVersion: c.engineVersion,
      Encrypted: true, KmsKeyId: c.kmsKeyArn, BackupRetentionPeriod: c.settings.backupRetentionPeriod, InstanceCreateTime: new Date(c.createdAt),
      DBInstanceArn: arn.rds(core, 'db', c.identifier), DBInstanceAutomatedBackupsArn: arn.rds(core, 'auto-backup' as 'db', `ab-${c.instance.dbiResourceId.toLowerCase()}`),
      RestoreWindow: restoreWindow(core, c.createdAt, c.settings.backupRetentionPeriod, core.now()),
    }));
  const retained = estate(core).retained.filter((r) => r.kind === 'db').map((r) => ({
    DBInstanceIdentifier: r.identifier, DbiResourceId: r.resourceId, Region: core.region, Status: 'retained', Engine: r.engine, Encrypted: true, KmsKeyId: r.kmsKeyArn,
    BackupRetentionPeriod: r.retentionDays, InstanceCreateTime: new Date(r.createdAt), DBInstanceAutomatedBackupsArn: arn.rds(core, 'auto-backup' as 'db', `ab-${r.resourceId.toLowerCase()}`),
    RestoreWindow: restoreWindow(core, r.createdAt, r.retentionDays, r.deletedAt),
  }));
  const all = [...live, ...retained].filter((b) => (id === undefined || b.DBInstanceIdentifier === id) && (dbi === undefined || b.DbiResourceId === dbi));
  const { page, Marker } = paginate(all, input);
  return { DBInstanceAutomatedBackups: page, ...(Marker !== undefined ? { Marker } : {}) };
}

/** DescribeDBClusterAutomatedBackups lists the backups of deleted clusters only (live clusters' backups are not listed), as on AWS. */
function clusterBackups(core: Core, input: Input): unknown {
  const id = str(input, 'DBClusterIdentifier');
  const all = estate(core).retained.filter((r) => r.kind === 'cluster' && (id === undefined || r.identifier === id)).map((r) => ({
    DBClusterIdentifier: r.identifier, DbClusterResourceId: r.resourceId, Region: core.region, Status: 'retained', Engine: r.engine, StorageEncrypted: true, KmsKeyId: r.kmsKeyArn,
    BackupRetentionPeriod: r.retentionDays, ClusterCreateTime: new Date(r.createdAt), DBClusterAutomatedBackupsArn: arn.rds(core, 'cluster-auto-backup' as 'cluster', `cluster-ab-${r.resourceId.toLowerCase()}`),
    RestoreWindow: restoreWindow(core, r.createdAt, r.retentionDays, r.deletedAt),
  }));
  const { page, Marker } = paginate(all, input);
  return { DBClusterAutomatedBackups: page, ...(Marker !== undefined ? { Marker } : {}) };
}

/** The fake RDS of the home Region, with the estate's commands in front. */
export function estateRdsSend(core: Core, inner: Send): Send {
  return async (name, input) => {
    switch (name) {
      case 'DescribeDBInstanceAutomatedBackups':
        return instanceBackups(core, input);
      case 'DescribeDBClusterAutomatedBackups':
        return clusterBackups(core, input);
      // DescribeBlueGreenDeployments goes on to the fake RDS: aws/blue-green.ts keeps the deployments.
      case 'DescribeGlobalClusters':
      case 'CreateGlobalCluster':
      case 'ModifyGlobalCluster':
      case 'RemoveFromGlobalCluster':
      case 'DeleteGlobalCluster':
        return globalSend(core, name, input, clusterShape);
      case 'CopyDBClusterSnapshot':
        return copySnapshot(core, core.region, 'cluster', input);
      case 'CopyDBSnapshot':
        {
          // Within the home Region an instance world copies the data itself (restorable); only copies from elsewhere are kept here.
          const ref = str(input, 'SourceDBSnapshotIdentifier') ?? '';
          if (isInstanceWorld(core) && (!ref.startsWith('arn:') || ref.split(':')[3] === core.region)) return inner(name, input);
        }
        return copySnapshot(core, core.region, 'db', input);
      case 'DescribeDBClusterSnapshots': {
        const copies = listCopies(core, core.region, 'cluster', input);
        if (copies.length > 0 && input.DBClusterSnapshotIdentifier !== undefined) return { DBClusterSnapshots: copies };
        const out = (await inner(name, input)) as { DBClusterSnapshots?: unknown[]; Marker?: string };
        return out.Marker === undefined ? { ...out, DBClusterSnapshots: [...(out.DBClusterSnapshots ?? []), ...copies] } : out;
      }
      case 'DescribeDBSnapshots': {
        const copies = listCopies(core, core.region, 'db', input);
        if (copies.length > 0 && input.DBSnapshotIdentifier !== undefined) return { DBSnapshots: copies };
        // An Aurora world has no DB snapshots of its own (the fake RDS refuses the command there).
        const out = isInstanceWorld(core) ? ((await inner(name, input)) as { DBSnapshots?: unknown[]; Marker?: string }) : { DBSnapshots: [] };
        if (!isInstanceWorld(core) && input.DBSnapshotIdentifier !== undefined && copies.length === 0) throw awsFault('rds', 'DBSnapshotNotFoundFault', `DBSnapshot ${str(input, 'DBSnapshotIdentifier') ?? ''} not found.`, 404);
        return out.Marker === undefined ? { ...out, DBSnapshots: [...(out.DBSnapshots ?? []), ...copies] } : out;
      }
      case 'ListTagsForResource': {
        const copy = copyByArn(core, str(input, 'ResourceName'));
        return copy ? { TagList: copy.record.tags } : inner(name, input);
      }
      case 'DeleteDBCluster':
      case 'DeleteDBInstance': {
        const id = str(input, name === 'DeleteDBCluster' ? 'DBClusterIdentifier' : 'DBInstanceIdentifier') ?? '';
        // A member of a global database is refused (detach it first).
        if (name === 'DeleteDBCluster') globalSend(core, name, input, clusterShape);
        const before = core.reg.state.clusters[id];
        const out = await inner(name, input);
        if (before && input.DeleteAutomatedBackups === false && before.settings.backupRetentionPeriod > 0 && (name === 'DeleteDBCluster') === (before.instance === undefined)) {
          estate(core).retained.push({
            kind: before.instance ? 'db' : 'cluster', identifier: before.identifier, resourceId: before.instance?.dbiResourceId ?? before.resourceId, engine: before.engine,
            kmsKeyArn: before.kmsKeyArn, retentionDays: before.settings.backupRetentionPeriod, createdAt: before.createdAt, deletedAt: core.now(),
          });
          core.reg.save();
        }
        return out;
      }
      default:
        return inner(name, input);
    }
  };
}

function copyByArn(core: Core, ref: string | undefined): RegionalCopy | undefined {
  if (ref === undefined) return undefined;
  return estate(core).copies.find((c) => ref === rdsArn(c.region, core.account, c.kind === 'cluster' ? 'cluster-snapshot' : 'snapshot', c.record.identifier));
}

/** The fake RDS of another Region: it holds only the snapshot copies made into it. */
export function otherRegionRdsSend(core: Core, region: string): Send {
  const regional: Core = { ...core, region };
  // Aurora clusters of this Region (global database secondaries) and their instances: the fake RDS answering for it.
  const aurora = rdsSend(regional);
  return (name, input) => {
    try {
      switch (name) {
        case 'DescribeGlobalClusters':
        case 'CreateGlobalCluster':
        case 'ModifyGlobalCluster':
        case 'RemoveFromGlobalCluster':
        case 'DeleteGlobalCluster':
        case 'CreateDBCluster':
          return Promise.resolve(globalSend(regional, name, input, clusterShape));
        case 'DeleteDBCluster': {
          const out = globalSend(regional, name, input, clusterShape);
          if (out === undefined) throw awsFault('rds', 'DBClusterNotFoundFault', `DBCluster ${str(input, 'DBClusterIdentifier') ?? '(none)'} not found.`, 404);
          return Promise.resolve(out);
        }
        case 'ModifyDBCluster':
        case 'CreateDBInstance':
          return aurora(name, input);
        case 'CopyDBClusterSnapshot':
          return Promise.resolve(copySnapshot(core, region, 'cluster', input));
        case 'CopyDBSnapshot':
          return Promise.resolve(copySnapshot(core, region, 'db', input));
        case 'DescribeDBClusterSnapshots': {
          const list = listCopies(core, region, 'cluster', input);
          if (list.length === 0 && input.DBClusterSnapshotIdentifier !== undefined) throw awsFault('rds', 'DBClusterSnapshotNotFoundFault', `DBClusterSnapshot ${str(input, 'DBClusterSnapshotIdentifier') ?? ''} not found.`, 404);
          return Promise.resolve({ DBClusterSnapshots: list });
        }
        case 'DescribeDBSnapshots': {
          const list = listCopies(core, region, 'db', input);
          if (list.length === 0 && input.DBSnapshotIdentifier !== undefined) throw awsFault('rds', 'DBSnapshotNotFoundFault', `DBSnapshot ${str(input, 'DBSnapshotIdentifier') ?? ''} not found.`, 404);
          return Promise.resolve({ DBSnapshots: list });
        }
        case 'ListTagsForResource': {
          const copy = copyByArn(core, str(input, 'ResourceName'));
          if (!copy) throw awsFault('rds', 'DBSnapshotNotFoundFault', `${str(input, 'ResourceName') ?? '(none)'} not found.`, 404);
          return Promise.resolve({ TagList: copy.record.tags });
        }
        case 'DescribeDBClusters':
          return aurora(name, input);
        case 'DescribeDBInstances': {
          if (!isInstanceWorld(core)) return aurora(name, input);
          // Cross-Region read replicas live here (the registry's records of this Region).
          const id = str(input, 'DBInstanceIdentifier');
          const list = Object.values(core.reg.state.clusters).filter((c) => c.instance && inRegion(regional, c) && (id === undefined || c.identifier === id || dbInstanceShape(regional, c).DBInstanceArn === id));
          if (id !== undefined && list.length === 0) throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${id} not found.`, 404);
          return rdsTick(regional).then(() => ({ DBInstances: list.map((c) => dbInstanceShape(regional, c)) }));
        }
        case 'DeleteDBInstance':
          if (core.reg.state.instances[str(input, 'DBInstanceIdentifier') ?? '']) return aurora(name, input);
          return instanceSend(regional, name, input).then((out) => {
            if (out === undefined) throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${str(input, 'DBInstanceIdentifier') ?? '(none)'} not found.`, 404);
            return out;
          });
        case 'CreateDBInstanceReadReplica':
        case 'ModifyDBInstance':
          return instanceSend(regional, name, input).then((out) => {
            if (out === undefined) throw awsFault('rds', 'DBInstanceNotFoundFault', `DBInstance ${str(input, 'DBInstanceIdentifier') ?? '(none)'} not found.`, 404);
            return out;
          });
        case 'DescribeDBInstanceAutomatedBackups':
          return Promise.resolve({ DBInstanceAutomatedBackups: [] });
        case 'DescribeDBClusterAutomatedBackups':
          return Promise.resolve({ DBClusterAutomatedBackups: [] });
        case 'DescribeBlueGreenDeployments':
          return Promise.resolve({ BlueGreenDeployments: [] });
        default:
          throw awsFault('rds', 'InvalidAction', `the second rehearsal Region (${region}) answers snapshot copies, read replicas, global database secondaries and the estate's reads only, not ${name}`);
      }
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };
}

function keyPairFile(core: Core, key: KeyRecord): string {
  return join(core.reg.dir, 'kms-keypairs', `${key.keyId}.pem`);
}

/** The key pair of an asymmetric rehearsal key: made on first use, kept beside the registry (mode 0600). */
function keyPair(core: Core, key: KeyRecord): { privateKey: ReturnType<typeof createPrivateKey>; publicKey: ReturnType<typeof createPublicKey> } {
  const file = keyPairFile(core, key);
  if (!existsSync(file)) {
    const namedCurve = key.keySpec === 'ECC_NIST_P384' ? 'P-384' : 'P-256';
    const pair = generateKeyPairSync('ec', { namedCurve });
    mkdirSync(join(core.reg.dir, 'kms-keypairs'), { recursive: true, mode: 0o700 });
    writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const privateKey = createPrivateKey(readFileSync(file, 'utf8'));
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

const SIGNING: Record<string, string> = { ECC_NIST_P256: 'ECDSA_SHA_256', ECC_NIST_P384: 'ECDSA_SHA_384' };

function signingKey(core: Core, region: string, input: Input): KeyRecord {
  const ref = str(input, 'KeyId') ?? '';
  let key = findKey(core.reg.state, ref, region);
  if (!key && ref === REHEARSAL_SIGNING_ALIAS) {
    key = declareKey(core.reg.state, ref, { keySpec: 'ECC_NIST_P256', region, description: 'rehearsal: signs attestations' });
    core.reg.save();
  }
  if (!key) throw awsFault('kms', 'NotFoundException', `Key '${ref}' does not exist`);
  if (key.state !== 'Enabled') throw awsFault('kms', key.state === 'Disabled' ? 'DisabledException' : 'KMSInvalidStateException', `${key.arn} is ${key.state}.`);
  const algorithm = SIGNING[key.keySpec];
  if (algorithm === undefined) throw awsFault('kms', 'InvalidKeyUsageException', `${key.arn} key usage is not SIGN_VERIFY (rehearsal signing keys are ECC_NIST_P256 or ECC_NIST_P384).`);
  if (str(input, 'SigningAlgorithm') !== algorithm) throw awsFault('kms', 'InvalidKeyUsageException', `Signing algorithm ${str(input, 'SigningAlgorithm') ?? '(none)'} is not valid for ${key.arn}; use ${algorithm}.`);
  return key;
}

function messageOf(input: Input): { data: Buffer; digest: boolean } {
  const m = input.Message;
  if (!(m instanceof Uint8Array)) throw awsFault('kms', 'ValidationException', 'Message is required');
  const digest = str(input, 'MessageType') === 'DIGEST';
  if (digest && m.length !== 32 && m.length !== 48) throw awsFault('kms', 'ValidationException', 'Digest is invalid length for algorithm');
  if (!digest && m.length > 4096) throw awsFault('kms', 'ValidationException', 'Message must be at most 4096 bytes; send a digest (MessageType DIGEST)');
  return { data: Buffer.from(m), digest };
}

/**
 * The fake KMS with Sign/Verify in front (and DescribeKey showing SigningAlgorithms). A DIGEST message is signed as
 * given (node:crypto hashes it once more: consistent within the rehearsal, which is all Verify needs here).
 */
export function estateKmsSend(core: Core, region: string, inner: Send): Send {
  return async (name, input) => {
    if (name === 'Sign' || name === 'Verify') {
      const key = signingKey(core, region, input);
      const { data, digest } = messageOf(input);
      const { privateKey, publicKey } = keyPair(core, key);
      const algorithm = digest ? null : key.keySpec === 'ECC_NIST_P384' ? 'sha384' : 'sha256';
      if (name === 'Sign') return { KeyId: key.arn, Signature: new Uint8Array(cryptoSign(algorithm, data, privateKey)), SigningAlgorithm: str(input, 'SigningAlgorithm') };
      const signature = input.Signature;
      if (!(signature instanceof Uint8Array)) throw awsFault('kms', 'ValidationException', 'Signature is required');
      if (!cryptoVerify(algorithm, data, publicKey, Buffer.from(signature))) throw awsFault('kms', 'KMSInvalidSignatureException', 'The signature is not valid for this message and key.');
      return { KeyId: key.arn, SignatureValid: true, SigningAlgorithm: str(input, 'SigningAlgorithm') };
    }
    if (name === 'DescribeKey' && str(input, 'KeyId') === REHEARSAL_SIGNING_ALIAS && !findKey(core.reg.state, REHEARSAL_SIGNING_ALIAS, region)) {
      declareKey(core.reg.state, REHEARSAL_SIGNING_ALIAS, { keySpec: 'ECC_NIST_P256', region, description: 'rehearsal: signs attestations' });
      core.reg.save();
    }
    const out = (await inner(name, input)) as { KeyMetadata?: { KeySpec?: string; KeyId?: string } & Record<string, unknown> };
    if (name !== 'DescribeKey' || !out.KeyMetadata) return out;
    const spec = out.KeyMetadata.KeySpec;
    const signing = spec !== undefined ? SIGNING[spec] : undefined;
    // A key behind an alias/aws/... name is an AWS managed key (aws/rds), as AWS reports it.
    const awsManaged = core.reg.state.keys[out.KeyMetadata.KeyId ?? '']?.aliases.some((a) => a.startsWith('alias/aws/')) === true;
    return {
      ...out,
      KeyMetadata: { ...out.KeyMetadata, ...(signing ? { KeyUsage: 'SIGN_VERIFY', SigningAlgorithms: [signing] } : {}), ...(awsManaged ? { KeyManager: 'AWS' } : {}) },
    };
  };
}
