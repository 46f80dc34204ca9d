// Jest global teardown: stop the shared servers, then fail the run if any test left a server process
// running under REKEY_TEST_ROOT (every test keeps its dirs, rehearsal state dirs included, below it).
// Like global-setup.ts it cannot import our .ts sources at run time: the server functions come from the
// SetupState that global-setup left on globalThis (same process).
import { rm } from 'node:fs/promises';
import type { SetupState } from './global-setup.js';

const STATE_KEY = '__rekeyTestServers'; // = STATE_KEY in global-setup.ts

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>)[STATE_KEY] as SetupState | undefined;
  if (state === undefined) return; // global setup did not finish: it cleaned up after itself
  delete (globalThis as Record<string, unknown>)[STATE_KEY];
  const { root, lib } = state;

  try {
    await Promise.all(state.servers.map((s) => s.stop()));
    const leftovers = await lib.listServerProcesses(root);
    if (leftovers.length > 0) {
      await lib.stopAllUnder(root);
      const list = leftovers.map((p) => `  ${p.engine} pid ${p.pid} in ${p.dir}`).join('\n');
      throw new Error(`tests left ${leftovers.length} server process(es) running (now stopped; logs kept in ${root}):\n${list}`);
    }
  } finally {
    state.removeHandlers();
  }
  if (process.env.REKEY_TEST_KEEP !== '1') await rm(root, { recursive: true, force: true });
}
