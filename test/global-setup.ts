// Jest global setup: four throwaway servers (two PostgreSQL, two MariaDB) under one temp root, shared by
// every suite through process.env and <root>/servers.json. They are stopped by global-teardown.ts, or by
// the signal/exit handlers installed here when the run is interrupted.
//
// Jest loads this file with Node's own resolver (no moduleNameMapper, no transform for what it imports),
// so it cannot import our .ts sources directly: it transpiles src/rehearsal/servers (self-contained: node
// builtins, pg, mysql2) into node_modules/.cache and imports that. Only type imports point at sources.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import type * as ServersIndex from '../src/rehearsal/servers/index.js';
import type { LocalServer } from '../src/rehearsal/servers/index.js';
import type { TestServer } from './helpers/servers.js';

type ServersModule = typeof ServersIndex;

// Same name as TEMPLATES_ENV in src/rehearsal/servers/launch.ts (not importable from here, see above).
const TEMPLATES_ENV = 'REKEY_SERVER_TEMPLATES';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const SERVERS_SRC = join(REPO, 'src', 'rehearsal', 'servers');

// Same names as TEST_ENV in helpers/servers.ts (not importable from here, see above).
const ENV: Record<TestServer | 'root', string> = {
  pgSource: 'REKEY_TEST_PG_SOURCE_URL',
  pgTarget: 'REKEY_TEST_PG_TARGET_URL',
  mySource: 'REKEY_TEST_MY_SOURCE_URL',
  myTarget: 'REKEY_TEST_MY_TARGET_URL',
  root: 'REKEY_TEST_ROOT',
};

/** Transpile src/rehearsal/servers to JS (cached by content hash) and import it. */
async function loadServersModule(): Promise<ServersModule> {
  const names = (await readdir(SERVERS_SRC)).filter((n) => n.endsWith('.ts')).sort();
  const sources = await Promise.all(names.map((n) => readFile(join(SERVERS_SRC, n), 'utf8')));
  const hash = createHash('sha256').update(JSON.stringify([names, sources])).digest('hex').slice(0, 16);
  const out = join(REPO, 'node_modules', '.cache', 'rekey-test-servers', hash);
  await mkdir(out, { recursive: true });
  // Inside node_modules the repo's "type": "module" does not apply: say it again.
  const files: [string, string][] = [['package.json', '{ "type": "module" }\n']];
  names.forEach((n, i) => {
    const js = ts.transpileModule(sources[i] ?? '', {
      fileName: n,
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true, esModuleInterop: true },
    }).outputText;
    files.push([n.replace(/\.ts$/, '.js'), js]);
  });
  // Write-then-rename so concurrent jest runs never see a half-written file.
  await Promise.all(
    files.map(async ([name, text]) => {
      const tmp = join(out, `${name}.${process.pid}.tmp`);
      await writeFile(tmp, text);
      await rename(tmp, join(out, name));
    }),
  );
  return (await import(pathToFileURL(join(out, 'index.js')).href)) as ServersModule;
}

/** Prefix of every run's temp root in os.tmpdir(). */
export const ROOT_PREFIX = 'rekey-test-';

/** What <root>/servers.json holds. */
export interface ServersFile {
  /** PID of the jest process that owns the servers. */
  ownerPid: number;
  /** The temp root. */
  root: string;
  /** One entry per shared server. */
  servers: Record<TestServer, { engine: LocalServer['engine']; pid: number; port: number; dir: string; url: string }>;
}

/** State shared with global-teardown.ts (same process). */
export interface SetupState {
  /** The temp root. */
  root: string;
  /** The started servers. */
  servers: LocalServer[];
  /** Removes the signal/exit handlers. */
  removeHandlers(): void;
  /** The transpiled server module, for the teardown. */
  lib: ServersModule;
}

/** Key on globalThis under which the teardown (same process) finds the SetupState. */
export const STATE_KEY = '__rekeyTestServers';

// Stop servers of earlier runs whose jest process died without tearing down (kill -9, a crash).
async function reapAbandonedRoots({ isAlive, stopAllUnder }: ServersModule): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(ROOT_PREFIX)) continue;
    const root = join(tmpdir(), name);
    try {
      const file = JSON.parse(await readFile(join(root, 'servers.json'), 'utf8')) as ServersFile;
      if (await isAlive(file.ownerPid)) continue;
      await stopAllUnder(root);
      await rm(root, { recursive: true, force: true });
    } catch {
      // not a finished setup of ours, or another run is cleaning it up
    }
  }
}

function installHandlers(lib: ServersModule, root: string, servers: LocalServer[]): () => void {
  // The servers run in their own process groups, so Ctrl-C does not reach them: stop everything under
  // the root (tests' own servers too), then exit as the signal would have.
  const onSignal = (sig: NodeJS.Signals): void => {
    void Promise.allSettled([...servers.map((s) => s.stop()), lib.stopAllUnder(root)])
      .then(() => rm(root, { recursive: true, force: true }))
      .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  const onExit = (): void => {
    for (const s of servers) {
      try {
        process.kill(s.pid, s.engine === 'postgres' ? 'SIGINT' : 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  };
}

export default async function globalSetup(): Promise<void> {
  const mod = await loadServersModule();
  const { startMariadb, startPostgres, stopAllUnder, stopProcess } = mod;
  await reapAbandonedRoots(mod);
  const root = await mkdtemp(join(tmpdir(), ROOT_PREFIX));
  await chmod(root, 0o755);
  // Every server of the run (these, the suites' own, the rehearsals' of the CLI children) copies its data directory
  // from one initialised per engine here instead of running initdb / mariadb-install-db again.
  process.env[TEMPLATES_ENV] = join(root, 'server-templates');

  const starts: [TestServer, Promise<LocalServer>][] = [
    ['pgSource', startPostgres({ dir: join(root, 'pg-source') })],
    ['pgTarget', startPostgres({ dir: join(root, 'pg-target') })],
    ['mySource', startMariadb({ dir: join(root, 'my-source'), serverId: 1 })],
    ['myTarget', startMariadb({ dir: join(root, 'my-target'), serverId: 2 })],
  ];
  const settled = await Promise.allSettled(starts.map(([, p]) => p));
  const started = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure !== undefined) {
    await Promise.allSettled(started.map((s) => stopProcess(s.pid, s.engine)));
    await stopAllUnder(root);
    await rm(root, { recursive: true, force: true });
    throw failure.reason;
  }

  const servers = {} as ServersFile['servers'];
  starts.forEach(([key], i) => {
    const s = started[i]!;
    servers[key] = { engine: s.engine, pid: s.pid, port: s.port, dir: s.dir, url: s.adminUrl };
    process.env[ENV[key]] = s.adminUrl;
  });
  process.env[ENV.root] = root;
  const file: ServersFile = { ownerPid: process.pid, root, servers };
  await writeFile(join(root, 'servers.json'), `${JSON.stringify(file, null, 2)}\n`);

  const state: SetupState = { root, servers: started, removeHandlers: installHandlers(mod, root, started), lib: mod };
  (globalThis as Record<string, unknown>)[STATE_KEY] = state;
}
