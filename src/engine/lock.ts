// One runner per run. The engine only knows this interface; src/state/file-lock.ts is the file version.

/** A held lock; release it in a finally. */
export interface HeldLock {
  release(): Promise<void>;
  /** Set when a stale lock of a dead runner was taken over; say so to the user. */
  tookOverFrom?: { pid: number; startedAt: string };
}

export interface RunLock {
  /** Takes the lock or throws RunLockedError naming the live holder. */
  acquire(): Promise<HeldLock>;
}

export class RunLockedError extends Error {
  override readonly name = 'RunLockedError';
  constructor(
    readonly runId: string,
    readonly holder: { pid: number; startedAt: string; command?: string },
  ) {
    super(
      `run ${runId} is held by process ${holder.pid} since ${holder.startedAt}${holder.command ? ` (${holder.command})` : ''}: ` +
        `wait for it, or stop it first (it leaves the run resumable)`,
    );
  }
}

/** Scoped lock use, so releasing can't be forgotten. */
export async function withLock<T>(lock: RunLock, fn: (held: HeldLock) => Promise<T>): Promise<T> {
  const held = await lock.acquire();
  try {
    return await fn(held);
  } finally {
    await held.release();
  }
}
