// The key-estate commands: `rekey inventory` (and `--retire-check`), `rekey attest` (and `--verify`), `rekey
// copy-snapshot`, `rekey iam-policy`. Each `*Data` function returns plain data and an exit code; the `*Command`
// wrappers print it (text, or JSON lines whose last line is the result). Exit codes: 0 done; 1 internal; 2 invalid
// input; 4 a check failed (a Region/permission unreadable, the key not safe to retire, a signature that does not verify).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cloud } from '../aws/cloud.js';
import { createAwsCloud } from '../aws/create-cloud.js';
import { signAttestation, verifyAttestation, type VerifyResult } from '../estate/attest.js';
import { writeRunAttestation } from '../estate/attest-run.js';
import { copySnapshotToRegion, type CopyResult } from '../estate/copy-snapshot.js';
import { iamPolicy, policyProblems, type IamPolicyResult } from '../estate/iam-policy.js';
import { inventory, retireCheck, type Inventory, type KeyInfo, type RetireCheck } from '../estate/inventory.js';
import { openRehearsalRegistry } from '../rehearsal/estate-world.js';
import { RunStore } from '../state/run-store.js';
import { CliError, loadRunbookOrExit } from './common.js';
import { createdOf } from './run-journal.js';

/** Where the estate commands read: AWS (a profile) or a kept rehearsal's registry. */
export interface EstateSource {
  /** AWS profile. */
  profile?: string;
  /** Run id of a rehearsal (its registry under the state dir). */
  rehearsal?: string;
  stateDir: string;
}

interface Opened {
  home: Cloud;
  close: () => Promise<void>;
}

async function openRehearsalRun(stateDir: string, runId: string): Promise<Opened> {
  const store = new RunStore(stateDir);
  const created = await createdOf(store, runId);
  if (created.provider !== 'rehearsal') throw new CliError(`run ${runId} ran against AWS, not a rehearsal: drop --rehearsal`, 2);
  const { runbook } = loadRunbookOrExit(created.runbookPath);
  try {
    const world = openRehearsalRegistry(join(store.runDir(runId), 'rehearsal'), runbook);
    return { home: world.cloud, close: () => world.close() };
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), 2);
  }
}

function openAws(region: string | undefined, profile: string | undefined): Opened {
  const r = region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (r === undefined) throw new CliError('name a Region: --region R (or set AWS_REGION)', 2);
  return { home: createAwsCloud({ region: r, ...(profile ? { profile } : {}) }), close: () => Promise.resolve() };
}

/** Prints a result: JSON (one line) or text lines. */
function print(json: boolean | undefined, result: unknown, text: () => string[]): void {
  if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else for (const line of text()) process.stdout.write(`${line}\n`);
}

export interface InventoryOptions extends EstateSource {
  key?: string;
  region: string[];
  retireCheck?: boolean;
  json?: boolean;
}

export type InventoryData = Inventory & { asked?: KeyInfo; retireCheck?: RetireCheck };

export async function inventoryData(o: InventoryOptions): Promise<{ result: InventoryData; exitCode: number }> {
  if (o.retireCheck && o.key === undefined) throw new CliError('--retire-check needs --key KEY (the key to retire)', 2);
  const opened = o.rehearsal !== undefined ? await openRehearsalRun(o.stateDir, o.rehearsal) : openAws(o.region[0], o.profile);
  try {
    const { home } = opened;
    const regions = [...new Set([home.region, ...o.region])];
    const clouds = regions.map((r) => (r === home.region ? home : home.inRegion?.(r) ?? home));
    const inv = await inventory(clouds, o.key !== undefined ? { key: o.key } : {});
    if (!o.retireCheck) return { result: inv, exitCode: inv.problems.length > 0 ? 4 : 0 };
    const check = await retireCheck(home, inv);
    return { result: { ...inv, retireCheck: check }, exitCode: check.safeToRetire ? 0 : 4 };
  } finally {
    await opened.close();
  }
}

export async function inventoryCommand(o: InventoryOptions): Promise<number> {
  const { result, exitCode } = await inventoryData(o);
  print(o.json, result.retireCheck ? { ...result, safeToRetire: result.retireCheck.safeToRetire, blockers: result.retireCheck.blockers } : result, () => {
    const lines: string[] = [`Regions: ${result.regions.join(', ')}`];
    for (const g of result.keys) {
      const k = g.key;
      lines.push('', `key ${k.arn}${k.aliases.length ? ` (${k.aliases.join(', ')})` : ''}  ${k.keyManager ?? '?'}${k.multiRegion ? ' multi-Region' : ''}  ${k.state ?? k.error ?? '?'}`);
      for (const r of g.resources) lines.push(`  ${r.region}  ${r.kind.padEnd(26)} ${r.id}${r.type ? ` [${r.type}]` : ''}${r.status ? `  ${r.status}` : ''}`);
      if (g.resources.length === 0) lines.push('  (nothing found on this key)');
    }
    if (result.unencrypted.length) {
      lines.push('', 'unencrypted');
      for (const r of result.unencrypted) lines.push(`  ${r.region}  ${r.kind.padEnd(26)} ${r.id}`);
    }
    for (const p of result.problems) lines.push(`could not read ${p.action} in ${p.region}: ${p.error}`);
    if (result.retireCheck) {
      const c = result.retireCheck;
      lines.push('', c.safeToRetire ? `safe to retire ${c.key.arn}: nothing depends on it` : `NOT safe to retire ${c.key.arn}: ${c.blockers.length} blocker(s)`);
      for (const b of c.blockers) lines.push(`  ${b.resource} (${b.region}): ${b.why}; until ${b.until}`);
      lines.push(c.note);
    }
    return lines;
  });
  return exitCode;
}

export interface AttestOptions extends EstateSource {
  json?: boolean;
  signKey?: string;
}

export async function attestData(runId: string, o: AttestOptions): Promise<{ result: Record<string, unknown>; exitCode: number }> {
  const store = new RunStore(o.stateDir);
  const created = await createdOf(store, runId);
  const { runbook } = loadRunbookOrExit(created.runbookPath);
  const profile = o.profile ?? (typeof created.meta.profile === 'string' ? created.meta.profile : undefined);
  const opened = created.provider === 'rehearsal' ? await openRehearsalRun(o.stateDir, runId) : openAws(runbook.region, profile);
  try {
    const records = await store.journal(runId).readAll();
    const { file, paths } = await writeRunAttestation({ runDir: store.runDir(runId), runId, runbook, records, cloud: opened.home, ...(o.signKey !== undefined ? { signKey: o.signKey } : {}) });
    return { result: { ...file, files: paths }, exitCode: 0 };
  } finally {
    await opened.close();
  }
}

export async function attestCommand(runId: string | undefined, o: AttestOptions & { verify?: string }): Promise<number> {
  if (o.verify !== undefined) {
    const { result, exitCode } = await verifyData(o.verify, o);
    print(o.json, result, () => [result.valid ? `${o.verify ?? ''}: signature valid (run ${result.runId ?? '?'}, key ${result.keyId ?? '?'})` : `${o.verify ?? ''}: NOT valid: ${result.reason ?? ''}`]);
    return exitCode;
  }
  if (runId === undefined) throw new CliError('name a run: rekey attest RUN_ID (or --verify FILE)', 2);
  const { result, exitCode } = await attestData(runId, o);
  const files = result.files as { json: string; markdown: string };
  print(o.json, result, () => [`attestation of run ${runId}${o.signKey ? `, signed with ${o.signKey}` : ''}:`, `  ${files.json}`, `  ${files.markdown}`]);
  return exitCode;
}

export async function verifyData(path: string, o: EstateSource): Promise<{ result: VerifyResult; exitCode: number }> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, 2);
  }
  let region: string | undefined;
  try {
    const keyId = (JSON.parse(text) as { signature?: { keyId?: string } }).signature?.keyId;
    region = keyId?.startsWith('arn:') ? keyId.split(':')[3] : undefined;
  } catch {
    region = undefined;
  }
  const opened = o.rehearsal !== undefined ? await openRehearsalRun(o.stateDir, o.rehearsal) : openAws(region, o.profile);
  try {
    const result = await verifyAttestation(opened.home, text);
    return { result, exitCode: result.valid ? 0 : 4 };
  } finally {
    await opened.close();
  }
}

export interface CopySnapshotOptions extends EstateSource {
  toRegion: string;
  kmsKey: string;
  region?: string;
  targetId?: string;
  json?: boolean;
  /** Sign the copy's attestation with this KMS key. */
  signKey?: string;
  /** Write the copy's attestation (JSON) to this file. */
  attestOut?: string;
}

/** The attestation of a copy: keys before and after as read back from AWS, tags; verifiable with `rekey attest --verify`. */
export interface CopyAttestation {
  kind: 'rekey-copy-attestation';
  version: 1;
  generatedAt: string;
  source: CopyResult['source'];
  copy: CopyResult['copy'];
  keyBefore: string | null;
  keyAfter: string | null;
}

export async function copySnapshotData(snapshot: string, o: CopySnapshotOptions, progress: (m: string) => void): Promise<{ result: CopyResult & { attestation: { attestation: CopyAttestation; signature?: unknown } }; exitCode: number }> {
  const sourceRegion = o.region ?? (snapshot.startsWith('arn:') ? snapshot.split(':')[3] : undefined);
  const opened = o.rehearsal !== undefined ? await openRehearsalRun(o.stateDir, o.rehearsal) : openAws(sourceRegion, o.profile);
  try {
    const result = await copySnapshotToRegion(opened.home, {
      snapshot, toRegion: o.toRegion, kmsKeyId: o.kmsKey, ...(o.targetId ? { targetIdentifier: o.targetId } : {}),
      onProgress: progress, pollMs: opened.home.provider === 'rehearsal' ? 100 : 15_000, timeoutMs: 6 * 3600_000,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    });
    const attestation: CopyAttestation = {
      kind: 'rekey-copy-attestation', version: 1, generatedAt: new Date().toISOString(), source: result.source, copy: result.copy,
      keyBefore: result.source.kmsKeyId ?? null, keyAfter: result.copy.kmsKeyId ?? null,
    };
    const file = o.signKey !== undefined ? await signAttestation(opened.home, attestation, o.signKey) : { attestation };
    if (o.attestOut !== undefined) writeFileSync(o.attestOut, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    return { result: { ...result, attestation: file }, exitCode: 0 };
  } finally {
    await opened.close();
  }
}

export async function copySnapshotCommand(snapshot: string, o: CopySnapshotOptions): Promise<number> {
  const progress = (m: string): void => {
    if (o.json) process.stdout.write(`${JSON.stringify({ type: 'progress', at: new Date().toISOString(), message: m })}\n`);
    else process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);
  };
  const { result, exitCode } = await copySnapshotData(snapshot, o, progress);
  print(o.json, { type: 'result', ...result }, () => [
    `${result.created ? 'copied' : 'found an earlier copy of'} ${result.source.arn} -> ${result.copy.arn}`,
    `  key before ${result.source.kmsKeyId ?? '?'}; key of the copy ${result.copy.kmsKeyId ?? '?'} (read back from ${result.copy.region})`,
    `  tags: ${result.copy.tags.map((t) => `${t.Key ?? ''}=${t.Value ?? ''}`).join(', ') || 'none'}`,
  ]);
  return exitCode;
}

export interface IamPolicyOptions {
  json?: boolean;
  oldKey?: string;
}

export function iamPolicyData(path: string, o: IamPolicyOptions): { result: IamPolicyResult & { problems: string[] }; exitCode: number } {
  const { runbook } = loadRunbookOrExit(path);
  const result = iamPolicy(runbook, o.oldKey !== undefined ? { oldKeyArn: o.oldKey } : {});
  const problems = policyProblems(result.policy);
  return { result: { ...result, problems }, exitCode: problems.length > 0 ? 1 : 0 };
}

export function iamPolicyCommand(path: string, o: IamPolicyOptions): number {
  const { result, exitCode } = iamPolicyData(path, o);
  if (o.json) process.stdout.write(`${JSON.stringify(result.policy)}\n`);
  else {
    process.stdout.write(`${JSON.stringify(result.policy, null, 2)}\n`);
    for (const n of result.notes) process.stderr.write(`note: ${n}\n`);
  }
  return exitCode;
}
