// A libpq password file for the rehearsal's PostgreSQL servers: where a subscription's connection needs a password
// of an adopted source (rehearsal.source.url), its conninfo names this file (`passfile=`) instead of holding the
// password, so the password never enters a catalog (pg_subscription), the WAL or a server log. The file is mode
// 0600, owned by the servers' OS user (libpq ignores a file others may read), written by every runner that opens
// the world and deleted when it closes: it lives only while a runner does.
import { chown, rename, rm, writeFile } from 'node:fs/promises';
import { serverUser } from './launch.js';

/** One login of the file: user name and password, for any host, port and database. */
export interface PassfileEntry {
  user: string;
  password: string;
}

/** A .pgpass field: `\` and `:` escaped with a backslash. */
function field(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** The file's text: `*:*:*:user:password`, one line per user (the first of a user wins, as libpq reads it). */
export function passfileText(entries: readonly PassfileEntry[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const e of entries) {
    if (seen.has(e.user) || e.password === '' || /[\r\n]/.test(e.user + e.password)) continue;
    seen.add(e.user);
    lines.push(`*:*:*:${field(e.user)}:${field(e.password)}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** Writes the file (atomically, 0600, owned by the PostgreSQL servers' OS user); returns false when nothing needs one. */
export async function writePassfile(path: string, entries: readonly PassfileEntry[]): Promise<boolean> {
  const text = passfileText(entries);
  if (text === '') {
    await removePassfile(path);
    return false;
  }
  const who = await serverUser('postgres');
  const tmp = `${path}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, text, { mode: 0o600, flag: 'w' });
  if (who) await chown(tmp, who.uid, who.gid);
  await rename(tmp, path);
  return true;
}

export async function removePassfile(path: string): Promise<void> {
  await rm(path, { force: true });
}
