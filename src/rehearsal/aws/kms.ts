// Fake KMS: keys declared by the runbook's rehearsal section, answering DescribeKey, ListAliases,
// GetKeyPolicy and ListGrants with the SDK's shapes.
import { parseKmsKeyRef } from '../../runbook/schema.js';
import type { Core, Input } from '../core.js';
import { promised, str } from '../core.js';
import { awsFault, UnsupportedCommandError } from './faults.js';
import type { KeyRecord, RegistryState } from '../registry.js';
import { uuidFrom } from '../registry.js';

const KEY_ARN = /^arn:[a-z-]+:kms:([a-z0-9-]+):(\d{12}):key\/(.+)$/;
const ALIAS_ARN = /^arn:[a-z-]+:kms:([a-z0-9-]+):(\d{12}):(alias\/.+)$/;

/** Declare a key from a runbook reference (id, alias, key ARN or alias ARN); returns it. Idempotent. */
export function declareKey(
  state: RegistryState,
  ref: string,
  spec: { state?: KeyRecord['state']; keySpec?: string; region?: string; grantsRds?: boolean; description?: string },
): KeyRecord {
  // An alias or bare key id names a key of the Region it is declared in.
  const found = findKey(state, ref, spec.region ?? state.region);
  if (found) return found;
  let region = spec.region ?? state.region;
  let account = state.account;
  let keyId: string;
  let alias: string | undefined;
  const keyArn = KEY_ARN.exec(ref);
  const aliasArn = ALIAS_ARN.exec(ref);
  if (keyArn) {
    region = keyArn[1] ?? region;
    account = keyArn[2] ?? account;
    keyId = keyArn[3] ?? uuidFrom(ref);
  } else if (aliasArn) {
    region = aliasArn[1] ?? region;
    account = aliasArn[2] ?? account;
    alias = aliasArn[3];
    keyId = uuidFrom(ref);
  } else if (ref.startsWith('alias/')) {
    alias = ref;
    keyId = uuidFrom(`${region}:${ref}`);
  } else {
    keyId = ref;
  }
  const key: KeyRecord = {
    keyId, arn: `arn:aws:kms:${region}:${account}:key/${keyId}`, region, account, state: spec.state ?? 'Enabled',
    keySpec: spec.keySpec ?? 'SYMMETRIC_DEFAULT', grantsRds: spec.grantsRds ?? true, aliases: alias !== undefined ? [alias] : [],
    description: spec.description ?? `rehearsal key ${ref}`, createdAt: Date.now(),
  };
  state.keys[keyId] = key;
  return key;
}

/** Find a key by id, alias, key ARN or alias ARN, as KMS would from a client in `region`. */
export function findKey(state: RegistryState, ref: string, region: string): KeyRecord | undefined {
  const keys = Object.values(state.keys);
  const keyArn = KEY_ARN.exec(ref);
  if (keyArn) return keys.find((k) => k.arn === ref);
  const aliasArn = ALIAS_ARN.exec(ref);
  if (aliasArn) return keys.find((k) => k.region === aliasArn[1] && k.account === aliasArn[2] && k.aliases.includes(aliasArn[3] ?? ''));
  if (ref.startsWith('alias/')) return keys.find((k) => k.region === region && k.aliases.includes(ref));
  return keys.find((k) => k.region === region && k.keyId === ref);
}

function mustFindKey(core: Core, input: Input): KeyRecord {
  const ref = str(input, 'KeyId');
  if (ref === undefined) throw awsFault('kms', 'ValidationException', '1 validation error detected: Value null at \'keyId\' failed to satisfy constraint: Member must not be null');
  if (parseKmsKeyRef(ref) === undefined) throw awsFault('kms', 'NotFoundException', `Invalid keyId '${ref}'`);
  const key = findKey(core.reg.state, ref, core.region);
  if (!key) throw awsFault('kms', 'NotFoundException', `Key '${ref}' does not exist`);
  return key;
}

function keyUsage(spec: string): string {
  if (spec.startsWith('ECC_')) return 'SIGN_VERIFY';
  if (spec.startsWith('HMAC_')) return 'GENERATE_VERIFY_MAC';
  return 'ENCRYPT_DECRYPT';
}

function metadata(key: KeyRecord): Record<string, unknown> {
  const symmetric = key.keySpec === 'SYMMETRIC_DEFAULT';
  return {
    AWSAccountId: key.account, KeyId: key.keyId, Arn: key.arn, CreationDate: new Date(key.createdAt), Enabled: key.state === 'Enabled',
    Description: key.description, KeyUsage: keyUsage(key.keySpec), KeyState: key.state,
    ...(key.state === 'PendingDeletion' ? { DeletionDate: new Date(key.createdAt + 7 * 86400_000), PendingDeletionWindowInDays: 7 } : {}),
    Origin: 'AWS_KMS', KeyManager: 'CUSTOMER', CustomerMasterKeySpec: key.keySpec, KeySpec: key.keySpec,
    EncryptionAlgorithms: symmetric ? ['SYMMETRIC_DEFAULT'] : key.keySpec.startsWith('RSA_') ? ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] : undefined,
    MultiRegion: false,
  };
}

function policy(key: KeyRecord): string {
  const statements: Record<string, unknown>[] = [
    { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${key.account}:root` }, Action: 'kms:*', Resource: '*' },
  ];
  if (key.grantsRds) {
    statements.push({
      Sid: 'Allow RDS to use the key', Effect: 'Allow', Principal: { AWS: '*' },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:ListGrants', 'kms:DescribeKey'],
      Resource: '*', Condition: { StringEquals: { 'kms:CallerAccount': key.account, 'kms:ViaService': `rds.${key.region}.amazonaws.com` } },
    });
  } else {
    statements.push({ Sid: 'Deny grants', Effect: 'Deny', Principal: { AWS: '*' }, Action: 'kms:CreateGrant', Resource: '*' });
  }
  return JSON.stringify({ Version: '2012-10-17', Id: 'key-default-1', Statement: statements });
}

/** The fake KMS `send`. */
export function kmsSend(core: Core): (name: string, input: Input) => Promise<unknown> {
  return promised((name, input) => {
    switch (name) {
      case 'DescribeKey':
        return { KeyMetadata: metadata(mustFindKey(core, input)) };
      case 'ListAliases': {
        const ref = str(input, 'KeyId');
        const keys = ref !== undefined ? [mustFindKey(core, input)] : Object.values(core.reg.state.keys).filter((k) => k.region === core.region);
        const Aliases = keys.flatMap((k) =>
          k.aliases.map((a) => ({ AliasName: a, AliasArn: `arn:aws:kms:${k.region}:${k.account}:${a}`, TargetKeyId: k.keyId, CreationDate: new Date(k.createdAt) })),
        );
        return { Aliases, Truncated: false };
      }
      case 'GetKeyPolicy': {
        const key = mustFindKey(core, input);
        const policyName = str(input, 'PolicyName') ?? 'default';
        if (policyName !== 'default') throw awsFault('kms', 'NotFoundException', `No such policy exists: ${policyName}`);
        return { Policy: policy(key), PolicyName: 'default' };
      }
      case 'ListGrants': {
        const key = mustFindKey(core, input);
        const Grants = key.grantsRds
          ? [{
              KeyId: key.arn, GrantId: `${key.keyId.replace(/-/g, '')}rds`, Name: 'rds-rehearsal', CreationDate: new Date(key.createdAt),
              GranteePrincipal: `rds.${key.region}.amazonaws.com`, RetiringPrincipal: `rds.${key.region}.amazonaws.com`, IssuingAccount: `arn:aws:iam::${key.account}:root`,
              Operations: ['Decrypt', 'Encrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'ReEncryptFrom', 'ReEncryptTo', 'CreateGrant', 'RetireGrant', 'DescribeKey'],
            }]
          : [];
        return { Grants, Truncated: false };
      }
      default:
        throw new UnsupportedCommandError('kms', name);
    }
  });
}
