// The native strategy's own steps: the engine's replication instead of a DMS task.
// PostgreSQL: publications + a pgoutput slot on the source before the snapshot; on the restored database a
// subscription created disabled on that slot (create_slot = false, copy_data = false), its origin advanced to the
// snapshot's LSN, then enabled. MySQL/MariaDB: the restored database pointed at the source's binlog position with
// mysql.rds_set_external_source/_master (TLS) and started with mysql.rds_start_replication.
// Catch-up reads the engine's own lag; stop-replication stops it before the switch; cleanup removes the rest.
import { subscriptionConninfo } from '../db/native.js';
import type { MyNative, PgNative } from '../db/native.js';
import type { DbAdapter, SlotInfo } from '../db/types.js';
import { poll } from '../aws/poll.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { tableSelection } from '../runbook/schema.js';
import { mustFindDb, output, required, withSource, withTarget } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import type { PrepareSourceOutput } from './prepare-source.js';
import type { RekeyServices } from './services.js';

function pgOf(db: DbAdapter): PgNative {
  if (!db.pgNative) throw new StepError('the PostgreSQL adapter offers no native replication', 'fatal');
  return db.pgNative;
}

function myOf(db: DbAdapter): MyNative {
  if (!db.myNative) throw new StepError('the MySQL adapter offers no native replication', 'fatal');
  return db.myNative;
}

/** The insert-only publication's name: tables without a replica identity publish only their inserts. */
export function insertOnlyPublication(name: string): string {
  return `${name}_ins`;
}

// --- prepare-source (native)

/** What the native prepare-source left on the source. */
export interface NativePrepareOutput extends PrepareSourceOutput {
  /** PostgreSQL: publications created before the slot (pgoutput reads them as of the WAL it decodes). */
  publications?: { name: string; tables: string[]; publish: string }[];
}

export const prepareSourceNative: Step<RekeyServices, NativePrepareOutput> = {
  id: 'prepare-source',
  title: 'Prepare the source (sentinel table, publications, replication slot)',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    const p = profile(rb);
    const actions: PlannedAction[] = [{ kind: 'sql', target: 'source', summary: `create sentinel table ${p.sentinelSchema}.${rb.cutover.sentinelTable} if missing` }];
    if (p.family === 'postgres') {
      const sel = tableSelection(rb);
      actions.push(
        {
          kind: 'sql', target: 'source', summary: `create publication ${names.publication} (insert, update, delete) for the selected tables with a replica identity, and ${insertOnlyPublication(names.publication)} (insert) for those without`,
          detail: `include ${sel.include.join(', ')}; exclude ${sel.exclude.join(', ') || 'none'}; plus the sentinel table. Publishing updates of a table without a replica identity would make its UPDATEs fail on the source.`,
        },
        { kind: 'sql', target: 'source', summary: `create logical slot ${names.slot} (pgoutput) after the publications, before the snapshot`, detail: `SELECT pg_create_logical_replication_slot('${names.slot}', 'pgoutput')` },
      );
    } else {
      actions.push({ kind: 'note', target: 'source', summary: 'the binary log is the change stream: nothing else to create' });
    }
    return actions;
  },
  async run(ctx) {
    const { names, runbook: rb } = ctx.services;
    const p = profile(rb);
    return withSource(ctx, async (db) => {
      await db.ensureSentinelTable(rb.cutover.sentinelTable);
      if (p.family !== 'postgres') return { sentinelTable: rb.cutover.sentinelTable };
      const native = pgOf(db);
      const sel = tableSelection(rb);
      const tables = await db.listTables(sel.include, sel.exclude);
      const sentinel = { schema: p.sentinelSchema, name: rb.cutover.sentinelTable };
      if (!tables.some((t) => t.schema === sentinel.schema && t.name === sentinel.name)) tables.push(sentinel);
      const identified = await native.withReplicaIdentity(tables);
      const key = (t: { schema: string; name: string }): string => `${t.schema}.${t.name}`;
      const full = tables.filter((t) => identified.has(key(t)));
      const insertOnly = tables.filter((t) => !identified.has(key(t)));
      const publications = [
        { name: names.publication, tables: full.map(key), publish: 'insert, update, delete' as const },
        { name: insertOnlyPublication(names.publication), tables: insertOnly.map(key), publish: 'insert' as const },
      ];
      // A slot that exists already was made by an earlier attempt of this step, after the publications.
      const existing = await db.slot(names.slot);
      if (!existing) {
        await native.ensurePublication(publications[0]!.name, full, 'insert, update, delete');
        await native.ensurePublication(publications[1]!.name, insertOnly, 'insert');
      }
      if (insertOnly.length > 0) {
        ctx.report.log('warn', `tables without a replica identity replicate their inserts only (their updates and deletes are not published): ${insertOnly.map(key).join(', ')}`);
      }
      const slot: SlotInfo = await db.ensureLogicalSlot(names.slot, 'pgoutput');
      ctx.report.log('info', `publications ${publications.map((x) => x.name).join(', ')}; slot ${names.slot} (pgoutput) at ${slot.confirmedFlushLsn ?? slot.restartLsn ?? '?'}`);
      return { slot, sentinelTable: rb.cutover.sentinelTable, publications };
    });
  },
  async undo(ctx) {
    const { names, runbook: rb } = ctx.services;
    if (profile(rb).family !== 'postgres') return;
    await withSource(ctx, async (db) => {
      await db.dropSlotIfExists(names.slot);
      await pgOf(db).dropPublication(names.publication);
      await pgOf(db).dropPublication(insertOnlyPublication(names.publication));
    });
  },
};

// --- native-setup

/** How replication was started on the restored database. */
export interface NativeSetupOutput {
  /** PostgreSQL: `subscription`; MySQL: the procedure that set the source (rds_set_external_source or _master). */
  mechanism: string;
  /** Where it starts: the captured LSN or `<file>:<pos>`. */
  position: string;
  /** The source endpoint the restored database connects to. */
  sourceHost: string;
  sourcePort: number;
  /** Whether this attempt created it (false: an earlier attempt had, and it was only started). */
  created: boolean;
}

async function sourceAddress(ctx: Ctx): Promise<{ host: string; port: number }> {
  // The endpoint as the restored database reaches it (the cluster's own), not a bastion override of rekey's.
  const src = await mustFindDb(ctx, ctx.services.runbook.source.identifier, 'source');
  if (!src.host || src.port === undefined) throw new StepError(`source ${src.id} has no endpoint`, 'retryable');
  return { host: src.host, port: src.port };
}

async function setupPostgres(ctx: Ctx, position: string): Promise<NativeSetupOutput> {
  const { names, runbook: rb, secrets } = ctx.services;
  const addr = await sourceAddress(ctx);
  return withTarget(ctx, async (db) => {
    const native = pgOf(db);
    let sub = await native.subscription(names.subscription);
    const created = sub === undefined;
    if (!sub) {
      // The snapshot carried a copy of the source's slot: it would pin WAL on the new database (AWS: drop it).
      if (await db.dropSlotIfExists(names.slot)) ctx.report.log('info', `dropped the copy of slot ${names.slot} the snapshot carried`);
      const password = await secrets.resolve(rb.source.password);
      const conninfo = subscriptionConninfo({
        ...addr, database: rb.source.database, user: rb.source.username, ...(password !== undefined ? { password } : {}),
        ...(ctx.services.passfile !== undefined ? { passfile: ctx.services.passfile } : {}),
        tls: ctx.services.cloud.provider === 'aws', applicationName: names.subscription,
      });
      await native.createSubscription({ name: names.subscription, conninfo, publications: [names.publication, insertOnlyPublication(names.publication)], slot: names.slot });
      sub = await native.subscription(names.subscription);
      if (!sub) throw new StepError(`subscription ${names.subscription} vanished right after it was created`, 'fatal');
      crashPoint('native-setup:after-create');
    }
    // Only a subscription that never applied anything is moved: the origin can go backwards, re-applying changes.
    if (sub.originLsn === null) {
      await native.advanceOrigin(names.subscription, position);
      ctx.report.log('info', `origin of ${names.subscription} advanced to ${position}`);
      crashPoint('native-setup:after-advance');
    } else if (db.comparePositions(sub.originLsn, position) < 0) {
      throw new StepError(`subscription ${names.subscription}'s origin is at ${sub.originLsn}, before the snapshot's ${position}: something else applied changes`, 'fatal');
    }
    if (!sub.enabled) await native.setSubscriptionEnabled(names.subscription, true);
    return { mechanism: 'subscription', position, sourceHost: addr.host, sourcePort: addr.port, created };
  });
}

async function setupMysql(ctx: Ctx, position: string): Promise<NativeSetupOutput> {
  const { runbook: rb, secrets } = ctx.services;
  const addr = await sourceAddress(ctx);
  const at = position.lastIndexOf(':');
  const pos = { file: position.slice(0, at), position: Number(position.slice(at + 1)) };
  return withTarget(ctx, async (db) => {
    const native = myOf(db);
    const state = await native.replicaState();
    // Set once: setting the source again after changes were applied would apply them twice.
    let mechanism = 'set by an earlier attempt';
    const created = state === undefined || state.sourceHost === '';
    if (created) {
      const password = (await secrets.resolve(rb.source.password)) ?? '';
      mechanism = await native.setExternalSource({ ...addr, user: rb.source.username, password, position: pos, tls: true });
      ctx.report.log('info', `${mechanism} to ${addr.host}:${addr.port} at ${position} (ssl_encryption 1)`);
      crashPoint('native-setup:after-create');
    } else if (state.sourceHost !== addr.host) {
      throw new StepError(`the restored database already replicates from ${state.sourceHost}, not the source ${addr.host}`, 'fatal');
    }
    if (!(state?.io === 'Yes' && state.sql === 'Yes')) await native.startReplication();
    return { mechanism, position, sourceHost: addr.host, sourcePort: addr.port, created };
  });
}

export const nativeSetup: Step<RekeyServices, NativeSetupOutput> = {
  id: 'native-setup',
  title: 'Start native replication at the snapshot position',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    const notice = { kind: 'note' as const, target: 'network', summary: `the restored database connects to the source's endpoint: security groups/NACLs must let it reach ${rb.source.identifier} (yours to ensure; rekey cannot check it)` };
    if (profile(rb).family === 'postgres') {
      return [
        notice,
        { kind: 'sql', target: 'target', summary: `drop the copy of slot ${names.slot} the snapshot carried`, detail: `SELECT pg_drop_replication_slot('${names.slot}')` },
        {
          kind: 'sql', target: 'target', summary: `create subscription ${names.subscription}, disabled, on the source's slot ${names.slot}`,
          detail: `CREATE SUBSCRIPTION ${names.subscription} CONNECTION 'host=<source> dbname=${rb.source.database} user=${rb.source.username} password=*** sslmode=require' PUBLICATION ${names.publication}, ${insertOnlyPublication(names.publication)} WITH (enabled = false, create_slot = false, copy_data = false, slot_name = '${names.slot}')`,
        },
        { kind: 'sql', target: 'target', summary: 'advance its origin to the captured LSN, then enable it', detail: "SELECT pg_replication_origin_advance('pg_<subscription oid>', '<captured LSN>'); ALTER SUBSCRIPTION ... ENABLE" },
      ];
    }
    return [
      notice,
      {
        kind: 'sql', target: 'target', summary: 'point the restored database at the source\'s binlog position, over TLS',
        detail: `CALL mysql.rds_set_external_source('<source host>', <port>, '${rb.source.username}', '***', '<file>', <pos>, 1) (mysql.rds_set_external_master where that is missing)`,
      },
      { kind: 'sql', target: 'target', summary: 'start replication', detail: 'CALL mysql.rds_start_replication' },
    ];
  },
  async run(ctx) {
    const captured = required(ctx, 'capture-position', 'native-setup');
    if (captured.overlap) throw new StepError('native replication cannot start before the snapshot (the slot fallback\'s overlap would be applied twice)', 'fatal');
    return profile(ctx.services.runbook).family === 'postgres' ? setupPostgres(ctx, captured.position) : setupMysql(ctx, captured.position);
  },
  async undo(ctx) {
    await stopNativeReplication(ctx, 'remove');
  },
};

/**
 * Stops replication on the restored database: `pause` keeps its position (PostgreSQL: subscription disabled;
 * MySQL: rds_stop_replication), `remove` also forgets it (subscription dropped; rds_reset_external_source).
 * Missing is fine. `identifier`: where the restored database is now (after the switch, the source's name).
 */
export async function stopNativeReplication(ctx: Ctx, how: 'pause' | 'remove', identifier?: string): Promise<void> {
  const { names, runbook: rb } = ctx.services;
  await withTarget(
    ctx,
    async (db) => {
      if (profile(rb).family === 'postgres') {
        const native = pgOf(db);
        if (how === 'remove') await native.dropSubscription(names.subscription);
        else if ((await native.subscription(names.subscription))?.enabled) await native.setSubscriptionEnabled(names.subscription, false);
        return;
      }
      const native = myOf(db);
      const state = await native.replicaState();
      if (!state || state.sourceHost === '') return;
      await native.stopReplication();
      if (how === 'remove') await native.resetExternalSource();
    },
    identifier,
  );
}

// --- catch-up (native)

/** Ages of source positions: when each was first seen as the current one, so a lag in bytes becomes seconds. */
export class PositionClock {
  private samples: { t: number; pos: bigint }[] = [];

  observe(t: number, current: bigint): void {
    const last = this.samples[this.samples.length - 1];
    if (!last || last.pos < current) this.samples.push({ t, pos: current });
  }

  /** Seconds since the oldest position past `applied` was current (0 when nothing is behind). */
  lagSeconds(now: number, applied: bigint): number {
    const first = this.samples.find((s) => s.pos > applied);
    const keep = this.samples.findIndex((s) => s.pos > applied);
    if (keep > 0) this.samples = this.samples.slice(keep);
    return first ? Math.max(0, (now - first.t) / 1000) : 0;
  }
}

/** One catch-up observation of native replication. */
export interface NativeLagObservation {
  /** Whether replication is running (apply worker / both replica threads). */
  running: boolean;
  /** Why it is not running, when it failed rather than is starting. */
  failure?: string;
  /** Replication lag in seconds, if known. */
  lagSeconds: number | undefined;
  underForMs: number;
}

/** Pure: success once the lag stayed under the threshold for the sustain window; failure when replication broke. */
export function classifyNativeLag(o: NativeLagObservation, sustainMs: number): { state: 'success' } | { state: 'failure'; reason: string } | { state: 'retry'; note: string } {
  if (o.failure !== undefined) return { state: 'failure', reason: o.failure };
  if (!o.running || o.lagSeconds === undefined) return { state: 'retry', note: 'replication not running yet' };
  if (o.underForMs > 0 && o.underForMs >= sustainMs) return { state: 'success' };
  return { state: 'retry', note: `lag ${o.lagSeconds} s` };
}

/** Where catch-up stood when it passed. */
export interface NativeCatchUpOutput {
  latencySeconds: number;
  sustainedSeconds: number;
  at: string;
}

function lsnValue(lsn: string): bigint {
  const [hi = '0', lo = '0'] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

function binlogValue(p: { file: string; position: number }): bigint {
  return (BigInt(Number(p.file.slice(p.file.lastIndexOf('.') + 1)) || 0) << 32n) + BigInt(p.position);
}

export const nativeCatchUp: Step<RekeyServices, NativeCatchUpOutput> = {
  id: 'catch-up',
  title: 'Wait for native replication to catch up',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    const what = profile(rb).family === 'postgres'
      ? { kind: 'sql' as const, target: 'source + target', summary: `lag of slot ${names.slot} (pg_current_wal_lsn against confirmed_flush_lsn / pg_stat_replication.replay_lsn); subscription ${names.subscription} enabled with a running worker (pg_stat_subscription)` }
      : { kind: 'sql' as const, target: 'source + target', summary: 'Seconds_Behind_Source and the executed position of the restored database\'s replica (SHOW REPLICA STATUS) against the source\'s SHOW MASTER STATUS' };
    return [what, { kind: 'wait', target: 'replication', summary: `lag under ${rb.cutover.maxLatencySeconds} s for ${rb.cutover.sustainSeconds} s (give up after ${rb.cutover.catchUpTimeoutSeconds} s)` }];
  },
  async run(ctx) {
    const { names, runbook: rb, clock, timing } = ctx.services;
    const pgFamily = profile(rb).family === 'postgres';
    const sustainMs = rb.cutover.sustainSeconds * 1000;
    const positions = new PositionClock();
    let underSince: number | undefined;
    const observe = async (): Promise<NativeLagObservation> => {
      const now = clock.now();
      let running: boolean;
      let failure: string | undefined;
      let lag: number | undefined;
      if (pgFamily) {
        const wal = await withSource(ctx, (db) => pgOf(db).sourceWal(names.slot, names.subscription));
        const sub = await withTarget(ctx, (db) => pgOf(db).subscription(names.subscription));
        if (!sub) failure = `subscription ${names.subscription} is gone from the restored database`;
        else if (!sub.enabled) failure = `subscription ${names.subscription} is disabled${sub.applyErrors ? ` after ${sub.applyErrors} apply errors (see the target's log)` : ''}`;
        running = sub?.workerRunning === true;
        positions.observe(now, lsnValue(wal.current));
        const confirmed = wal.confirmedFlush ? lsnValue(wal.confirmedFlush) : 0n;
        const replay = wal.replay ? lsnValue(wal.replay) : 0n;
        if (running) lag = positions.lagSeconds(now, replay > confirmed ? replay : confirmed);
      } else {
        const current = await withSource(ctx, (db) => (db.binlogPosition ? db.binlogPosition() : Promise.resolve(undefined)));
        const st = await withTarget(ctx, (db) => myOf(db).replicaState());
        if (!st || st.sourceHost === '') failure = 'the restored database has no replication configured';
        else if (st.sql === 'No' && st.sqlError) failure = `replication stopped applying: ${st.sqlError}`;
        else if (st.io === 'No' || st.sql === 'No') {
          // Stopped without an apply error (the source was unreachable for a while, say): start it again; it goes on from its position.
          ctx.report.log('warn', `replication on the restored database is stopped${st.error ? ` (${st.error})` : ''}: starting it again`);
          await withTarget(ctx, (db) => myOf(db).startReplication());
        }
        running = st?.io === 'Yes' && st.sql === 'Yes';
        if (current) positions.observe(now, binlogValue(current));
        if (running && st) {
          const byPosition = current ? positions.lagSeconds(now, binlogValue(st.executed)) : 0;
          lag = Math.max(st.secondsBehind ?? 0, byPosition);
        }
      }
      if (lag !== undefined) {
        if (lag <= rb.cutover.maxLatencySeconds) underSince ??= now;
        else underSince = undefined;
        ctx.report.metric('cdc.latency', lag, 's');
      }
      const underForMs = underSince === undefined ? 0 : Math.max(clock.now() - underSince, 1);
      ctx.report.metric('cdc.threshold', rb.cutover.maxLatencySeconds, 's');
      ctx.report.metric('cdc.sustained', Math.floor(underForMs / 1000), 's');
      ctx.report.metric('cdc.sustain.required', rb.cutover.sustainSeconds, 's');
      return { running, ...(failure !== undefined ? { failure } : {}), lagSeconds: lag, underForMs };
    };
    const last = await poll<NativeLagObservation>({
      what: `replication lag under ${rb.cutover.maxLatencySeconds} s for ${rb.cutover.sustainSeconds} s`,
      clock,
      signal: ctx.signal,
      minDelayMs: timing.pollMs,
      maxDelayMs: timing.pollMs,
      timeoutMs: rb.cutover.catchUpTimeoutSeconds * 1000,
      observe,
      classify: (o) => classifyNativeLag(o, sustainMs),
      onRetry: (o) => ctx.report.progress(o.lagSeconds === undefined ? 'waiting for replication to run' : `lag ${o.lagSeconds.toFixed(1)} s (threshold ${rb.cutover.maxLatencySeconds} s), under it for ${Math.floor(o.underForMs / 1000)}/${rb.cutover.sustainSeconds} s`),
    });
    return { latencySeconds: last.lagSeconds ?? 0, sustainedSeconds: Math.floor(last.underForMs / 1000), at: new Date(clock.now()).toISOString() };
  },
};

// --- stop-replication

/** How replication ended before the switch. */
export interface StopReplicationOutput {
  /** PostgreSQL: subscription disabled (dropped at cleanup); MySQL: replication stopped (reset at cleanup). */
  stopped: true;
  /** MySQL: accounts the replicated fence had locked on the restored database, put back as they were before it. */
  restoredAccounts?: string[];
}

export const stopReplicationStep: Step<RekeyServices, StopReplicationOutput> = {
  id: 'stop-replication',
  title: 'Stop native replication',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    if (profile(rb).family === 'postgres') {
      return [{ kind: 'sql', target: 'target', summary: `disable subscription ${names.subscription} (its position is kept until cleanup drops it)`, detail: `ALTER SUBSCRIPTION ${names.subscription} DISABLE` }];
    }
    return [
      { kind: 'sql', target: 'target', summary: 'stop replication (its position is kept until cleanup resets it)', detail: 'CALL mysql.rds_stop_replication' },
      { kind: 'sql', target: 'target', summary: 'unlock on the new database the accounts the fence locked (the binary log carried the ACCOUNT LOCK over)', detail: 'ALTER USER ... ACCOUNT UNLOCK, back to each account\'s state before the fence' },
    ];
  },
  async run(ctx) {
    await stopNativeReplication(ctx, 'pause');
    if (profile(ctx.services.runbook).family === 'postgres') return { stopped: true };
    // Roles are not logically replicated on PostgreSQL; MySQL's binlog carries ALTER USER ... ACCOUNT LOCK.
    const fence = output(ctx, 'fence');
    if (!fence) return { stopped: true };
    await withTarget(ctx, (db) => db.unfence(fence));
    return { stopped: true, restoredAccounts: fence.principals.map((p) => p.name) };
  },
  // No undo: re-entering native-setup (the flow's rewind) enables replication again; rollback removes it with native-setup's undo.
};

// --- cleanup (native)

/** What was cleaned up. */
export interface NativeCleanupOutput {
  droppedSlot: boolean;
  removedReplication: boolean;
}

export const nativeCleanup: Step<RekeyServices, NativeCleanupOutput> = {
  id: 'cleanup',
  title: 'Clean up replication (subscription or replica settings, slot, publications)',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    if (profile(rb).family === 'postgres') {
      return [
        { kind: 'sql', target: 'new database', summary: `drop subscription ${names.subscription} (detached from the slot first)` },
        { kind: 'sql', target: 'old source', summary: `drop slot ${names.slot} and publications ${names.publication}, ${insertOnlyPublication(names.publication)}` },
        { kind: 'note', target: 'old database', summary: 'the old database, its snapshots and the old key are kept (rollback)' },
      ];
    }
    return [
      { kind: 'sql', target: 'new database', summary: 'forget the replication source', detail: 'CALL mysql.rds_reset_external_source (or _master)' },
      { kind: 'note', target: 'old database', summary: 'the old database, its snapshots and the old key are kept (rollback)' },
    ];
  },
  async run(ctx) {
    const { names, runbook: rb } = ctx.services;
    const switched = output(ctx, 'switch');
    const renamed = switched?.mode === 'rename';
    await stopNativeReplication(ctx, 'remove', renamed ? rb.source.identifier : names.targetCluster);
    if (profile(rb).family !== 'postgres') return { droppedSlot: false, removedReplication: true };
    const droppedSlot = await withSource(
      ctx,
      async (db) => {
        const dropped = await db.dropSlotIfExists(names.slot);
        await pgOf(db).dropPublication(names.publication);
        await pgOf(db).dropPublication(insertOnlyPublication(names.publication));
        return dropped;
      },
      renamed ? names.oldName : rb.source.identifier,
    );
    // The snapshot copied the publications onto the new database too (AWS restores the whole volume).
    await withTarget(
      ctx,
      async (db) => {
        await pgOf(db).dropPublication(names.publication);
        await pgOf(db).dropPublication(insertOnlyPublication(names.publication));
      },
      renamed ? rb.source.identifier : names.targetCluster,
    );
    return { droppedSlot, removedReplication: true };
  },
};
