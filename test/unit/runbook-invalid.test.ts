// Each invalid runbook under test/fixtures/runbooks/invalid has a sibling .expected.txt with the exact
// `file:line:col: message` lines the loader must report (all of them, sorted by position).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProblem, loadRunbook } from '../../src/runbook/load.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REL = 'test/fixtures/runbooks/invalid';
const DIR = join(REPO, REL);
const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
const INLINE_SECRET = 'S3cr3t-Hunter2';

function problemsOf(file: string): string[] {
  const result = loadRunbook(`${REL}/${file}`, readFileSync(join(DIR, file), 'utf8'));
  return result.ok ? [] : result.problems.map(formatProblem);
}

describe('invalid runbooks', () => {
  it('has at least 30 fixtures, each with its expected problems', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(30);
    for (const f of fixtures) expect(existsSync(join(DIR, f.replace(/\.yaml$/, '.expected.txt')))).toBe(true);
  });

  it.each(fixtures)('%s reports exactly the expected problems', (file) => {
    const expected = readFileSync(join(DIR, file.replace(/\.yaml$/, '.expected.txt')), 'utf8').split('\n').filter((l) => l !== '');
    expect(expected.length).toBeGreaterThan(0);
    expect(problemsOf(file)).toEqual(expected);
  });

  it('reads the file itself when no text is given, with the same result', () => {
    const file = 'many-problems.yaml';
    const fromDisk = loadRunbook(join(DIR, file));
    expect(fromDisk.ok).toBe(false);
    if (fromDisk.ok) return;
    expect(fromDisk.problems.map((p) => p.message)).toEqual(problemsOf(file).map((l) => l.replace(/^[^:]+:\d+:\d+: /, '')));
    expect(fromDisk.problems.every((p) => p.file === join(DIR, file))).toBe(true);
  });

  it('never puts an inline secret into a problem message', () => {
    const withSecrets = fixtures.filter((f) => readFileSync(join(DIR, f), 'utf8').includes(INLINE_SECRET));
    expect(withSecrets.length).toBeGreaterThanOrEqual(3);
    for (const f of withSecrets) {
      const lines = problemsOf(f);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(line).not.toContain(INLINE_SECRET);
    }
  });

  it('reports every problem of a file at once, in file order', () => {
    const lines = problemsOf('many-problems.yaml');
    expect(lines.length).toBeGreaterThanOrEqual(8);
    const positions = lines.map((l) => l.split(':').slice(1, 3).map(Number) as [number, number]);
    const sorted = [...positions].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(positions).toEqual(sorted);
  });
});
