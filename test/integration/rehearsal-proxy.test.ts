// The endpoint proxy on real sockets: byte-exact piping, refusal while unpointed, re-pointing and dropping
// connections (as an RDS rename does), stable ports across registries, and a clear error on a taken port.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ProxyRegistry } from '../../src/rehearsal/aws/proxy.js';
import { startPostgres, type LocalServer } from '../../src/rehearsal/servers/index.js';

let root: string;
let server: LocalServer | undefined;
let adminUrl: string;
const backends: net.Server[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), 'rehearsal-proxy-'));
  if (process.env.REKEY_TEST_PG_SOURCE_URL) {
    adminUrl = process.env.REKEY_TEST_PG_SOURCE_URL;
  } else {
    server = await startPostgres({ dir: join(root, 'pg') });
    adminUrl = server.adminUrl;
  }
});

afterAll(async () => {
  await Promise.all(backends.map((b) => new Promise((resolve) => b.close(resolve))));
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

function pgBackend(): { host: string; port: number } {
  const url = new URL(adminUrl);
  return { host: url.hostname, port: Number(url.port) };
}

/** A TCP backend that answers every chunk with `<tag>:` + the chunk, or echoes verbatim when tag is empty. */
async function startBackend(tag: string): Promise<{ port: number; server: net.Server }> {
  const backend = net.createServer((socket) => {
    socket.on('error', () => undefined);
    if (tag === '') socket.pipe(socket);
    else socket.on('data', (chunk) => socket.write(`${tag}:${chunk.toString()}`));
  });
  backends.push(backend);
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  return { port: (backend.address() as net.AddressInfo).port, server: backend };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Write `text` and wait for the first answer; rejects when the connection closes first. */
function ask(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (data) => resolve(data.toString()));
    socket.once('close', () => reject(new Error('closed')));
    socket.write(text);
  });
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
}

async function waitFor(check: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('pipes bytes exactly, with back-pressure, in both directions', async () => {
  const registry = new ProxyRegistry();
  try {
    const echo = await startBackend('');
    const port = await registry.ensure('echo');
    registry.point('echo', { host: '127.0.0.1', port: echo.port });
    const socket = await connect(port);
    const payload = randomBytes(8 * 1024 * 1024);
    const received: Buffer[] = [];
    let size = 0;
    const done = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        size += chunk.length;
        if (size >= payload.length) resolve();
      });
    });
    socket.end(payload);
    await done;
    const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    expect(size).toBe(payload.length);
    expect(digest(Buffer.concat(received))).toBe(digest(payload));
    await closed(socket);
    await waitFor(() => registry.connectionCount('echo') === 0);
  } finally {
    await registry.close();
  }
});

test('carries a PostgreSQL session', async () => {
  const registry = new ProxyRegistry();
  try {
    const port = await registry.ensure('src-db');
    registry.point('src-db', pgBackend());
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await client.connect();
    const result = await client.query<{ n: number }>('SELECT 40 + 2 AS n');
    expect(result.rows[0]?.n).toBe(42);
    expect(registry.connectionCount('src-db')).toBe(1);
    await client.end();
  } finally {
    await registry.close();
  }
});

test('refuses connections while unpointed, like a name that does not resolve yet', async () => {
  const registry = new ProxyRegistry();
  try {
    const port = await registry.ensure('not-yet');
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2000 });
    await expect(client.connect()).rejects.toThrow();
    expect(registry.connectionCount('not-yet')).toBe(0);
    // Pointing it later makes the same port work.
    registry.point('not-yet', pgBackend());
    const later = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await later.connect();
    await later.end();
  } finally {
    await registry.close();
  }
});

test('re-pointing drops open connections and sends new ones to the new backend', async () => {
  const registry = new ProxyRegistry();
  try {
    const a = await startBackend('A');
    const b = await startBackend('B');
    const port = await registry.ensure('renamed');
    registry.point('renamed', { host: '127.0.0.1', port: a.port });
    const first = await connect(port);
    expect(await ask(first, 'x')).toBe('A:x');
    // Same backend again: nothing happens to the open connection.
    registry.point('renamed', { host: '127.0.0.1', port: a.port });
    expect(await ask(first, 'y')).toBe('A:y');
    registry.point('renamed', { host: '127.0.0.1', port: b.port });
    await closed(first);
    const second = await connect(port);
    expect(await ask(second, 'z')).toBe('B:z');
    expect(registry.backendOf('renamed')).toEqual({ host: '127.0.0.1', port: b.port });
    second.destroy();
    // The backend side of the dropped connection is gone too: no leaked sockets.
    await waitFor(async () => (await new Promise<number>((resolve) => a.server.getConnections((_e, n) => resolve(n)))) === 0);
  } finally {
    await registry.close();
  }
});

test('drop() ends the open sessions of an identifier and keeps serving new ones', async () => {
  const registry = new ProxyRegistry();
  try {
    const port = await registry.ensure('dropme');
    registry.point('dropme', pgBackend());
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    const failure = new Promise<Error>((resolve) => client.on('error', resolve));
    await client.connect();
    registry.drop('dropme');
    expect(await failure).toBeInstanceOf(Error);
    await expect(client.query('SELECT 1')).rejects.toThrow();
    expect(registry.connectionCount('dropme')).toBe(0);
    const again = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await again.connect();
    await again.query('SELECT 1');
    await again.end();
  } finally {
    await registry.close();
  }
});

test('ports are stable per identifier and can be re-taken by a new registry after a crash', async () => {
  const first = new ProxyRegistry();
  const [p1, p2] = await Promise.all([first.ensure('stable'), first.ensure('stable')]);
  expect(p1).toBe(p2);
  expect(await first.ensure('stable', p1)).toBe(p1);
  await expect(first.ensure('stable', p1 === 1 ? 2 : p1 - 1)).rejects.toThrow(/already listens on port/);
  expect(first.portOf('stable')).toBe(p1);
  expect(first.portOf('unknown')).toBeUndefined();
  expect(() => first.point('unknown', pgBackend())).toThrow(/no endpoint proxy/);
  await first.close();

  const second = new ProxyRegistry();
  try {
    expect(await second.ensure('stable', p1)).toBe(p1);
    second.point('stable', pgBackend());
    const client = new pg.Client({ host: '127.0.0.1', port: p1, user: 'postgres', database: 'postgres' });
    await client.connect();
    await client.end();
  } finally {
    await second.close();
  }
});

test('a port held by someone else gives a clear error', async () => {
  const holder = await startBackend('H');
  const registry = new ProxyRegistry();
  try {
    await expect(registry.ensure('busy', holder.port)).rejects.toThrow(new RegExp(`port ${holder.port} .*already in use`));
    expect(registry.portOf('busy')).toBeUndefined();
  } finally {
    await registry.close();
  }
});

test('remove() frees the port and close() ends everything', async () => {
  const registry = new ProxyRegistry();
  const port = await registry.ensure('gone');
  registry.point('gone', pgBackend());
  const socket = await connect(port);
  await registry.remove('gone');
  await closed(socket);
  expect(registry.portOf('gone')).toBeUndefined();
  await expect(connect(port)).rejects.toThrow(/ECONNREFUSED/);
  await registry.close();
});
