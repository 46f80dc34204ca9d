// The journal on disk: JSON lines, one fsync per record, file mode 0600.
import { closeSync, fsyncSync, openSync, readFileSync, writeSync, existsSync, chmodSync } from 'node:fs';
import type { JournalRecord, JournalStore } from '../engine/journal.js';

export class FileJournalStore implements JournalStore {
  constructor(readonly path: string) {}

  append(record: JournalRecord): Promise<void> {
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(record, bigintReplacer)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return Promise.resolve();
  }

  readAll(): Promise<JournalRecord[]> {
    if (!existsSync(this.path)) return Promise.resolve([]);
    chmodSync(this.path, 0o600);
    const lines = readFileSync(this.path, 'utf8').split('\n');
    const records: JournalRecord[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        records.push(JSON.parse(line) as JournalRecord);
      } catch {
        // Only the last line can be torn (the process died mid-write); anything else is corruption.
        if (i < lines.length - 2) throw new Error(`${this.path}:${i + 1}: journal record is not valid JSON`);
      }
    });
    return Promise.resolve(records);
  }
}

/** BigInt (sequence values) is journaled as a decimal string. */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
