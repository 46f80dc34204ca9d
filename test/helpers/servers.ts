// Helpers for suites that use the shared throwaway servers started by test/global-setup.ts.
import { chmodSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';

/** The four shared servers. */
export type TestServer = 'pgSource' | 'pgTarget' | 'mySource' | 'myTarget';

/** Admin URLs (no password) of the shared servers, and the run's temp root. */
export interface TestUrls {
  /** PostgreSQL acting as a source: postgres://postgres@127.0.0.1:PORT/postgres */
  pgSource: string;
  /** A second PostgreSQL, for targets and replicas. */
  pgTarget: string;
  /** MariaDB acting as a source (server-id 1): mysql://root@127.0.0.1:PORT/ */
  mySource: string;
  /** A second MariaDB (server-id 2). */
  myTarget: string;
  /** REKEY_TEST_ROOT: every temp dir of a test goes below it. */
  root: string;
}

/** Environment variable per shared server. */
export const TEST_ENV: Record<TestServer | 'root', string> = {
  pgSource: 'REKEY_TEST_PG_SOURCE_URL',
  pgTarget: 'REKEY_TEST_PG_TARGET_URL',
  mySource: 'REKEY_TEST_MY_SOURCE_URL',
  myTarget: 'REKEY_TEST_MY_TARGET_URL',
  root: 'REKEY_TEST_ROOT',
};

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run the tests through jest (test/global-setup.ts starts the servers)`);
  }
  return value;
}

/** The shared servers' URLs, from the environment global-setup prepared. */
export function testUrls(): TestUrls {
  return {
    pgSource: env(TEST_ENV.pgSource),
    pgTarget: env(TEST_ENV.pgTarget),
    mySource: env(TEST_ENV.mySource),
    myTarget: env(TEST_ENV.myTarget),
    root: env(TEST_ENV.root),
  };
}

let counter = 0;

/** A name unique across workers and calls: `<name>_<pid>_<n>_<random>`, lower case, at most 63 chars. */
function uniqueName(name: string): string {
  const base = name.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'db';
  const suffix = `_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 6)}`;
  return base.slice(0, 63 - suffix.length) + suffix;
}

/**
 * Create a uniquely named database on a shared server and return its URL.
 * `kind` is a server, or `postgres` / `mysql` for the source of that engine.
 */
export async function freshDatabase(kind: TestServer | 'postgres' | 'mysql', name: string): Promise<string> {
  const server: TestServer = kind === 'postgres' ? 'pgSource' : kind === 'mysql' ? 'mySource' : kind;
  const adminUrl = env(TEST_ENV[server]);
  const db = uniqueName(name);
  if (server.startsWith('pg')) {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${db}"`);
    } finally {
      await client.end();
    }
  } else {
    const conn = await mysql.createConnection(adminUrl);
    try {
      await conn.query(`CREATE DATABASE \`${db}\``);
    } finally {
      await conn.end();
    }
  }
  return adminUrl.replace(/\/[^/]*$/, `/${db}`);
}

/** A new temp dir (mode 0755, so server users can traverse it) under REKEY_TEST_ROOT. */
export function testDir(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 40) || 'dir';
  const dir = mkdtempSync(join(env(TEST_ENV.root), `${safe}-`));
  chmodSync(dir, 0o755);
  return dir;
}
