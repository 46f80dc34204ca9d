// Headless and CI: GitHub annotations for runbook errors, the job summary, `rekey plan` without AWS credentials,
// `rekey plan --rehearsal` on a fresh checkout, and a successful rehearsal leaving no snapshot dumps behind.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const CLI = resolve('dist/src/cli/main.js');
const INVALID = resolve('test/fixtures/runbooks/invalid');

/** The environment without any AWS credentials or configuration (and no instance metadata to ask). */
function noAwsEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('GITHUB_')) env[k] = v;
  return { ...env, CI: 'true', AWS_CONFIG_FILE: '/nonexistent/config', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials', AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

function rekey(args: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(name: string): string {
  return mkdtempSync(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), `${name}-`));
}

describe('rekey in CI', () => {
  it('under GITHUB_ACTIONS=true a runbook problem is an ::error annotation on its file, line and column', () => {
    const file = join(INVALID, 'url-scheme-mismatch.yaml');
    const r = rekey(['plan', file], noAwsEnv({ GITHUB_ACTIONS: 'true' }));
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`::error file=${file},line=19,col=10,title=rekey%3A invalid runbook::rehearsal.source.url: scheme postgres:// does not match engine aurora-mysql`);
    // Without GITHUB_ACTIONS, no workflow commands.
    expect(rekey(['plan', file], noAwsEnv()).stdout).not.toContain('::error');
  });

  it('rekey plan without AWS credentials names the problem once, with the fix, and nothing else about the source', () => {
    const r = rekey(['plan', resolve('runbooks/aurora-postgresql.yaml')], noAwsEnv({ REKEY_DMS_PASSWORD: 'x' }), tempDir('plan-nocreds'));
    expect(r.code).toBe(4);
    const all = r.stdout + r.stderr;
    expect(all.match(/aws\.credentials: /g)).toHaveLength(1);
    for (const fix of ['--profile', 'AWS_PROFILE', 'SSO', 'AWS_ACCESS_KEY_ID']) expect(all).toContain(fix);
    for (const noise of ['CredentialsProviderError', 'StepError', 'was not found', 'predicted cutover window', 'source.exists', 'key.exists', 'dms.instance']) expect(all).not.toContain(noise);
    expect(all).not.toMatch(/run \w+ started/);
  });

  it('plan --rehearsal works on a fresh checkout, and a rehearsal writes the job summary and deletes its snapshot dumps', () => {
    const cwd = tempDir('ci-rehearse');
    const runbook = join(cwd, 'small.yaml');
    writeFileSync(runbook, readFileSync(resolve('runbooks/rehearsal-postgres.yaml'), 'utf8').replace(/seedRows: \d+/, 'seedRows: 2000').replace(/sustainSeconds: \d+/, 'sustainSeconds: 2'));
    const plan = rekey(['plan', runbook, '--rehearsal'], noAwsEnv(), cwd);
    expect({ code: plan.code, err: plan.stderr.slice(-500) }).toMatchObject({ code: 0 });
    expect(plan.stdout).toContain('preflight passed');
    expect(existsSync(join(cwd, '.rekey', 'plans')) ? readdirSync(join(cwd, '.rekey', 'plans')) : []).toEqual([]);

    const summaryFile = join(cwd, 'step-summary.md');
    const r = rekey(['rehearse', runbook, '--load', '30'], noAwsEnv({ GITHUB_STEP_SUMMARY: summaryFile }), cwd);
    expect({ code: r.code, tail: r.stdout.slice(-1500) }).toMatchObject({ code: 0 });
    const md = readFileSync(summaryFile, 'utf8');
    expect(md).toMatch(/^### rekey run \w+: succeeded \(exit 0\)/);
    expect(md).toMatch(/\| window \| writes blocked \d+\.\d s \(predicted [\d.]+ s, fence limit 30 s\)/);
    expect(md).toMatch(/\| key \| arn:aws:kms:[^ ]+ → arn:aws:kms:/);
    // The line-mode summary says the same, without JSON.
    expect(r.stdout).toMatch(/ {2}window: writes blocked \d+\.\d s/);
    expect(r.stdout).not.toMatch(/downtimeMs|evidence: \{/);
    const runId = /run (\w+): succeeded/.exec(r.stdout)?.[1] ?? '';
    expect(existsSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'snapshots'))).toBe(false);
  }, 300_000);
});
