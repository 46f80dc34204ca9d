// Process-level helpers: liveness, stopping by PID, finding server processes in /proc, free ports.
import { readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { createServer } from 'node:net';
import { basename, isAbsolute, resolve, sep } from 'node:path';
import type { ServerEngine, ServerProcess } from './types.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Process state letter from /proc/PID/stat ('Z' = zombie), or undefined when unreadable. */
async function procState(pid: number): Promise<{ state: string; pgrp: number } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses; the fields after the last ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** True when the process exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = await procState(pid);
  return st !== undefined && st.state !== 'Z';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (await isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** The signal that asks a server for a quick clean shutdown (PostgreSQL: SIGINT = fast shutdown). */
export function shutdownSignal(engine: ServerEngine): NodeJS.Signals {
  return engine === 'postgres' ? 'SIGINT' : 'SIGTERM';
}

/**
 * Ask the server to shut down, SIGKILL it (and its process group, when it leads one) after `graceMs`,
 * and resolve once it is gone.
 */
export async function stopProcess(pid: number, engine: ServerEngine, graceMs = 10_000): Promise<void> {
  if (!(await isAlive(pid))) return;
  signal(pid, shutdownSignal(engine));
  if (await waitGone(pid, graceMs)) return;
  await killNow(pid);
}

/** SIGKILL the process (and its group when it leads one) and wait until it is gone. */
export async function killNow(pid: number): Promise<void> {
  const st = await procState(pid);
  if (st?.pgrp === pid) signal(-pid, 'SIGKILL');
  signal(pid, 'SIGKILL');
  if (!(await waitGone(pid, 5_000))) throw new Error(`process ${pid} did not exit after SIGKILL`);
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolvePort(port) : reject(new Error('could not read a free port'))));
    });
  });
}

function optionValue(args: string[], short: string[], long: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (short.includes(a) || long.includes(a)) return args[i + 1];
    for (const l of long) if (a.startsWith(`${l}=`)) return a.slice(l.length + 1);
  }
  return undefined;
}

/** Identify a server process from its command line; undefined when it is not one. */
async function readServerProcess(pid: number): Promise<ServerProcess | undefined> {
  let argv: string[];
  try {
    argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
  } catch {
    return undefined;
  }
  // PostgreSQL backends rewrite argv[0] ("postgres: checkpointer"), so only the postmaster matches.
  const prog = basename(argv[0] ?? '');
  let engine: ServerEngine;
  let dir: string | undefined;
  if (prog === 'postgres') {
    engine = 'postgres';
    dir = optionValue(argv, ['-D'], ['--pgdata']);
  } else if (prog === 'mariadbd' || prog === 'mysqld') {
    engine = 'mariadb';
    dir = optionValue(argv, [], ['--datadir']);
  } else {
    return undefined;
  }
  try {
    // Both servers chdir into their data directory, which covers a data dir from a config file.
    const cwd = await readlink(`/proc/${pid}/cwd`);
    dir = dir === undefined ? cwd : isAbsolute(dir) ? dir : resolve(cwd, dir);
  } catch {
    if (dir === undefined || !isAbsolute(dir)) return undefined;
  }
  if (!(await isAlive(pid))) return undefined;
  return { pid, engine, dir: resolve(dir) };
}

/** The server process with this PID, when it is one. */
export function serverProcess(pid: number): Promise<ServerProcess | undefined> {
  return readServerProcess(pid);
}

async function canonical(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    return resolve(path);
  }
}

/** Every server process whose data dir lies under `root` (read /proc), for leftover checks and cleanup. */
export async function listServerProcesses(root?: string): Promise<ServerProcess[]> {
  const base = root === undefined ? undefined : await canonical(root);
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  const found: ServerProcess[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const p = await readServerProcess(pid);
    if (p === undefined) continue;
    const dir = await canonical(p.dir);
    if (base === undefined || dir === base || dir.startsWith(base.endsWith(sep) ? base : base + sep)) {
      found.push({ ...p, dir });
    }
  }
  return found;
}

/** Stop every server process under `root`; returns how many there were. */
export async function stopAllUnder(root: string): Promise<number> {
  const procs = await listServerProcesses(root);
  await Promise.all(procs.map((p) => stopProcess(p.pid, p.engine)));
  return procs.length;
}
