// The rehearsal's read load: an application's reads through the reader endpoint and the custom endpoints, a few per
// second each, for the whole run. Every read asks which server answered (its port), so the verdict can tell reads
// served by the old, fenced cluster after the switch from reads the new cluster served; a read that fails (the name
// did not resolve, the connection was dropped) is counted, and the load reconnects.
import mysql from 'mysql2/promise';
import pg from 'pg';

/** One endpoint to read through; `endpoint` is asked on every connect (undefined: the name does not exist now). */
export interface ReadTarget {
  /** What it is, for the report (`reader endpoint`, `custom endpoint analytics`). */
  name: string;
  endpoint: () => { host: string; port: number } | undefined;
}

export interface ReadLoadOptions {
  targets: ReadTarget[];
  engine: 'postgres' | 'mysql';
  database: string;
  user: string;
  password?: string;
  /** Reads per second per target. */
  readsPerSecond: number;
}

/** One read: when it started and which server port answered. */
export interface ServedRead {
  at: number;
  port: number;
}

/** What a target's reads saw. */
export interface ReadTargetStats {
  name: string;
  ok: number;
  failed: number;
  served: ServedRead[];
}

export interface ReadLoad {
  stop(): Promise<ReadTargetStats[]>;
}

interface Reader {
  read(): Promise<number>;
  close(): Promise<void>;
}

async function open(o: ReadLoadOptions, host: string, port: number): Promise<Reader> {
  if (o.engine === 'postgres') {
    const c = new pg.Client({ host, port, database: o.database, user: o.user, ...(o.password !== undefined ? { password: o.password } : {}), connectionTimeoutMillis: 2000, statement_timeout: 2000 });
    c.on('error', () => undefined);
    await c.connect();
    return {
      read: async () => Number((await c.query<{ p: number }>('SELECT inet_server_port() AS p, count(*) FROM rehearsal_writes')).rows[0]?.p ?? 0),
      close: () => c.end().catch(() => undefined),
    };
  }
  const c = await mysql.createConnection({ host, port, database: o.database, user: o.user, ...(o.password !== undefined ? { password: o.password } : {}), connectTimeout: 2000 });
  c.on('error', () => undefined);
  return {
    read: async () => {
      const [rows] = await c.query({ sql: 'SELECT @@port AS p, (SELECT count(*) FROM rehearsal_writes) AS n', timeout: 2000 });
      return Number((rows as { p: number }[])[0]?.p ?? 0);
    },
    close: () => c.end().catch(() => undefined),
  };
}

/** Start reading through every target; `stop` returns what each saw. */
export function startReadLoad(o: ReadLoadOptions): ReadLoad {
  let stopping = false;
  const stats = o.targets.map((t) => ({ name: t.name, ok: 0, failed: 0, served: [] as ServedRead[] }));
  const interval = 1000 / Math.max(0.1, o.readsPerSecond);
  const loops = o.targets.map(async (t, i) => {
    const s = stats[i]!;
    let reader: Reader | undefined;
    while (!stopping) {
      const at = Date.now();
      try {
        const ep = t.endpoint();
        if (!ep) throw new Error(`${t.name} does not resolve`);
        reader ??= await open(o, ep.host, ep.port);
        const port = await reader.read();
        s.ok += 1;
        s.served.push({ at, port });
      } catch {
        s.failed += 1;
        await reader?.close();
        reader = undefined;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, interval - (Date.now() - at))));
    }
    await reader?.close();
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return stats;
    },
  };
}

/** The verdict on the reads: how many failed, and how many the old server answered that started after the switch began. */
export function readVerdict(stats: ReadTargetStats[], oldPort: number, switchAt: number | undefined): { ok: number; failed: number; servedByOldAfterSwitch: number; byEndpoint: Record<string, { ok: number; failed: number; servedByOldAfterSwitch: number }> } {
  const byEndpoint: Record<string, { ok: number; failed: number; servedByOldAfterSwitch: number }> = {};
  for (const s of stats) {
    const stale = switchAt === undefined ? 0 : s.served.filter((r) => r.at >= switchAt && r.port === oldPort).length;
    byEndpoint[s.name] = { ok: s.ok, failed: s.failed, servedByOldAfterSwitch: stale };
  }
  const sum = (k: 'ok' | 'failed' | 'servedByOldAfterSwitch'): number => Object.values(byEndpoint).reduce((n, e) => n + e[k], 0);
  return { ok: sum('ok'), failed: sum('failed'), servedByOldAfterSwitch: sum('servedByOldAfterSwitch'), byEndpoint };
}
