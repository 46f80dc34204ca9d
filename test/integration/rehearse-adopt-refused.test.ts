// An adopted rehearsal source (rehearsal.source.url) that refuses rekey: a preflight failure (exit 4) before any
// server starts, leaving no run folder and nothing running.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { rekey, tempDir } from '../helpers/rehearse-cli.js';

/** A port on which nothing listens (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((res) => server.close(() => res()));
  return port;
}

describe('rekey rehearse with an adopted source that refuses the login', () => {
  it.each(['postgres', 'mysql'] as const)('%s: exit 4 naming the adopted source, no server started, no run folder left', async (engine) => {
    const cwd = tempDir(`adopt-refused-${engine}`);
    const doc = parseDocument(readFileSync(resolve(`runbooks/rehearsal-${engine}.yaml`), 'utf8'));
    const port = await closedPort();
    doc.setIn(['rehearsal', 'source', 'url'], `${engine}://rekey_admin@127.0.0.1:${port}/orders`);
    const path = join(cwd, 'adopt.yaml');
    writeFileSync(path, doc.toString());
    const out = await rekey(['rehearse', path, '--json'], cwd);
    expect(out.code).toBe(4);
    expect(out.stderr).toContain(`cannot use the adopted source ${engine}://rekey_admin@127.0.0.1:${port}/orders`);
    expect(out.stderr).not.toContain('internal error');
    expect(out.stdout + out.stderr).not.toContain('starting the rehearsal cloud');
    const runs = join(cwd, '.rekey', 'runs');
    expect(existsSync(runs) ? readdirSync(runs) : []).toEqual([]);
  }, 60_000);
});
