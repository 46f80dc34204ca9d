// Stable local endpoints for rehearsal identifiers: one TCP proxy per RDS identifier, re-pointable like a DNS name.
// A rename in the rehearsal cloud re-points the proxy of a name and drops its open connections, as RDS does.
import net from 'node:net';
import { pipeline } from 'node:stream';

/** Where a proxy forwards to. */
export interface ProxyBackend {
  /** Backend host (a local server, usually 127.0.0.1). */
  host: string;
  /** Backend TCP port. */
  port: number;
}

interface ProxyEntry {
  server: net.Server;
  port: number;
  backend: ProxyBackend | undefined;
  /** Both halves of every open proxied connection. */
  sockets: Set<net.Socket>;
}

const LISTEN_HOST = '127.0.0.1';

/** One listening proxy per identifier. Ports stay stable for the life of the registry (and across restarts when given). */
export class ProxyRegistry {
  private readonly entries = new Map<string, ProxyEntry>();
  private readonly starting = new Map<string, Promise<number>>();

  /** Start (or find) the proxy of `identifier`; listens on `port` when given, else on a free port. Returns the port. */
  async ensure(identifier: string, port?: number): Promise<number> {
    const existing = this.entries.get(identifier);
    if (existing) return checkPort(identifier, existing.port, port);
    const pending = this.starting.get(identifier);
    if (pending) return checkPort(identifier, await pending, port);
    const start = this.listen(identifier, port).finally(() => this.starting.delete(identifier));
    this.starting.set(identifier, start);
    return start;
  }

  /** Forward new connections of `identifier` to `backend`; undefined refuses them. A changed backend drops open connections. */
  point(identifier: string, backend: ProxyBackend | undefined): void {
    const entry = this.mustGet(identifier);
    const isSame = entry.backend?.host === backend?.host && entry.backend?.port === backend?.port;
    entry.backend = backend ? { host: backend.host, port: backend.port } : undefined;
    if (!isSame) destroyAll(entry);
  }

  /** Destroy every open connection of `identifier` (its clients see the connection reset); it keeps listening. */
  drop(identifier: string): void {
    const entry = this.entries.get(identifier);
    if (entry) destroyAll(entry);
  }

  /** Stop listening for `identifier` and destroy its connections, freeing its port (the identifier no longer exists). */
  async remove(identifier: string): Promise<void> {
    const entry = this.entries.get(identifier);
    if (!entry) return;
    this.entries.delete(identifier);
    await closeEntry(entry);
  }

  /** The local port of `identifier`, if its proxy is running. */
  portOf(identifier: string): number | undefined {
    return this.entries.get(identifier)?.port;
  }

  /** The current backend of `identifier`, if any. */
  backendOf(identifier: string): ProxyBackend | undefined {
    const backend = this.entries.get(identifier)?.backend;
    return backend ? { ...backend } : undefined;
  }

  /** Number of open client connections of `identifier` (for tests and diagnostics). */
  connectionCount(identifier: string): number {
    const entry = this.entries.get(identifier);
    return entry ? Math.floor(entry.sockets.size / 2) : 0;
  }

  /** Stop every proxy and destroy every connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.starting.values()]);
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(entries.map(closeEntry));
  }

  private mustGet(identifier: string): ProxyEntry {
    const entry = this.entries.get(identifier);
    if (!entry) throw new Error(`no endpoint proxy for "${identifier}" (call ensure first)`);
    return entry;
  }

  private listen(identifier: string, port: number | undefined): Promise<number> {
    // Half-open sockets: one side's FIN must not cut the other direction's bytes still in flight.
    const server = net.createServer({ allowHalfOpen: true });
    const entry: ProxyEntry = { server, port: 0, backend: undefined, sockets: new Set() };
    server.on('connection', (client) => this.accept(entry, client));
    return new Promise<number>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        server.close();
        if (error.code === 'EADDRINUSE') {
          reject(new Error(`endpoint proxy for "${identifier}": port ${port ?? 0} on ${LISTEN_HOST} is already in use (another rehearsal, or a leftover process, holds it)`, { cause: error }));
        } else {
          reject(new Error(`endpoint proxy for "${identifier}" could not listen: ${error.message}`, { cause: error }));
        }
      };
      server.once('error', onError);
      server.listen({ host: LISTEN_HOST, port: port ?? 0 }, () => {
        server.off('error', onError);
        // A listening server only errors on accept failures; the registry keeps running.
        server.on('error', () => undefined);
        entry.port = (server.address() as net.AddressInfo).port;
        this.entries.set(identifier, entry);
        resolve(entry.port);
      });
    });
  }

  private accept(entry: ProxyEntry, client: net.Socket): void {
    const backend = entry.backend;
    if (!backend) {
      // Not pointed anywhere yet: behave like a name that does not resolve.
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: backend.host, port: backend.port, allowHalfOpen: true });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    entry.sockets.add(client);
    entry.sockets.add(upstream);
    const teardown = (): void => {
      client.destroy();
      upstream.destroy();
      entry.sockets.delete(client);
      entry.sockets.delete(upstream);
    };
    // pipeline gives back-pressure and destroys both ends on error; a close of either side ends the pair.
    pipeline(client, upstream, (error) => { if (error) teardown(); });
    pipeline(upstream, client, (error) => { if (error) teardown(); });
    client.once('close', teardown);
    upstream.once('close', teardown);
  }
}

function checkPort(identifier: string, actual: number, wanted: number | undefined): number {
  if (wanted !== undefined && wanted !== 0 && wanted !== actual) {
    throw new Error(`endpoint proxy for "${identifier}" already listens on port ${actual}, not ${wanted}`);
  }
  return actual;
}

function destroyAll(entry: ProxyEntry): void {
  for (const socket of entry.sockets) socket.destroy();
  entry.sockets.clear();
}

function closeEntry(entry: ProxyEntry): Promise<void> {
  entry.backend = undefined;
  destroyAll(entry);
  return new Promise((resolve) => entry.server.close(() => resolve()));
}
