// What both engines share: the OS user to run as, directory ownership, running tools, starting a
// detached server, waiting until it answers, reusing a live one, and cleaning up after a failed start.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { findFreePort, isAlive, killNow, listServerProcesses, serverProcess, stopProcess } from './processes.js';
import type { LocalServer, ServerEngine } from './types.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** uid/gid to run a server as; undefined means "as the current user". */
export interface RunAs {
  uid: number;
  gid: number;
}

/** When running as root, the system user the server must run as (`postgres` / `mysql`). */
export async function serverUser(name: string): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let line: string;
  try {
    line = (await promisify(execFile)('getent', ['passwd', name])).stdout.trim();
  } catch {
    throw new Error(`running as root, but the system user '${name}' does not exist (install the server package)`);
  }
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function canTraverse(st: { uid: number; gid: number; mode: number }, who: RunAs): boolean {
  if (st.uid === who.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === who.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/**
 * Create `dir` (mode 0700) owned by the server user, and give every parent the search bit for others
 * when that user could not reach it otherwise (only the x bit: names stay unlistable).
 */
export async function prepareDir(dir: string, who: RunAs | undefined): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o700);
  if (who === undefined) return;
  await chown(dir, who.uid, who.gid);
  for (let p = dirname(dir); ; p = dirname(p)) {
    const st = await stat(p);
    if (!canTraverse(st, who)) await chmod(p, (st.mode & 0o7777) | 0o001);
    if (dirname(p) === p) break;
  }
}

/** Find an executable by name on PATH and the usual sbin/bin directories. */
export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin'];
  for (const d of dirs.filter((x) => x !== '')) {
    const candidate = join(d, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A small environment for server programs: nothing of ours (credentials!) leaks into them. */
export function serverEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
}

/** Run a tool (initdb, mariadb-install-db) to completion as `who`; throws with its output tail on failure. */
export function runTool(bin: string, args: string[], opts: { cwd: string; who: RunAs | undefined; timeoutMs?: number }): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      env: serverEnv(opts.cwd),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.who ?? {}),
    });
    let out = '';
    const keep = (b: Buffer): void => {
      out = (out + b.toString('utf8')).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${bin} could not be started: ${err.message}`));
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolveRun();
      else reject(new Error(`${bin} failed (${sig ?? `exit ${code}`}):\n${tailLines(out, 20)}`));
    });
  });
}

function tailLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** The last lines of a server's log, for error messages. */
export async function logTail(logPath: string, n = 20): Promise<string> {
  try {
    return tailLines((await readFile(logPath, 'utf8')).slice(-8000), n);
  } catch {
    return '(no log)';
  }
}

/** How one engine is set up, started and probed. */
export interface EngineSpec {
  /** Which server program. */
  engine: ServerEngine;
  /** System user to run as when we are root. */
  osUser: string;
  /** Create the data directory contents (called only when the dir has not been initialised). */
  init(ctx: { dir: string; dataDir: string; who: RunAs | undefined }): Promise<void>;
  /** What else a freshly initialised `dir` needs beside its data directory (run before `init`, or before a template copy). */
  prepare?(ctx: { dir: string; who: RunAs | undefined }): Promise<void>;
  /**
   * Everything `init`'s result depends on except the directory (program, options): data directories made with the
   * same key are interchangeable, so one can be copied from a template (see TEMPLATES_ENV).
   */
  templateKey?: string;
  /** The server command line. */
  command(ctx: { dir: string; dataDir: string; port: number }): { bin: string; args: string[] };
  /** Admin URL (no password) for a port. */
  adminUrl(port: number): string;
  /** Connect and return the data directory the server reports; throws while it is not ready. */
  probe(port: number): Promise<string>;
}

const files = (dir: string) => ({
  data: join(dir, 'data'),
  log: join(dir, 'server.log'),
  pid: join(dir, 'server.pid'),
  port: join(dir, 'server.port'),
  ready: join(dir, 'initialized'),
  /** The port of the last successful start; kept after stop so a restart can come back on it. */
  lastPort: join(dir, 'server.lastport'),
});

const READY_TIMEOUT_MS = 30_000;

function makeServer(spec: EngineSpec, dir: string, pid: number, port: number): LocalServer {
  const f = files(dir);
  return {
    engine: spec.engine,
    host: '127.0.0.1',
    port,
    pid,
    dir,
    adminUrl: spec.adminUrl(port),
    async stop() {
      // Only signal the PID while it is still this server: after it died the PID may belong to anyone.
      const proc = await serverProcess(pid);
      if (proc?.engine === spec.engine && sameDir(proc.dir, f.data)) await stopProcess(pid, spec.engine);
      await rm(f.pid, { force: true });
      await rm(f.port, { force: true });
    },
  };
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function sameDir(a: string, b: string): boolean {
  const strip = (p: string): string => (p.length > 1 ? p.replace(/\/+$/, '') : p);
  return strip(a) === strip(b);
}

/** The live server recorded in `dir` (pid + port files, checked against /proc), if any. */
async function recordedServer(spec: EngineSpec, dir: string): Promise<{ pid: number; port: number } | undefined> {
  const f = files(dir);
  const pid = await readNumber(f.pid);
  const port = await readNumber(f.port);
  if (pid === undefined || port === undefined) return undefined;
  const proc = await serverProcess(pid);
  if (proc?.engine !== spec.engine || !sameDir(proc.dir, f.data)) return undefined;
  return { pid, port };
}

class StartError extends Error {
  constructor(
    message: string,
    /** The port was taken by someone else: worth another try on a new port. */
    readonly isPortTaken: boolean,
  ) {
    super(message);
  }
}

/** Start `spec`'s server in `dir` (or reuse the live one there), waiting until it answers. */
export async function launch(spec: EngineSpec, opts: { dir: string; port?: number; reuse?: boolean }): Promise<LocalServer> {
  const who = await serverUser(spec.osUser);
  await prepareDir(opts.dir, who);
  const dir = await realpath(opts.dir);
  const f = files(dir);

  const recorded = await recordedServer(spec, dir);
  const running = recorded ?? (await listServerProcesses(f.data)).find((p) => p.engine === spec.engine);
  if (running !== undefined) {
    if (opts.reuse === true && recorded !== undefined && (opts.port === undefined || opts.port === recorded.port)) {
      const reported = await spec.probe(recorded.port);
      if (sameDir(reported, f.data)) return { ...makeServer(spec, dir, recorded.pid, recorded.port), reused: true };
    }
    throw new Error(`a ${spec.engine} server (pid ${running.pid}) is already running in ${dir}; stop it or start with reuse`);
  }

  if (!(await exists(f.ready))) {
    await rm(f.data, { recursive: true, force: true });
    await spec.prepare?.({ dir, who });
    const template = await templateData(spec, who);
    if (template === undefined) await spec.init({ dir, dataDir: f.data, who });
    else await copyTree(template, f.data, dir, who);
    await writeFile(f.ready, `${new Date().toISOString()}\n`);
  }

  // A restarted server comes back on its last port when it is free: whoever recorded host:port finds it again.
  const lastPort = opts.port === undefined ? await readLastPort(f.lastPort) : undefined;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (attempt === 1 && lastPort !== undefined ? lastPort : await findFreePort());
    try {
      return await startOnce(spec, dir, port, who);
    } catch (err) {
      if (!(err instanceof StartError && err.isPortTaken && opts.port === undefined && attempt < 3)) throw err;
    }
  }
}

/**
 * Set to a directory, initialised data directories are made there once per engine and options and copied from then
 * on, instead of running initdb / mariadb-install-db for every new server (the test suites set it: hundreds of
 * throwaway servers per run). Unset, every server is initialised by its own tool.
 */
export const TEMPLATES_ENV = 'REKEY_SERVER_TEMPLATES';

/** The template data directory for `spec` (made on first use), or undefined when templates are off. */
async function templateData(spec: EngineSpec, who: RunAs | undefined): Promise<string | undefined> {
  const root = process.env[TEMPLATES_ENV];
  if (root === undefined || root === '' || spec.templateKey === undefined) return undefined;
  const hash = createHash('sha256').update(spec.templateKey).digest('hex').slice(0, 16);
  const done = join(root, `${spec.engine}-${hash}`);
  if (!(await exists(done))) {
    // Made aside and renamed into place: a concurrent maker loses the rename and drops its own copy.
    const making = `${done}.${process.pid}-${randomBytes(4).toString('hex')}`;
    await prepareDir(making, who);
    await spec.prepare?.({ dir: making, who });
    await spec.init({ dir: making, dataDir: join(making, 'data'), who });
    try {
      await rename(making, done);
    } catch {
      await rm(making, { recursive: true, force: true });
      if (!(await exists(done))) throw new Error(`could not keep the ${spec.engine} template data directory in ${root}`);
    }
  }
  return join(done, 'data');
}

/** Copy a data directory with its modes and owners (`cp -a`), as the server user when we are root. */
async function copyTree(from: string, to: string, cwd: string, who: RunAs | undefined): Promise<void> {
  await runTool('cp', ['-a', from, to], { cwd, who });
}

async function readLastPort(path: string): Promise<number | undefined> {
  try {
    const port = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function startOnce(spec: EngineSpec, dir: string, port: number, who: RunAs | undefined): Promise<LocalServer> {
  const f = files(dir);
  const { bin, args } = spec.command({ dir, dataDir: f.data, port });
  const log = await open(f.log, 'a');
  let pid: number | undefined;
  try {
    const child = spawn(bin, args, {
      cwd: dir,
      env: serverEnv(dir),
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      ...(who ?? {}),
    });
    const spawnError = new Promise<Error>((r) => child.once('error', r));
    child.unref();
    pid = child.pid;
    if (pid === undefined) throw new Error(`${bin} could not be started: ${(await spawnError).message}`);
    await writeFile(f.pid, `${pid}\n`);
    await writeFile(f.port, `${port}\n`);
    await waitReady(spec, f.data, f.log, pid, port);
    await writeFile(f.lastPort, `${port}\n`);
    return makeServer(spec, dir, pid, port);
  } catch (err) {
    if (pid !== undefined) await killNow(pid);
    await rm(f.pid, { force: true });
    await rm(f.port, { force: true });
    throw err;
  } finally {
    await log.close();
  }
}

async function waitReady(spec: EngineSpec, dataDir: string, logPath: string, pid: number, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: string;
  for (;;) {
    if (!(await isAlive(pid))) {
      const tail = await logTail(logPath);
      const isPortTaken = /address already in use|could not bind|bind on tcp\/ip port/i.test(tail);
      throw new StartError(`${spec.engine} server on port ${port} exited during startup; log ${logPath}:\n${tail}`, isPortTaken);
    }
    try {
      const reported = await spec.probe(port);
      if (sameDir(reported, dataDir)) return;
      throw new StartError(`port ${port} is served by another ${spec.engine} server (data dir ${reported})`, true);
    } catch (err) {
      if (err instanceof StartError) throw err;
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) {
      throw new StartError(
        `${spec.engine} server on port ${port} did not accept connections within ${READY_TIMEOUT_MS} ms (${lastError}); log ${logPath}:\n${await logTail(logPath)}`,
        false,
      );
    }
    await sleep(50);
  }
}
