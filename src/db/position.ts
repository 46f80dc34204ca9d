// Replication positions as text and as numbers, shared by the adapters and the rehearsal cloud: PostgreSQL LSNs
// (`X/Y`) and MySQL binlog coordinates (`<file>:<position>`, DMS's CdcStartPosition form). Pure: no I/O.
import type { BinlogPosition } from './types.js';

/** Parses a text LSN `X/Y` (two hex numbers of up to 32 bits) into its 64-bit value. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m?.[1] || !m[2]) throw new Error(`not a PostgreSQL LSN: '${lsn}' (expected X/Y in hex)`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** Compares two text LSNs as 64-bit positions: negative, 0 or positive. */
export function compareLsns(a: string, b: string): number {
  const x = parseLsn(a);
  const y = parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Parses `<file>:<position>` (DMS CdcStartPosition form, e.g. `mysql-bin-changelog.000012:154`). */
export function parseBinlogPosition(text: string): BinlogPosition {
  const m = /^(.+\.(\d+)):(\d+)$/.exec(text.trim());
  if (!m?.[1] || !m[3]) throw new Error(`not a binlog position: '${text}' (expected <file>.<number>:<position>)`);
  return { file: m[1], position: Number(m[3]) };
}

/**
 * The executed source coordinates from one SHOW REPLICA STATUS / SHOW SLAVE STATUS row: Relay_Source_Log_File or
 * Relay_Master_Log_File with Exec_Source_Log_Pos or Exec_Master_Log_Pos, whichever the server has.
 */
export function parseReplicaStatus(row: Record<string, unknown> | undefined): BinlogPosition {
  if (!row) throw new Error('SHOW REPLICA STATUS returned no row: this server is not a replica');
  const file = row.Relay_Source_Log_File ?? row.Relay_Master_Log_File;
  const pos = row.Exec_Source_Log_Pos ?? row.Exec_Master_Log_Pos;
  if (typeof file !== 'string' || file === '') throw new Error('replica status has no Relay_Source_Log_File / Relay_Master_Log_File');
  const n = typeof pos === 'number' ? pos : typeof pos === 'string' && /^\d+$/.test(pos) ? Number(pos) : NaN;
  if (!Number.isSafeInteger(n)) throw new Error(`replica status has no usable Exec_Source_Log_Pos / Exec_Master_Log_Pos (${String(pos)})`);
  return { file, position: n };
}

/** `<file>:<position>`, the text form DMS takes as CdcStartPosition. */
export function formatBinlogPosition(p: BinlogPosition): string {
  return `${p.file}:${p.position}`;
}

/** Splits a binlog file name into its base and sequence number: `mysql-bin.000012` -> [`mysql-bin`, 12]. */
function binlogFileParts(file: string): [string, number] {
  const dot = file.lastIndexOf('.');
  const seq = file.slice(dot + 1);
  if (dot <= 0 || !/^\d+$/.test(seq)) throw new Error(`not a binlog file name: '${file}'`);
  return [file.slice(0, dot), Number(seq)];
}

/** Compares two `<file>:<position>` texts: by file sequence number, then position. Files of different logs don't compare. */
export function compareBinlogPositions(a: string, b: string): number {
  const x = parseBinlogPosition(a);
  const y = parseBinlogPosition(b);
  const [xBase, xSeq] = binlogFileParts(x.file);
  const [yBase, ySeq] = binlogFileParts(y.file);
  if (xBase !== yBase) throw new Error(`binlog positions of different logs do not compare: '${a}' and '${b}'`);
  return Math.sign(xSeq - ySeq || x.position - y.position);
}

/** Whether a text is a PostgreSQL LSN `X/Y`. */
export function isLsn(value: string): boolean {
  return /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(value.trim());
}

/** `<file>:<position>` parsed, or undefined when the text is not one. */
export function tryParseBinlogPosition(text: string): BinlogPosition | undefined {
  try {
    return parseBinlogPosition(text);
  } catch {
    return undefined;
  }
}

/**
 * A binlog position as one number: file sequence in the high bits, offset in the low 32 (same log base assumed).
 * Lenient where compareBinlogPositions is strict: a replica that has not started reports an empty file, which counts as 0.
 */
export function binlogPositionValue(p: BinlogPosition): bigint {
  const seq = Number(p.file.slice(p.file.lastIndexOf('.') + 1));
  return (BigInt(Number.isSafeInteger(seq) ? seq : 0) << 32n) + BigInt(p.position);
}
