// Attestation of a run from its folder: journal -> replay -> read back from the cloud -> attestation.json + .md.
// Used by `rekey attest` and at the end of every run (src/cli/session.ts).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cloud } from '../aws/cloud.js';
import { replay, type JournalRecord } from '../engine/journal.js';
import type { Runbook } from '../runbook/schema.js';
import { attestationMarkdown, buildAttestation, signAttestation, type AttestationFile } from './attest.js';

export interface RunAttestInput {
  runDir: string;
  runId: string;
  runbook: Runbook;
  records: readonly JournalRecord[];
  cloud: Cloud;
  /** KMS key that signs it, if any. */
  signKey?: string;
}

/** SHA-256 of a file, or null when it is gone. */
export function fileSha256(path: string): string | null {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : null;
}

/** Builds (and signs, when asked) the attestation and writes attestation.json and attestation.md into the run folder. */
export async function writeRunAttestation(input: RunAttestInput): Promise<{ file: AttestationFile; paths: { json: string; markdown: string } }> {
  const created = input.records.find((r): r is Extract<JournalRecord, { t: 'run_created' }> => r.t === 'run_created');
  const order = typeof created?.meta.steps === 'string' ? created.meta.steps.split(',') : [...new Set(input.records.flatMap((r) => (r.t === 'step_started' ? [r.stepId] : [])))];
  const state = replay(input.records, order);
  const runbookPath = created?.runbookPath ?? '?';
  const attestation = await buildAttestation({
    runId: input.runId, runbook: input.runbook, runbookPath, runbookSha256: fileSha256(runbookPath), provider: created?.provider ?? input.cloud.provider,
    records: input.records, state, cloud: input.cloud,
  });
  const file: AttestationFile = input.signKey !== undefined ? await signAttestation(input.cloud, attestation, input.signKey) : { attestation };
  const json = join(input.runDir, 'attestation.json');
  const markdown = join(input.runDir, 'attestation.md');
  writeFileSync(json, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  writeFileSync(markdown, attestationMarkdown(file), { mode: 0o600 });
  return { file, paths: { json, markdown } };
}
