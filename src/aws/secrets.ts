// Secrets Manager references ({secretArn, key?}) resolved with GetSecretValue: one call per secret per run, in the
// secret's own region, every value handed to the redactor before anyone else sees it.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { StepError } from '../engine/types.js';
import { awsErrorName, classifyAwsError } from './errors.js';
import { awsClientConfig } from './create-cloud.js';

/** A reference to a Secrets Manager secret, as the runbook writes it. */
export interface SecretsManagerRef {
  /** ARN of the secret; its region is where the secret is read. */
  secretArn: string;
  /** Field of a JSON secret to use; default {@link DEFAULT_SECRET_KEY}. */
  key?: string | undefined;
}

/** The field taken from a JSON secret when the reference names none: RDS-managed secrets hold `username` and `password`. */
export const DEFAULT_SECRET_KEY = 'password';

export interface SecretsManagerResolverOptions {
  /** Named profile from the shared config files, as for the other clients. */
  profile?: string;
  /** Receives every value before it is returned, so it is redacted from everything afterwards. */
  learn: (value: string) => void;
}

export interface SecretsManagerResolver {
  /** The value the reference points at; rejects with a StepError naming the ARN (never the value). */
  resolve(ref: SecretsManagerRef): Promise<string>;
  /** Drop the fetched value of this secret: the next resolve calls GetSecretValue again. */
  forget(arn: string): void;
}

/** Region of a Secrets Manager ARN (`arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`). */
export function secretArnRegion(arn: string): string {
  const region = arn.split(':')[3];
  if (arn.split(':')[2] !== 'secretsmanager' || !region) throw new StepError(`${arn} is not a Secrets Manager secret ARN`, 'rejected');
  return region;
}

export function secretsManagerResolver(options: SecretsManagerResolverOptions): SecretsManagerResolver {
  const clients = new Map<string, SecretsManagerClient>();
  const fetched = new Map<string, Promise<string>>();

  const clientFor = (region: string): SecretsManagerClient => {
    let client = clients.get(region);
    if (!client) {
      client = new SecretsManagerClient(awsClientConfig({ region, ...(options.profile !== undefined ? { profile: options.profile } : {}) }));
      clients.set(region, client);
    }
    return client;
  };

  // One GetSecretValue per ARN, shared by concurrent callers; a failure is forgotten so a retried step asks again.
  const secretString = (arn: string): Promise<string> => {
    let pending = fetched.get(arn);
    if (!pending) {
      pending = fetchSecretString(clientFor(secretArnRegion(arn)), arn);
      fetched.set(arn, pending);
      pending.catch(() => fetched.delete(arn));
    }
    return pending;
  };

  return {
    async resolve(ref) {
      const value = select(ref, await secretString(ref.secretArn));
      options.learn(value);
      return value;
    },
    forget(arn) {
      fetched.delete(arn);
    },
  };
}

async function fetchSecretString(client: SecretsManagerClient, arn: string): Promise<string> {
  let out;
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  } catch (error) {
    throw secretError(arn, error);
  }
  if (out.SecretString !== undefined) return out.SecretString;
  if (out.SecretBinary !== undefined) {
    throw new StepError(`secret ${arn} holds a binary value (SecretBinary); rekey needs a text secret: a plain string or JSON with a "${DEFAULT_SECRET_KEY}" field`, 'rejected');
  }
  throw new StepError(`secret ${arn} has no value (GetSecretValue returned neither SecretString nor SecretBinary)`, 'rejected');
}

/** The value a reference selects: a JSON object's field (default `password`), or the whole string when it is not JSON. */
function select(ref: SecretsManagerRef, text: string): string {
  const json = parseObject(text);
  if (json === undefined) {
    if (ref.key !== undefined) throw new StepError(`secret ${ref.secretArn} is not a JSON object, so it has no key "${ref.key}"; remove key to use the secret as is`, 'rejected');
    return text;
  }
  const key = ref.key ?? DEFAULT_SECRET_KEY;
  if (!Object.hasOwn(json, key)) {
    const present = Object.keys(json);
    const listed = present.length > 0 ? present.map((k) => `"${k}"`).join(', ') : 'none';
    const hint = ref.key === undefined ? '; name the field with key: in the reference' : '';
    throw new StepError(`secret ${ref.secretArn} has no key "${key}" (keys present: ${listed})${hint}`, 'rejected');
  }
  const value = json[key];
  if (typeof value !== 'string') throw new StepError(`secret ${ref.secretArn}: key "${key}" is a ${value === null ? 'null' : typeof value}, not a string`, 'rejected');
  return value;
}

function parseObject(text: string): Record<string, unknown> | undefined {
  // Only an object counts as JSON here: a plain password such as 12345 or "true" parses as JSON too.
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Names the ARN and what to fix; the AWS message is kept (it carries the caller's identity, never the value). */
function secretError(arn: string, error: unknown): StepError {
  const name = awsErrorName(error);
  const aws = error instanceof Error && error.message ? ` (${name}: ${error.message})` : ` (${name})`;
  const cls = classifyAwsError(error);
  let message: string;
  if (cls === 'access-denied') {
    message = `access denied reading secret ${arn}: the caller needs secretsmanager:GetSecretValue on it, and kms:Decrypt on its KMS key when the secret is encrypted with a customer managed key${aws}`;
  } else if (name === 'ResourceNotFoundException') {
    message = `secret ${arn} not found in ${secretArnRegion(arn)}: check the ARN, its region and account${aws}`;
  } else if (name === 'DecryptionFailure') {
    message = `Secrets Manager cannot decrypt secret ${arn}: its KMS key must be enabled and the caller needs kms:Decrypt on it${aws}`;
  } else {
    message = `secretsmanager:GetSecretValue on ${arn} failed${aws}`;
  }
  const kind = cls === 'throttled' || cls === 'server' ? 'retryable' : cls === 'access-denied' ? 'rejected' : 'fatal';
  return new StepError(message, kind, [], { cause: error });
}
