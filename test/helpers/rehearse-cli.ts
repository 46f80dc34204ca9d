// Shared by the end-to-end suites: run the built `rekey` CLI in a throwaway directory, read its `--json` summary
// and journal, and stop whatever servers a killed runner left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from '@jest/globals';
import { parseDocument } from 'yaml';
import { stopAllUnder } from '../../src/rehearsal/servers/index.js';

export const CLI = resolve('dist/src/cli/main.js');
/** The password the runbooks' `{env: REKEY_SOURCE_PASSWORD}` resolves to; it must never appear in any output. */
export const SECRET = 'Rehearsal-S3cret-7781';

export interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const made: string[] = [];

/** A new directory under the suite's root; `stopServersLeftUnder()` stops any server a test left in one. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), `${name}-`));
  made.push(dir);
  return dir;
}

/** Stop the servers under every directory `tempDir` made (a killed runner leaves its servers behind). */
export async function stopServersLeftUnder(): Promise<void> {
  for (const dir of made) await stopAllUnder(dir);
}

/** Start `rekey args` in cwd (CI=true, the source password set); `done` settles when it exits. */
export function start(args: string[], cwd: string, extraEnv: Record<string, string> = {}): { child: ChildProcess; done: Promise<Done> } {
  const env = { ...process.env, REKEY_SOURCE_PASSWORD: SECRET, CI: 'true', ...extraEnv };
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, done: new Promise<Done>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr }))) };
}

export const rekey = (args: string[], cwd: string, extraEnv: Record<string, string> = {}): Promise<Done> => start(args, cwd, extraEnv).done;

/** The `--json` summary line (the fields the suites read). */
export interface Summary {
  type: string;
  ok: boolean;
  runId: string;
  status: string;
  engine: string;
  downtimeMs: number;
  switched: boolean;
  endpointWritable: boolean;
  writes: { acknowledged: number; lost: number; duplicated: number };
  validation: { tables: number; mismatched: number };
  sequences: { checked: number; behind: number };
  error: { kind: string; stepId: string; message?: string; details?: string[] };
  position?: { value: string; source: string };
  overlap?: { fromLsn: string; reason: string; tablesWithoutPk: string[] };
  next?: string;
}

export function summaryOf(out: Done): Summary {
  const last = out.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as Summary;
  } catch {
    throw new Error(`no JSON summary (exit ${out.code}):\n${out.stdout.slice(-3000)}\n${out.stderr.slice(-3000)}`);
  }
}

/** The run's journal records; a line being written right now is skipped. */
export function journalOf(cwd: string, runId: string): { t: string; stepId?: string }[] {
  const path = join(cwd, '.rekey', 'runs', runId, 'journal.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { t: string; stepId?: string }];
      } catch {
        return [];
      }
    });
}

/** Poll `probe` every 20 ms until it gives a value (a throw counts as none). */
export async function until<T>(probe: () => T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    let v: T | undefined;
    try {
      v = probe();
    } catch {
      v = undefined;
    }
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What every finished rehearsal of a bundled demo must show: live writes, none lost or doubled, data and counters right. */
export function expectCleanCutover(s: Summary): void {
  expect(s.writes.acknowledged).toBeGreaterThan(100);
  expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
  expect(s.validation.tables).toBeGreaterThanOrEqual(6);
  expect(s.validation.mismatched).toBe(0);
  expect(s.sequences.checked).toBeGreaterThanOrEqual(4);
  expect(s.sequences.behind).toBe(0);
}

/** A runbook document being edited. */
export type RunbookDoc = ReturnType<typeof parseDocument>;

/**
 * The bundled runbooks/<file> made small and fast for a test: `seedRows` demo rows (5000 unless given), every simulated
 * AWS delay 0, cutover.sustainSeconds 1; then `edit`. Written to dir/<name>.yaml; returns its path.
 */
export function testRunbook(file: string, dir: string, name: string, edit: (doc: RunbookDoc) => void = () => undefined, o: { seedRows?: number } = {}): string {
  const doc = parseDocument(readFileSync(resolve('runbooks', file), 'utf8'));
  doc.setIn(['rehearsal', 'source', 'seedRows'], o.seedRows ?? 5000);
  // A YAML node, not a plain object, so an edit can still set one delay inside it.
  doc.setIn(['rehearsal', 'delays'], doc.createNode({ snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 }));
  doc.setIn(['cutover', 'sustainSeconds'], 1);
  edit(doc);
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, doc.toString());
  return path;
}

/** What the suites read of the rehearsal cloud's registry (rehearsal/cloud/registry.json). */
export interface Registry {
  created: { action: string; identifier: string }[];
  clusters: Record<string, { identifier: string; kmsKeyArn: string; instance?: { replicaOf?: string } }>;
  keys: Record<string, { arn: string; aliases: string[] }>;
  blueGreen?: Record<string, { status: string }>;
  proxyPorts: Record<string, number>;
}

export const registryOf = (cwd: string, runId: string): Registry =>
  JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as Registry;

/** The ids of the steps journaled as succeeded, in order. */
export const succeededSteps = (cwd: string, runId: string): string[] =>
  journalOf(cwd, runId).flatMap((r) => (r.t === 'step_succeeded' && r.stepId ? [r.stepId] : []));

/** The flow's step ids, as the run_created record lists them. */
export function flowSteps(cwd: string, runId: string): string[] {
  const created = journalOf(cwd, runId).find((r) => r.t === 'run_created') as unknown as { meta: { steps: string } } | undefined;
  return created ? created.meta.steps.split(',') : [];
}

/** How a run that was killed after every step ended. */
export interface KilledRun {
  runId: string;
  /** The last runner's exit. */
  final: Done;
  /** After which step each runner was killed (the last succeeded step when the kill came). */
  killedAfter: string[];
}

/**
 * `rekey rehearse path`, its runner killed with SIGKILL each time it has journaled one more step (REKEY_CHAOS_PAUSE_MS
 * holds it between two steps) and resumed with `rekey resume`, until a runner ends by itself.
 */
export async function killAfterEachStep(path: string, cwd: string): Promise<KilledRun> {
  const chaos = { REKEY_CHAOS_PAUSE_MS: '400' };
  let runner = start(['rehearse', path, '--json'], cwd, chaos);
  const runsDir = join(cwd, '.rekey', 'runs');
  const runId = await until(() => (existsSync(runsDir) ? readdirSync(runsDir)[0] : undefined));
  await until(() => (journalOf(cwd, runId).some((r) => r.t === 'runner_started') ? true : undefined));
  const killedAfter: string[] = [];
  for (;;) {
    const before = succeededSteps(cwd, runId).length;
    // Wait for one more step to finish (or the runner to end), then kill it.
    const ended = await Promise.race([runner.done, until(() => (succeededSteps(cwd, runId).length > before ? true : undefined), 120_000).then(() => undefined)]);
    if (ended) return { runId, final: ended, killedAfter };
    runner.child.kill('SIGKILL');
    await runner.done;
    killedAfter.push(succeededSteps(cwd, runId).at(-1) ?? '');
    runner = start(['resume', runId, '--json'], cwd, chaos);
  }
}
