// One runner per run: an exclusive lock file holding the owner's pid. A lock whose process is gone is stale
// and is taken over (the caller says so to the user).
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, fsyncSync } from 'node:fs';
import { RunLockedError, type HeldLock, type RunLock } from '../engine/lock.js';

interface LockContent {
  pid: number;
  startedAt: string;
  command?: string;
}

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed runner not yet reaped by its parent is a zombie: it holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export class FileRunLock implements RunLock {
  constructor(
    readonly path: string,
    readonly runId: string,
    readonly command = '',
  ) {}

  acquire(): Promise<HeldLock> {
    const mine: LockContent = { pid: process.pid, startedAt: new Date().toISOString(), command: this.command };
    let tookOverFrom: HeldLock['tookOverFrom'];
    for (let tries = 0; tries < 3; tries++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        try {
          writeSync(fd, JSON.stringify(mine));
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        const release = (): Promise<void> => {
          try {
            const now = JSON.parse(readFileSync(this.path, 'utf8')) as LockContent;
            if (now.pid === process.pid) unlinkSync(this.path);
          } catch {
            // already gone
          }
          return Promise.resolve();
        };
        return Promise.resolve(tookOverFrom ? { release, tookOverFrom } : { release });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let holder: LockContent | undefined;
      try {
        holder = JSON.parse(readFileSync(this.path, 'utf8')) as LockContent;
      } catch {
        holder = undefined; // torn or vanished: treat as stale
      }
      if (holder && holder.pid !== process.pid && isProcessAlive(holder.pid)) {
        return Promise.reject(new RunLockedError(this.runId, holder));
      }
      tookOverFrom = { pid: holder?.pid ?? 0, startedAt: holder?.startedAt ?? 'unknown' };
      try {
        unlinkSync(this.path);
      } catch {
        // someone else removed it first; retry the exclusive create
      }
    }
    return Promise.reject(new Error(`could not take the lock ${this.path}`));
  }
}
