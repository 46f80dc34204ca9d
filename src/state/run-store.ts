// Where runs live: <stateDir>/runs/<runId>/{journal.jsonl, run.lock}. Directories are private (0700).
import { mkdirSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileJournalStore } from './file-journal.js';
import { FileRunLock } from './file-lock.js';

export const DEFAULT_STATE_DIR = '.rekey';

/** 8 lower-case letters/digits, starting with a letter (safe inside RDS identifiers). */
export function newRunId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(8);
  let id = alphabet[bytes[0]! % 26]!;
  for (let i = 1; i < 8; i++) id += alphabet[bytes[i]! % alphabet.length]!;
  return id;
}

export const RUN_ID = /^[a-z][a-z0-9]{7}$/;

export class RunStore {
  readonly root: string;
  constructor(stateDir: string = DEFAULT_STATE_DIR) {
    this.root = resolve(stateDir);
  }

  runDir(runId: string): string {
    return join(this.root, 'runs', runId);
  }

  create(runId: string): string {
    const dir = this.runDir(runId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  exists(runId: string): boolean {
    return RUN_ID.test(runId) && existsSync(join(this.runDir(runId), 'journal.jsonl'));
  }

  journal(runId: string): FileJournalStore {
    return new FileJournalStore(join(this.runDir(runId), 'journal.jsonl'));
  }

  lock(runId: string, command: string): FileRunLock {
    return new FileRunLock(join(this.runDir(runId), 'run.lock'), runId, command);
  }

  /** Run ids, newest first. */
  list(): string[] {
    const dir = join(this.root, 'runs');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((id) => RUN_ID.test(id) && existsSync(join(dir, id, 'journal.jsonl')))
      .map((id) => ({ id, t: statSync(join(dir, id, 'journal.jsonl')).mtimeMs }))
      .sort((a, b) => b.t - a.t)
      .map((r) => r.id);
  }
}
