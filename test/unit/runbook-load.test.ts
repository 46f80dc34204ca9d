// The loader's API beyond the fixtures: problem formatting, secret references, env checks, file errors.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closest, describeSecretRef, formatProblem, loadRunbook, resolveSecret } from '../../src/runbook/load.js';

const VALID = `version: 1
name: test
region: us-east-1
source:
  engine: postgres
  identifier: orders-db
  database: orders
  username: rekey_admin
  password: {env: SRC_PW}
target:
  kmsKeyId: alias/orders-2026
dms:
  replicationInstance: {identifier: rekey-dms}
  password: {secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:dms-AbCdEf"}
rehearsal: {}
`;

describe('loadRunbook', () => {
  it('returns the runbook with defaults applied', () => {
    const r = loadRunbook('rb.yaml', VALID);
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
    expect(r.runbook.cutover).toMatchObject({ maxLatencySeconds: 5, switch: 'rename', sentinelTable: 'rekey_sentinel' });
    expect(r.runbook.dms?.tables).toEqual({ include: ['%.%'], exclude: [] });
    expect(r.runbook.rehearsal?.load.writesPerSecond).toBe(100);
  });

  it('checks {env} secret references only when an environment is given', () => {
    expect(loadRunbook('rb.yaml', VALID).ok).toBe(true);
    expect(loadRunbook('rb.yaml', VALID, { env: { SRC_PW: 'x' } }).ok).toBe(true);
    const missing = loadRunbook('rb.yaml', VALID, { env: { SRC_PW: '' } });
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.problems.map(formatProblem)).toEqual(['rb.yaml:9:19: source.password: environment variable SRC_PW is not set']);
  });

  it('reports an unreadable file as a problem instead of throwing', () => {
    const r = loadRunbook(join(tmpdir(), 'rekey-no-such-runbook.yaml'));
    expect(r).toEqual({ ok: false, problems: [expect.objectContaining({ line: 1, col: 1, message: expect.stringContaining('ENOENT') })] });
  });

  it('reads from disk when no text is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rekey-rb-'));
    writeFileSync(join(dir, 'rb.yaml'), VALID);
    const r = loadRunbook(join(dir, 'rb.yaml'));
    expect(r.ok && r.path).toBe(join(dir, 'rb.yaml'));
  });

  it.each([
    ['binary noise', '\u0000\u0001{{{:::'],
    ['anchors and aliases', 'a: &x [*x]\n'],
    ['a huge number', `version: ${'9'.repeat(400)}\n`],
    ['a bare key', 'version\n'],
    ['nested lists', '- - - -\n'],
    ['unknown tag', 'version: !weird 1\n'],
  ])('never throws on %s', (_name, text) => {
    const r = loadRunbook('x.yaml', text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems.length).toBeGreaterThan(0);
      for (const p of r.problems) {
        expect(p.line).toBeGreaterThanOrEqual(1);
        expect(p.col).toBeGreaterThanOrEqual(1);
        expect(p.message).not.toMatch(/\n\s+at /);
      }
    }
  });

  it('resolves ordinary anchors and aliases', () => {
    const text = VALID.replace('password: {env: SRC_PW}', 'password: &pw {env: SRC_PW}').replace(/password: \{secretArn: .*\}/, 'password: *pw');
    const r = loadRunbook('rb.yaml', text);
    expect(r.ok && r.runbook.dms?.password).toEqual({ env: 'SRC_PW' });
  });

  it('accepts a rehearsal URL whose scheme matches the engine family, without a password', () => {
    const pg = VALID.replace('rehearsal: {}', 'rehearsal:\n  source: {url: "postgresql://me@127.0.0.1:5432/orders", urlPasswordEnv: PGPW}');
    expect(loadRunbook('rb.yaml', pg).ok).toBe(true);
    const my = VALID.replace('engine: postgres', 'engine: mysql').replace('rehearsal: {}', 'rehearsal:\n  source: {url: "mysql://me@127.0.0.1:3306/orders"}');
    expect(loadRunbook('rb.yaml', my).ok).toBe(true);
  });

  it('lets PostgreSQL engines use sslMode require without a certificate, outside a rehearsal too', () => {
    const text = VALID.replace('rehearsal: {}\n', '').replace('dms:\n', 'dms:\n  sslMode: require\n');
    expect(loadRunbook('rb.yaml', text).ok).toBe(true);
    expect(loadRunbook('rb.yaml', text.replace('engine: postgres', 'engine: mysql')).ok).toBe(false);
  });
});

describe('formatProblem', () => {
  it('renders file:line:col: message', () => {
    expect(formatProblem({ file: 'runbooks/a.yaml', line: 3, col: 7, message: 'name: must not be empty' })).toBe('runbooks/a.yaml:3:7: name: must not be empty');
  });
});

describe('secret references', () => {
  it('resolves {env} refs from the given environment only', () => {
    expect(resolveSecret({ env: 'PW' }, { PW: 'hunter2' })).toBe('hunter2');
    expect(resolveSecret({ env: 'PW' }, {})).toBeUndefined();
    expect(resolveSecret({ env: 'PW' }, { PW: '' })).toBeUndefined();
    expect(resolveSecret({ secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x' }, { PW: 'x' })).toBeUndefined();
  });

  it('describes a ref without its value', () => {
    expect(describeSecretRef({ env: 'PGPASSWORD' })).toBe('env:PGPASSWORD');
    expect(describeSecretRef({ secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:x' })).toBe(
      'secretsmanager:arn:aws:secretsmanager:us-east-1:123456789012:secret:x',
    );
  });
});

describe('closest', () => {
  it('suggests near misses, case-insensitively, and nothing for unrelated words', () => {
    expect(closest('kmsKeyID', ['kmsKeyId', 'instanceClass', 'tags'])).toBe('kmsKeyId');
    expect(closest('regoin', ['region', 'name'])).toBe('region');
    expect(closest('colour', ['kmsKeyId', 'instanceClass', 'tags'])).toBeUndefined();
    expect(closest('x', [])).toBeUndefined();
  });
});
