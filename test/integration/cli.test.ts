// The CLI contract: help, schema, exit 2 with file:line:col for every invalid runbook (never a stack trace),
// status and resume of unknown runs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve('dist/src/cli/main.js');
const INVALID = resolve('test/fixtures/runbooks/invalid');

function rekey(args: string[], cwd = process.cwd()): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

describe('rekey CLI', () => {
  it('prints help with every command and the exit codes', () => {
    const r = rekey(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['rehearse', 'plan', 'run', 'resume', 'status', 'rollback', 'schema']) expect(r.stdout).toContain(cmd);
    expect(r.stdout).toContain('130');
  });

  it('prints the runbook JSON Schema', () => {
    const r = rekey(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['source', 'target', 'dms', 'cutover', 'validation', 'hooks', 'rehearsal']));
  });

  it('an unknown command or option is invalid input (exit 2)', () => {
    expect(rekey(['frobnicate']).code).toBe(2);
    expect(rekey(['plan', '--nope']).code).toBe(2);
  });

  const fixtures = readdirSync(INVALID).filter((f) => f.endsWith('.yaml'));
  it(`every invalid runbook (${fixtures.length}) exits 2 with its file:line:col problems and no stack trace`, () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(25);
    for (const f of fixtures) {
      const path = join(INVALID, f);
      const r = rekey(['plan', path]);
      expect({ f, code: r.code }).toEqual({ f, code: 2 });
      expect(r.stderr).not.toMatch(STACK_LINE);
      const expected = readFileSync(path.replace(/\.yaml$/, '.expected.txt'), 'utf8').trim().split('\n');
      const printed = r.stderr.split('\n').filter((l) => l.startsWith(path));
      // The expected files name the fixture relative to the repo; the CLI names it as given.
      expect(printed.map((l) => l.slice(path.length))).toEqual(expected.map((l) => l.slice(l.indexOf(':'))));
    }
  });

  it('status and resume of an unknown run say so', () => {
    const dir = mkdtempSync(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), 'cli-'));
    expect(rekey(['status'], dir).stdout).toContain('no runs');
    const r = rekey(['resume', 'abcdefgh'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no run abcdefgh');
  });
});
