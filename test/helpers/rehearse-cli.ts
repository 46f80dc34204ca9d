// Shared by the end-to-end suites: run the built `rekey` CLI in a throwaway directory, read its `--json` summary
// and journal, and stop whatever servers a killed runner left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from '@jest/globals';
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
