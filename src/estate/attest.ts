// Attestation of a run: for each resource the run touched, the key before (from the journal) and after (read back
// from AWS now), the approvals, the validation results and the runbook's hash. Canonical JSON (sorted keys, no
// spaces) is what gets signed: KMS Sign over its SHA-256 digest (MessageType DIGEST); `verify` recomputes the digest
// and asks KMS Verify, so a one-byte edit anywhere fails.
import { createHash } from 'node:crypto';
import { DescribeKeyCommand, SignCommand, VerifyCommand } from '@aws-sdk/client-kms';
import type { SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { DescribeDBClustersCommand, DescribeDBClusterSnapshotsCommand, DescribeDBInstancesCommand, DescribeDBSnapshotsCommand } from '@aws-sdk/client-rds';
import type { Cloud } from '../aws/cloud.js';
import type { JournalRecord, ReplayState } from '../engine/journal.js';
import { runFindings } from '../report/findings.js';
import type { Runbook } from '../runbook/schema.js';
import { isInstance } from '../steps/engine.js';
import { resourceNames } from '../steps/names.js';

/** One resource the run touched. */
export interface AttestedResource {
  /** What it is to the run. */
  role: string;
  /** cluster, instance, cluster-snapshot, snapshot. */
  kind: string;
  /** Identifier (as it is named now). */
  identifier: string;
  /** Region. */
  region: string;
  /** ARN, when AWS gave one. */
  arn?: string;
  /** Key before the run (from the journal), or `none: created by the run`. */
  keyBefore: string;
  /** Key read back from AWS at attestation time; absent when the resource is gone. */
  keyAfter?: string;
  /** Whether it exists now. */
  exists: boolean;
  /** When it was read back (ISO). */
  readAt: string;
  /** Why it could not be read. */
  error?: string;
}

/** The attestation document (what is signed). */
export interface Attestation {
  /** Document type. */
  kind: 'rekey-attestation';
  /** Format version. */
  version: 1;
  runId: string;
  /** aws or rehearsal. */
  provider: string;
  /** Runbook name, path and SHA-256 of its file now. */
  runbook: { name: string; path: string; sha256: string | null };
  /** When the attestation was made (ISO). */
  generatedAt: string;
  /** How the run ended, and when it started and last stopped. */
  run: { status: string; startedAt?: string; stoppedAt?: string; message?: string };
  /** The old and new key ARNs as the run resolved them. */
  keys: { old?: string; new?: string };
  /** Each resource, key before and after. */
  resources: AttestedResource[];
  /** Gate decisions with what was shown. */
  approvals: { gate: string; decision: string; by: string; at: string; summary: string }[];
  /** Validation and sequence results. */
  validation: { tables: number; mismatched: number; sequencesChecked: number; sequencesBehind: number };
  /** Steps and when they succeeded. */
  steps: { id: string; at: string; durationMs: number }[];
}

/** A signature over the canonical JSON's SHA-256 digest. */
export interface AttestationSignature {
  /** Key ARN that signed. */
  keyId: string;
  /** KMS signing algorithm. */
  algorithm: string;
  /** Hex SHA-256 of canonicalJson(attestation). */
  digest: string;
  /** Base64 signature. */
  value: string;
  /** When it was signed. */
  signedAt: string;
}

/** The file: the attestation and, when signed, its signature. */
export interface AttestationFile {
  attestation: Attestation;
  signature?: AttestationSignature;
}

/** JSON with object keys sorted at every level and no whitespace: one byte sequence per value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function digestOf(attestation: unknown): Buffer {
  return createHash('sha256').update(canonicalJson(attestation), 'utf8').digest();
}

const errorText = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
const isNotFound = (e: unknown): boolean => e instanceof Error && /NotFound/.test(e.name);

type Output = Record<string, unknown> | undefined;

/** Reads back the key of a database or snapshot; `exists: false` when AWS says it is gone. */
async function readBack(cloud: Cloud, kind: string, identifier: string): Promise<{ keyAfter?: string; arn?: string; exists: boolean; error?: string }> {
  try {
    switch (kind) {
      case 'cluster': {
        const c = (await cloud.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: identifier }))).DBClusters?.[0];
        return { exists: c !== undefined, ...(c?.KmsKeyId ? { keyAfter: c.KmsKeyId } : {}), ...(c?.DBClusterArn ? { arn: c.DBClusterArn } : {}) };
      }
      case 'instance': {
        const i = (await cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: identifier }))).DBInstances?.[0];
        return { exists: i !== undefined, ...(i?.KmsKeyId ? { keyAfter: i.KmsKeyId } : {}), ...(i?.DBInstanceArn ? { arn: i.DBInstanceArn } : {}) };
      }
      case 'cluster-snapshot': {
        const s = (await cloud.rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: identifier }))).DBClusterSnapshots?.[0];
        return { exists: s !== undefined, ...(s?.KmsKeyId ? { keyAfter: s.KmsKeyId } : {}), ...(s?.DBClusterSnapshotArn ? { arn: s.DBClusterSnapshotArn } : {}) };
      }
      default: {
        const s = (await cloud.rds.send(new DescribeDBSnapshotsCommand({ DBSnapshotIdentifier: identifier }))).DBSnapshots?.[0];
        return { exists: s !== undefined, ...(s?.KmsKeyId ? { keyAfter: s.KmsKeyId } : {}), ...(s?.DBSnapshotArn ? { arn: s.DBSnapshotArn } : {}) };
      }
    }
  } catch (error) {
    return isNotFound(error) ? { exists: false } : { exists: false, error: errorText(error) };
  }
}

export interface AttestInput {
  runId: string;
  runbook: Runbook;
  runbookPath: string;
  /** SHA-256 of the runbook file (null when it is gone). */
  runbookSha256: string | null;
  provider: string;
  records: readonly JournalRecord[];
  state: ReplayState;
  cloud: Cloud;
  now?: () => Date;
}

/** Builds the attestation: the journal for "before", AWS for "after". */
export async function buildAttestation(input: AttestInput): Promise<Attestation> {
  const { runbook: rb, state, cloud } = input;
  const now = input.now ?? (() => new Date());
  const names = resourceNames(rb, input.runId);
  const out = (id: string): Output => state.succeeded.get(id)?.output as Output;
  const preflight = out('preflight') as { source?: { kmsKeyId?: string }; key?: { arn?: string } } | undefined;
  const oldKey = preflight?.source?.kmsKeyId;
  const newKey = preflight?.key?.arn ?? (out('restore')?.kmsKeyId as string | undefined);
  const switched = out('switch') !== undefined && (out('switch') as { mode?: string }).mode !== 'none';
  const db = isInstance(rb) ? 'instance' : 'cluster';
  const snapKind = isInstance(rb) ? 'snapshot' : 'cluster-snapshot';
  const created = 'none: created by the run';
  const touched: { role: string; kind: string; identifier: string; keyBefore: string; region?: string }[] = [];
  if (switched) {
    touched.push({ role: 'the database now answering to the source name (new, restored under the new key)', kind: db, identifier: rb.source.identifier, keyBefore: created });
    touched.push({ role: 'the old database, renamed away', kind: db, identifier: names.oldName, keyBefore: oldKey ?? 'unknown' });
  } else {
    touched.push({ role: 'the source database', kind: db, identifier: rb.source.identifier, keyBefore: oldKey ?? 'unknown' });
    if (out('restore') !== undefined) touched.push({ role: 'the new database under the new key (not switched in)', kind: db, identifier: names.targetCluster, keyBefore: created });
  }
  if (out('snapshot') !== undefined) touched.push({ role: 'snapshot of the source', kind: snapKind, identifier: names.snapshot, keyBefore: created });
  if (out('copy-snapshot') !== undefined) touched.push({ role: 'snapshot copy under the new key', kind: 'snapshot', identifier: names.snapshotCopy, keyBefore: created });
  const copies = (out('copy-snapshot-to') as { copies?: { region: string; identifier: string; kind: string }[] } | undefined)?.copies ?? [];
  for (const c of copies) touched.push({ role: `cross-Region copy in ${c.region}`, kind: c.kind, identifier: c.identifier, keyBefore: created, region: c.region });

  const resources = await Promise.all(
    touched.map(async (t): Promise<AttestedResource> => {
      const region = t.region ?? cloud.region;
      const regional = region === cloud.region ? cloud : cloud.inRegion?.(region) ?? cloud;
      const back = await readBack(regional, t.kind, t.identifier);
      return { ...t, region, ...back, readAt: now().toISOString() };
    }),
  );
  const records = input.records;
  const findings = runFindings(state);
  const approvals = records
    .filter((r): r is Extract<JournalRecord, { t: 'gate_decided' }> => r.t === 'gate_decided')
    .map((r) => ({ gate: r.decision.id, decision: r.decision.decision, by: r.decision.by, at: r.decision.at, summary: r.shown.summary }));
  const started = records.find((r) => r.t === 'run_created');
  const lastStop = state.lastStop;
  return {
    kind: 'rekey-attestation',
    version: 1,
    runId: input.runId,
    provider: input.provider,
    runbook: { name: rb.name, path: input.runbookPath, sha256: input.runbookSha256 },
    generatedAt: now().toISOString(),
    run: {
      status: state.rollback?.status === 'succeeded' ? 'rolled_back' : lastStop?.status ?? (state.inFlight.size > 0 ? 'running (or killed)' : 'unknown'),
      ...(started ? { startedAt: started.at } : {}),
      ...(lastStop ? { stoppedAt: lastStop.at } : {}),
      ...(lastStop?.message ? { message: lastStop.message } : {}),
    },
    keys: { ...(oldKey ? { old: oldKey } : {}), ...(newKey ? { new: newKey } : {}) },
    resources,
    approvals,
    validation: { tables: findings.validation.tables, mismatched: findings.validation.mismatched, sequencesChecked: findings.sequences.checked, sequencesBehind: findings.sequences.behind },
    steps: [...state.succeeded.entries()].map(([id, s]) => ({ id, at: s.at, durationMs: s.durationMs })),
  };
}

/** The signing algorithm KMS offers for the key: ECDSA_SHA_256 or RSASSA_PSS_SHA_256 (over a SHA-256 digest). */
async function signingAlgorithm(kms: Cloud['kms'], keyId: string): Promise<{ arn: string; algorithm: SigningAlgorithmSpec }> {
  const meta = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
  if (meta?.KeyUsage !== 'SIGN_VERIFY') throw new Error(`${keyId} is not a signing key (KeyUsage ${meta?.KeyUsage ?? 'unknown'}); name an asymmetric SIGN_VERIFY key`);
  const offered = meta.SigningAlgorithms ?? [];
  const algorithm = (['ECDSA_SHA_256', 'RSASSA_PSS_SHA_256'] as const).find((a) => offered.includes(a));
  if (!algorithm) throw new Error(`${keyId} offers ${offered.join(', ') || 'no'} signing algorithms; rekey signs SHA-256 digests with ECDSA_SHA_256 (ECC_NIST_P256) or RSASSA_PSS_SHA_256 (RSA)`);
  return { arn: meta.Arn ?? keyId, algorithm };
}

function kmsFor(cloud: Cloud, keyRef: string): Cloud['kms'] {
  const region = keyRef.startsWith('arn:') ? keyRef.split(':')[3] : undefined;
  return region && region !== cloud.region && cloud.inRegion ? cloud.inRegion(region).kms : cloud.kms;
}

/** Signs the attestation (a run's, or any other document rekey attests) with a KMS asymmetric key. */
export async function signAttestation<A = Attestation>(cloud: Cloud, attestation: A, keyRef: string, now: () => Date = () => new Date()): Promise<{ attestation: A; signature: AttestationSignature }> {
  const kms = kmsFor(cloud, keyRef);
  const { arn, algorithm } = await signingAlgorithm(kms, keyRef);
  const digest = digestOf(attestation);
  const signed = await kms.send(new SignCommand({ KeyId: arn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: algorithm }));
  if (!signed.Signature) throw new Error('KMS Sign returned no signature');
  return { attestation, signature: { keyId: arn, algorithm, digest: digest.toString('hex'), value: Buffer.from(signed.Signature).toString('base64'), signedAt: now().toISOString() } };
}

/** What `rekey attest --verify` finds. */
export interface VerifyResult {
  /** True only when the digest matches and KMS Verify accepts the signature. */
  valid: boolean;
  /** Why not, when not. */
  reason?: string;
  /** The key that signed. */
  keyId?: string;
  runId?: string;
}

/** Checks a signed attestation file's text: parse, recompute the digest, KMS Verify. Never throws for a bad file. */
export async function verifyAttestation(cloud: Cloud, text: string): Promise<VerifyResult> {
  let file: AttestationFile;
  try {
    file = JSON.parse(text) as AttestationFile;
  } catch (error) {
    return { valid: false, reason: `not JSON: ${errorText(error)}` };
  }
  const sig = file.signature;
  if (!sig || typeof sig.value !== 'string' || typeof sig.keyId !== 'string') return { valid: false, reason: 'the file carries no signature (sign it with rekey attest RUN_ID --sign-key KEY)' };
  const base = { keyId: sig.keyId, ...(typeof file.attestation?.runId === 'string' ? { runId: file.attestation.runId } : {}) };
  const digest = digestOf(file.attestation);
  if (digest.toString('hex') !== sig.digest) return { ...base, valid: false, reason: 'the attestation was changed after it was signed (its digest differs)' };
  try {
    const out = await kmsFor(cloud, sig.keyId).send(
      new VerifyCommand({ KeyId: sig.keyId, Message: digest, MessageType: 'DIGEST', Signature: Buffer.from(sig.value, 'base64'), SigningAlgorithm: sig.algorithm as SigningAlgorithmSpec }),
    );
    return out.SignatureValid === true ? { ...base, valid: true } : { ...base, valid: false, reason: 'KMS Verify: the signature is not valid' };
  } catch (error) {
    if (error instanceof Error && error.name === 'KMSInvalidSignatureException') return { ...base, valid: false, reason: 'KMS Verify: the signature is not valid for this attestation and key' };
    throw error;
  }
}

/** The attestation for people. */
export function attestationMarkdown(file: AttestationFile): string {
  const a = file.attestation;
  const lines = [
    `# Key change attestation: run ${a.runId}`,
    '',
    `- Runbook: ${a.runbook.name} (\`${a.runbook.path}\`, sha256 \`${a.runbook.sha256 ?? 'file missing'}\`)`,
    `- Provider: ${a.provider}; run ${a.run.status}${a.run.startedAt ? `, started ${a.run.startedAt}` : ''}${a.run.stoppedAt ? `, stopped ${a.run.stoppedAt}` : ''}`,
    `- Old key: \`${a.keys.old ?? 'unknown'}\`; new key: \`${a.keys.new ?? 'unknown'}\``,
    `- Generated ${a.generatedAt}; keys read back from AWS at that time`,
    '',
    '| resource | role | region | key before | key after (read back) | read at |',
    '|---|---|---|---|---|---|',
    ...a.resources.map((r) => `| ${r.kind} \`${r.identifier}\` | ${r.role} | ${r.region} | \`${r.keyBefore}\` | ${r.exists ? `\`${r.keyAfter ?? 'unencrypted'}\`` : r.error ? `unreadable: ${r.error}` : 'gone'} | ${r.readAt} |`),
    '',
    '## Approvals',
    '',
    ...(a.approvals.length ? a.approvals.map((p) => `- ${p.gate}: ${p.decision} by ${p.by} at ${p.at} — ${p.summary}`) : ['- none recorded']),
    '',
    '## Validation',
    '',
    `- ${a.validation.tables} tables compared, ${a.validation.mismatched} mismatched; ${a.validation.sequencesChecked} sequences checked, ${a.validation.sequencesBehind} behind`,
    '',
    '## Signature',
    '',
    file.signature
      ? `Signed with \`${file.signature.keyId}\` (${file.signature.algorithm}) over SHA-256 \`${file.signature.digest}\` of the canonical JSON, ${file.signature.signedAt}. Check: \`rekey attest --verify attestation.json\`.`
      : 'Not signed (sign with `rekey attest RUN_ID --sign-key KEY`).',
    '',
  ];
  return lines.join('\n');
}
