// Every example in runbooks/ must load and validate; a file dropped there is covered without touching this test.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProblem, loadRunbook } from '../../src/runbook/load.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = join(REPO, 'runbooks');
const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();

describe('example runbooks', () => {
  it('has the four documented examples', () => {
    expect(files).toEqual(expect.arrayContaining(['aurora-mysql.yaml', 'aurora-postgresql.yaml', 'rehearsal-mysql.yaml', 'rehearsal-postgres.yaml']));
  });

  it.each(files)('%s is valid', (file) => {
    const path = relative(REPO, join(DIR, file));
    const result = loadRunbook(path);
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.path).toBe(path);
    expect(result.runbook.version).toBe(1);
    expect(result.runbook.region).toBe('us-east-1');
    expect(result.runbook.account).toBe('123456789012');
  });

  it.each(['rehearsal-postgres.yaml', 'rehearsal-mysql.yaml'])('%s describes the orders-db rehearsal', (file) => {
    const result = loadRunbook(join(DIR, file));
    if (!result.ok) throw new Error('invalid');
    const { source, target, dms, rehearsal } = result.runbook;
    expect(source).toMatchObject({ identifier: 'orders-db', database: 'orders', username: 'rekey_admin', password: { env: 'REKEY_SOURCE_PASSWORD' } });
    expect(source.engine).toBe(file.includes('postgres') ? 'aurora-postgresql' : 'aurora-mysql');
    expect(target.kmsKeyId).toBe('alias/orders-2026');
    expect(dms?.replicationInstance).toMatchObject({ identifier: 'rekey-dms', create: true });
    expect(rehearsal?.source.seedRows).toBe(300_000);
    expect(rehearsal?.load.writesPerSecond).toBe(100);
    expect(rehearsal?.keys.map((k) => k.id)).toContain('alias/orders-2026');
  });

  it('explains the fields a DBA would wonder about in comments', () => {
    for (const file of files) {
      const text = readFileSync(join(DIR, file), 'utf8');
      const comments = text.split('\n').filter((l) => l.includes('#')).length;
      expect(comments).toBeGreaterThanOrEqual(5);
    }
  });
});
