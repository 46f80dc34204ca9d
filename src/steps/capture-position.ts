// capture-position: the CDC start position that matches the snapshot, verified against the source.
// PostgreSQL: aurora_volume_logical_start_lsn() on the target, not older than the source slot.
// Aurora MySQL: the restored writer's "Binlog position from crash recovery is <file> <pos>" event; the file must
// still be in the source's SHOW BINARY LOGS and the position within it.
import { listEvents } from '../aws/rds.js';
import { poll } from '../aws/poll.js';
import type { BinaryLog, BinlogPosition } from '../db/types.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { output, required, waitEnv, withSource, withTarget } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import type { RekeyServices } from './services.js';
import type { CapturePositionOutput } from './outputs.js';

export type { CapturePositionOutput } from './outputs.js';

const EVENT_PHRASE = 'Binlog position from crash recovery is';
/** Events are searched from a little before the restore: local and AWS clocks may differ. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** What an event message says about the crash-recovery binlog position. */
export type CrashRecoveryParse =
  | { kind: 'found'; position: BinlogPosition }
  | { kind: 'absent' }
  | { kind: 'malformed'; reason: string };

/**
 * Parses `Binlog position from crash recovery is <file> <pos>` anywhere in an RDS event message. `absent` when the
 * message is another event; `malformed` when it is this event but the file or position cannot be used.
 */
export function parseCrashRecoveryPosition(message: string): CrashRecoveryParse {
  const at = message.toLowerCase().indexOf(EVENT_PHRASE.toLowerCase());
  if (at < 0) return { kind: 'absent' };
  const rest = message.slice(at + EVENT_PHRASE.length);
  const m = /^\s+(\S+)\s+(\S+)/.exec(rest);
  if (!m?.[1] || !m[2]) return { kind: 'malformed', reason: `no <file> <pos> after "${EVENT_PHRASE}"` };
  const file = m[1];
  const pos = m[2].replace(/[.,;]$/, '');
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.\d+$/.test(file)) return { kind: 'malformed', reason: `"${file}" is not a binlog file name (<base>.<number>)` };
  if (!/^\d+$/.test(pos) || !Number.isSafeInteger(Number(pos))) return { kind: 'malformed', reason: `"${pos}" is not a byte position` };
  return { kind: 'found', position: { file, position: Number(pos) } };
}

/** Sequence number of a binlog file name (`mysql-bin-changelog.000012` -> 12), with its base name. */
function fileSequence(file: string): { base: string; seq: number } {
  const dot = file.lastIndexOf('.');
  return { base: file.slice(0, dot), seq: Number(file.slice(dot + 1)) };
}

/** Hours of binlog retention to suggest: twice what preflight expected snapshot + restore + catch-up to take, at least 24. */
function suggestedRetentionHours(ctx: Ctx): number {
  const expected = output(ctx, 'preflight')?.binlog?.expectedHours ?? 12;
  return Math.max(24, Math.ceil(expected * 2));
}

/**
 * Checks a crash-recovery position against the source's binary logs. A file older than the oldest kept one was
 * purged: that is a retention problem (kind `preflight`, exit 4), not a bug; nothing has been switched.
 */
export function checkAgainstBinaryLogs(ctx: Ctx, pos: BinlogPosition, logs: BinaryLog[], retentionHours: number | null | undefined): BinaryLog {
  const text = `${pos.file}:${pos.position}`;
  const hit = logs.find((l) => l.file === pos.file);
  if (hit) {
    if (pos.position > hit.size) {
      throw new StepError(`binlog position ${text} is beyond the end of ${pos.file} on the source (${hit.size} bytes): it is not a position of this source`, 'fatal');
    }
    return hit;
  }
  const wanted = fileSequence(pos.file);
  const sameLog = logs.filter((l) => fileSequence(l.file).base === wanted.base);
  const oldest = sameLog[0];
  if (oldest && wanted.seq < fileSequence(oldest.file).seq) {
    const retention = retentionHours === undefined ? 'unknown' : retentionHours === null ? 'never purged' : `${retentionHours} h`;
    const hours = suggestedRetentionHours(ctx);
    throw new StepError(
      `the snapshot's binlog position ${text} names ${pos.file}, which no longer exists on the source (oldest kept: ${oldest.file}): binlog retention was too short. Nothing was switched and the source was never fenced.`,
      'preflight',
      [
        `binlog retention on the source: ${retention}; it must cover snapshot + restore + catch-up`,
        `raise it, e.g. CALL mysql.rds_set_configuration('binlog retention hours', ${hours});`,
        'then start a new run (a new snapshot); `rekey rollback` deletes this run\'s restored cluster',
      ],
    );
  }
  throw new StepError(
    `the snapshot's binlog position ${text} names ${pos.file}, which the source's SHOW BINARY LOGS does not list (${logs.map((l) => l.file).join(', ') || 'no binary logs'}): it does not belong to this source's binary log`,
    'fatal',
  );
}

/** Waits (bounded) for the restored writer's crash-recovery event; returns the first one's position. */
async function crashRecoveryEvent(ctx: Ctx, writerId: string, since: Date): Promise<{ position: BinlogPosition; at?: Date }> {
  const { cloud } = ctx.services;
  const env = waitEnv(ctx);
  const what = `the "${EVENT_PHRASE} <file> <pos>" event of ${writerId}`;
  try {
    const found = await poll({
      what,
      observe: async (): Promise<{ parsed: CrashRecoveryParse; at?: Date }> => {
        for (const e of await listEvents(cloud, 'db-instance', writerId, since)) {
          const parsed = parseCrashRecoveryPosition(e.Message ?? '');
          if (parsed.kind !== 'absent') return { parsed, ...(e.Date ? { at: new Date(e.Date) } : {}) };
        }
        return { parsed: { kind: 'absent' } };
      },
      classify: (o) => {
        if (o.parsed.kind === 'absent') return { state: 'retry', note: 'no such event yet' };
        if (o.parsed.kind === 'malformed') return { state: 'failure', reason: `malformed event: ${o.parsed.reason}` };
        return { state: 'success' };
      },
      onRetry: () => ctx.report.progress(`waiting for the crash-recovery binlog position event of ${writerId}`),
      clock: env.clock,
      signal: env.signal,
      minDelayMs: env.pollMs,
      maxDelayMs: env.maxPollMs ?? env.pollMs * 4,
      timeoutMs: env.timeoutMs,
    });
    if (found.parsed.kind !== 'found') throw new StepError(`${what}: not found`, 'fatal');
    return { position: found.parsed.position, ...(found.at ? { at: found.at } : {}) };
  } catch (error) {
    if (error instanceof StepError && error.kind === 'retryable') {
      throw new StepError(
        `${writerId} reported no "${EVENT_PHRASE} <file> <pos>" event since ${since.toISOString()} within ${Math.round(env.timeoutMs / 1000)} s: the CDC start position is unknown, so no task was created. Is binary logging on for the source (binlog_format in its cluster parameter group)? Resume to look again.`,
        'retryable',
        [],
        { cause: error },
      );
    }
    throw error;
  }
}

/** RDS for PostgreSQL: rds_tools.logical_seed_lsn() on the restored instance, or (opt-in only) the slot's position. */
async function seedOrFallback(ctx: Ctx): Promise<{ lsn?: string; reason?: string }> {
  try {
    return { lsn: await withTarget(ctx, (db) => db.seedPosition('rds_tools.logical_seed_lsn')) };
  } catch (error) {
    if (error instanceof StepError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    if (!ctx.services.runbook.dms?.allowSlotPositionFallback) {
      throw new StepError(
        `cannot read rds_tools.logical_seed_lsn() on the restored instance ${ctx.services.names.targetCluster}: ${reason}. Without it the CDC start position matching the snapshot is unknown, so no task was created.`,
        'fatal',
        [
          'the function comes with the rds_tools extension (CREATE EXTENSION IF NOT EXISTS rds_tools) on recent RDS for PostgreSQL versions; upgrade the engine minor version or check the extension is allowed',
          'or opt in to dms.allowSlotPositionFallback: true in the runbook: CDC then starts at the slot\'s confirmed_flush_lsn, replays the changes made between slot creation and the snapshot (the task upserts them), and the overlap is reported',
          '`rekey rollback` deletes this run\'s restored instance',
        ],
      );
    }
    return { reason };
  }
}

async function capturePostgres(ctx: Ctx): Promise<CapturePositionOutput> {
  const { names } = ctx.services;
  const instance = profile(ctx.services.runbook).instance;
  const seeded = instance ? await seedOrFallback(ctx) : { lsn: await withTarget(ctx, (db) => db.seedPosition('aurora_volume_logical_start_lsn')) };
  if (seeded.lsn === undefined) {
    return withSource(ctx, async (db) => {
      const slot = await db.slot(names.slot);
      const flushed = slot?.confirmedFlushLsn ?? slot?.restartLsn;
      if (!flushed) throw new StepError(`slot ${names.slot} is missing or has no confirmed_flush_lsn on the source; no fallback position`, 'fatal');
      const overlap = { fromLsn: flushed, snapshotAfter: true as const, reason: seeded.reason ?? 'seed function unavailable' };
      const message = `OVERLAP: CDC starts at slot ${names.slot}'s confirmed_flush_lsn ${flushed}, before the snapshot: changes committed between slot creation and the snapshot are applied again (duplicate inserts become updates, missing rows are inserted). Tables without a primary key may get duplicate rows.`;
      ctx.report.log('warn', message);
      ctx.report.publish('positionOverlap', { fromLsn: flushed, slot: names.slot, reason: overlap.reason });
      return { position: flushed, slotConfirmedFlushLsn: flushed, source: 'slot-fallback', overlap };
    });
  }
  const lsn = seeded.lsn;
  return withSource(ctx, async (db) => {
    const slot = await db.slot(names.slot);
    if (!slot) throw new StepError(`slot ${names.slot} is missing on the source; DMS cannot start from ${lsn} without it`, 'fatal');
    const flushed = slot.confirmedFlushLsn ?? slot.restartLsn;
    if (!flushed) throw new StepError(`slot ${names.slot} has no confirmed_flush_lsn yet`, 'retryable');
    if (db.comparePositions(lsn, flushed) < 0) {
      throw new StepError(
        `snapshot LSN ${lsn} is older than slot ${names.slot}'s confirmed_flush_lsn ${flushed}: changes between them are gone from the slot`,
        'fatal',
      );
    }
    ctx.report.log('info', `CDC start position ${lsn} (slot at ${flushed})`);
    return { position: lsn, slotConfirmedFlushLsn: flushed, source: 'seed-function' };
  });
}

/** RDS MySQL/MariaDB: the stopped replica's executed position, still in the source's binary logs. */
async function captureReplica(ctx: Ctx): Promise<CapturePositionOutput> {
  const replica = required(ctx, 'replica-position', 'capture-position');
  const at = replica.position.lastIndexOf(':');
  const pos: BinlogPosition = { file: replica.position.slice(0, at), position: Number(replica.position.slice(at + 1)) };
  return withSource(ctx, async (db) => {
    if (!db.binaryLogs) throw new StepError('the source adapter cannot list binary logs (SHOW BINARY LOGS)', 'fatal');
    const log = checkAgainstBinaryLogs(ctx, pos, await db.binaryLogs(), replica.retentionHours);
    ctx.report.log('info', `CDC start position ${replica.position} (executed by the stopped replica ${replica.replicaId}; ${log.file} is ${log.size} bytes on the source)`);
    return { position: replica.position, binlogFileSize: log.size, source: 'replica' };
  });
}

async function captureMysql(ctx: Ctx): Promise<CapturePositionOutput> {
  if (profile(ctx.services.runbook).instance) return captureReplica(ctx);
  const restored = required(ctx, 'restore', 'capture-position');
  const since = new Date(Date.parse(restored.startedAt) - CLOCK_SKEW_MS);
  const event = await crashRecoveryEvent(ctx, restored.writerId, since);
  return withSource(ctx, async (db) => {
    if (!db.binaryLogs) throw new StepError('the source adapter cannot list binary logs (SHOW BINARY LOGS)', 'fatal');
    const logs = await db.binaryLogs();
    const retention = db.binlogRetentionHours ? await db.binlogRetentionHours().catch(() => undefined) : undefined;
    const log = checkAgainstBinaryLogs(ctx, event.position, logs, retention);
    const position = `${event.position.file}:${event.position.position}`;
    ctx.report.log('info', `CDC start position ${position} (from ${restored.writerId}'s crash-recovery event; ${log.file} is ${log.size} bytes on the source)`);
    return { position, binlogFileSize: log.size, source: 'crash-recovery', ...(event.at ? { eventAt: event.at.toISOString() } : {}) };
  });
}

export const capturePosition: Step<RekeyServices, CapturePositionOutput> = {
  id: 'capture-position',
  title: 'Capture the snapshot position',
  describe(ctx) {
    const { names, runbook } = ctx.services;
    const p = profile(runbook);
    if (p.family === 'mysql' && p.instance) {
      return [{ kind: 'sql', target: 'source', summary: 'check the stopped replica\'s position is still in the source binary logs', detail: 'SHOW BINARY LOGS' }];
    }
    if (p.instance) {
      return [
        { kind: 'sql', target: 'target', summary: 'read the snapshot position', detail: 'CREATE EXTENSION IF NOT EXISTS rds_tools; SELECT rds_tools.logical_seed_lsn()' },
        { kind: 'sql', target: 'source', summary: `check it is not older than slot ${names.slot}`, detail: `SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '${names.slot}'` },
        ...(runbook.dms?.allowSlotPositionFallback
          ? [{ kind: 'note' as const, target: 'fallback', summary: 'opt-in: without rds_tools, start at the slot\'s confirmed_flush_lsn; the task tolerates and reports the replayed overlap' }]
          : []),
      ];
    }
    if (p.family === 'mysql') {
      return [
        {
          kind: 'wait',
          target: 'rds:DescribeEvents',
          summary: `until ${names.targetWriter} reports "${EVENT_PHRASE} <file> <pos>"`,
          detail: `SourceIdentifier=${names.targetWriter} SourceType=db-instance StartTime=<restore start> (Marker pages)`,
        },
        { kind: 'sql', target: 'source', summary: 'check the file is still in the binary logs and the position within it', detail: 'SHOW BINARY LOGS' },
      ];
    }
    return [
      { kind: 'sql', target: 'target', summary: 'read the snapshot position', detail: 'SELECT aurora_volume_logical_start_lsn()' },
      { kind: 'sql', target: 'source', summary: `check it is not older than slot ${names.slot}`, detail: `SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '${names.slot}'` },
    ];
  },
  run(ctx) {
    return profile(ctx.services.runbook).family === 'mysql' ? captureMysql(ctx) : capturePostgres(ctx);
  },
};
