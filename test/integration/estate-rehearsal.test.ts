/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- the CLI's JSON output is read loosely, field by field */
// The key estate against a kept rehearsal: after `rekey rehearse --keep`, the inventory of the old key (alias/aws/rds)
// lists the old cluster and the rehearsal's snapshot, the retirement guard exits non-zero naming them, the run's
// attestation (written at the end of the run) reads back the new key, a signed attestation verifies and a one-byte
// edit does not, and a snapshot copies into the second rehearsal Region under a key of that Region.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { rekey, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';

afterAll(stopServersLeftUnder);

const lastJson = (stdout: string): Record<string, any> => JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');

describe('rekey inventory / attest / copy-snapshot on a kept rehearsal', () => {
  it('finds what sits on the old key, refuses its retirement, attests the run and copies a snapshot across Regions', async () => {
    const cwd = tempDir('estate');
    const doc = parseDocument(readFileSync(resolve('runbooks/rehearsal-postgres.yaml'), 'utf8'));
    doc.setIn(['rehearsal', 'source', 'seedRows'], 5000);
    doc.setIn(['rehearsal', 'load', 'writesPerSecond'], 20);
    doc.setIn(['cutover', 'sustainSeconds'], 1);
    (doc.getIn(['rehearsal', 'keys']) as { add(v: unknown): void }).add(doc.createNode({ id: 'alias/orders-dr', region: 'us-west-2' }));
    const path = join(cwd, 'estate.yaml');
    writeFileSync(path, doc.toString());
    const run = await rekey(['rehearse', path, '--json', '--keep'], cwd);
    const s = summaryOf(run);
    expect(run.code).toBe(0);
    const runId = s.runId;
    const runDir = join(cwd, '.rekey', 'runs', runId);

    // The attestation written at the end of the run: the source name now serves the new key, the old cluster the old one.
    const attestation = JSON.parse(readFileSync(join(runDir, 'attestation.json'), 'utf8')).attestation;
    expect(existsSync(join(runDir, 'attestation.md'))).toBe(true);
    const byId = Object.fromEntries(attestation.resources.map((r: any) => [r.identifier, r]));
    expect(byId['orders-db']).toMatchObject({ exists: true, keyAfter: attestation.keys.new, keyBefore: 'none: created by the run' });
    expect(byId[`orders-db-old-${runId}`]).toMatchObject({ exists: true, keyAfter: attestation.keys.old, keyBefore: attestation.keys.old });
    expect(attestation.keys.old).not.toBe(attestation.keys.new);
    expect(attestation.approvals).toEqual([expect.objectContaining({ gate: 'cutover', decision: 'approved', by: 'rehearsal' })]);
    expect(attestation.runbook.sha256).toMatch(/^[0-9a-f]{64}$/);

    // Inventory of the old key.
    const inv = await rekey(['inventory', '--key', 'alias/aws/rds', '--rehearsal', runId, '--json'], cwd);
    expect(inv.code).toBe(0);
    const listed = lastJson(inv.stdout);
    const onOld = listed.keys[0].resources.map((r: any) => `${r.kind} ${r.id}`);
    expect(listed.keys[0].key.arn).toBe(attestation.keys.old);
    expect(listed.keys[0].key).toMatchObject({ keyManager: 'AWS', multiRegion: false, state: 'Enabled' });
    expect(listed.keys[0].key.aliases).toContain('alias/aws/rds');
    expect(onOld).toEqual(expect.arrayContaining([`cluster orders-db-old-${runId}`, `instance orders-db-instance-1`, `cluster-snapshot orders-db-rekey-${runId}-snap`]));
    expect(onOld).not.toContain('cluster orders-db');

    // The retirement guard: not safe, each blocker named.
    const check = await rekey(['inventory', '--key', 'alias/aws/rds', '--retire-check', '--rehearsal', runId, '--json'], cwd);
    expect(check.code).toBe(4);
    const verdict = lastJson(check.stdout);
    expect(verdict.safeToRetire).toBe(false);
    const blockers = verdict.blockers.map((b: any) => b.resource);
    expect(blockers).toEqual(expect.arrayContaining([`cluster orders-db-old-${runId}`, `cluster-snapshot orders-db-rekey-${runId}-snap`]));
    expect(blockers.some((b: string) => b.startsWith('kms grant '))).toBe(true);
    expect(verdict.blockers.find((b: any) => b.resource === `key ${attestation.keys.old}`)?.why).toMatch(/AWS managed key/);
    // The new key is not safe either (the new cluster is on it), but for its own reasons.
    const newCheck = lastJson((await rekey(['inventory', '--key', attestation.keys.new, '--retire-check', '--rehearsal', runId, '--json'], cwd)).stdout);
    expect(newCheck.blockers.map((b: any) => b.resource)).toContain('cluster orders-db');

    // Signed attestation, verified with KMS Verify; a one-byte edit fails.
    const signed = await rekey(['attest', runId, '--sign-key', 'alias/rekey-rehearsal-attest', '--json'], cwd);
    expect(signed.code).toBe(0);
    const file = join(runDir, 'attestation.json');
    expect(JSON.parse(readFileSync(file, 'utf8')).signature).toMatchObject({ algorithm: 'ECDSA_SHA_256' });
    const ok = await rekey(['attest', '--verify', file, '--rehearsal', runId, '--json'], cwd);
    expect(ok.code).toBe(0);
    expect(lastJson(ok.stdout)).toMatchObject({ valid: true, runId });
    const text = readFileSync(file, 'utf8');
    const oneByte = join(cwd, 'one-byte.json');
    const digit = text.indexOf(runId) + 1;
    writeFileSync(oneByte, text.slice(0, digit) + (text[digit] === 'a' ? 'b' : 'a') + text.slice(digit + 1));
    const bad2 = await rekey(['attest', '--verify', oneByte, '--rehearsal', runId, '--json'], cwd);
    expect(bad2.code).toBe(4);
    expect(lastJson(bad2.stdout).valid).toBe(false);

    // Cross-Region copy into the second rehearsal Region, under a key of that Region; the inventory of that Region lists it.
    const copy = await rekey(['copy-snapshot', `orders-db-rekey-${runId}-snap`, '--to-region', 'us-west-2', '--kms-key', 'alias/orders-dr', '--rehearsal', runId, '--json'], cwd);
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    const copied = lastJson(copy.stdout);
    expect(copied).toMatchObject({ type: 'result', kind: 'cluster-snapshot', created: true, copy: { region: 'us-west-2', status: 'available', identifier: `orders-db-rekey-${runId}-snap` } });
    expect(copied.copy.arn).toMatch(/^arn:aws:rds:us-west-2:/);
    expect(copied.copy.kmsKeyId).toMatch(/^arn:aws:kms:us-west-2:/);
    expect(copied.copy.tags).toEqual(expect.arrayContaining([{ Key: 'rekey:copied-from', Value: expect.stringMatching(/^arn:aws:rds:us-east-1:.*cluster-snapshot:/) }, { Key: 'app', Value: 'rekey-demo' }]));
    expect(copied.attestation.attestation).toMatchObject({ kind: 'rekey-copy-attestation', keyBefore: attestation.keys.old, keyAfter: copied.copy.kmsKeyId });
    const copyAttest = join(cwd, 'copy-attestation.json');
    const signedCopy = await rekey(['copy-snapshot', `orders-db-rekey-${runId}-snap`, '--to-region', 'us-west-2', '--kms-key', 'alias/orders-dr', '--rehearsal', runId, '--attest-out', copyAttest, '--sign-key', 'alias/rekey-rehearsal-attest', '--json'], cwd);
    expect(signedCopy.code).toBe(0);
    expect((await rekey(['attest', '--verify', copyAttest, '--rehearsal', runId], cwd)).code).toBe(0);
    const again = lastJson((await rekey(['copy-snapshot', `orders-db-rekey-${runId}-snap`, '--to-region', 'us-west-2', '--kms-key', 'alias/orders-dr', '--rehearsal', runId, '--json'], cwd)).stdout);
    expect(again.created).toBe(false);
    const west = lastJson((await rekey(['inventory', '--region', 'us-west-2', '--rehearsal', runId, '--json'], cwd)).stdout);
    const dr = west.keys.find((g: any) => g.key.arn === copied.copy.kmsKeyId);
    expect(dr.resources.map((r: any) => `${r.region} ${r.kind} ${r.id}`)).toEqual([`us-west-2 cluster-snapshot orders-db-rekey-${runId}-snap`]);
  }, 600_000);
});
