// What a started DMS task does on the servers: PostgreSQL CDC as a native subscription from the snapshot's exported
// slot (replaying an overlap first when the task settings tolerate one), MySQL CDC as the target server's binlog
// replica from the snapshot's position; each start position checked the way DMS checks it.
import { formatBinlogPosition, isLsn, parseLsn, tryParseBinlogPosition, binlogPositionValue } from '../../db/position.js';
import type { Core } from '../core.js';
import { binaryLogs, myTables, replicaStartProblem, replicationLogin, resetReplica, setReplicaRunning, startReplica } from '../engines/my-ops.js';
import { replayOverlap, toleratesOverlap } from '../engines/overlap.js';
import { dropSubscription, listTables, setSubscriptionEnabled, slotInfo, startSubscription, targetTuples } from '../engines/pg-ops.js';
import type { Backend, CdcRecord, ClusterRecord, TaskRecord } from '../registry.js';
import { binlogPosition } from '../registry.js';
import { clusterForEndpoint, isMyEndpoint, mustEndpoint } from './dms-endpoints.js';
import { like, parseSelection, selectTables } from './dms-tables.js';

/** Pause or resume a task's replication (the subscription, or the replica threads). */
export async function setCdcRunning(cdc: CdcRecord, running: boolean): Promise<void> {
  if (cdc.mysql) await setReplicaRunning(cdc.target, running);
  else await setSubscriptionEnabled(cdc.target, cdc.subscription, running);
}

/** Remove what a task set up on the target (the replica configuration, or the subscription and its slot). */
export async function dropCdc(cdc: CdcRecord): Promise<void> {
  if (cdc.mysql) await resetReplica(cdc.target);
  else await dropSubscription({ ...cdc });
}

/** Starting tasks' CDC. */
export class DmsCdc {
  constructor(private readonly core: Core) {}

  /** Set up the CDC of `t`; returns a failure message when DMS would refuse. */
  async start(t: TaskRecord, type: string, position: string | undefined): Promise<string | undefined> {
    if (t.migrationType !== 'cdc') return `The rehearsal cloud carries out CDC-only tasks (MigrationType cdc), not ${t.migrationType}.`;
    if (type === 'reload-target') return 'reload-target is not valid for a CDC-only task started from a native start point.';
    if (type === 'resume-processing' && t.cdc) {
      await setCdcRunning(t.cdc, true);
      return undefined;
    }
    if (t.hasRun) return 'start-replication of a task that already ran would apply its changes again from the start position; use resume-processing.';
    const src = mustEndpoint(this.core, t.sourceEndpointArn);
    const tgt = mustEndpoint(this.core, t.targetEndpointArn);
    const srcCluster = clusterForEndpoint(this.core, src);
    const tgtCluster = clusterForEndpoint(this.core, tgt);
    if (!srcCluster) return `Failed to connect to the source endpoint ${src.identifier} (${src.serverName}:${src.port}): no database answers there.`;
    if (!tgtCluster) return `Failed to connect to the target endpoint ${tgt.identifier} (${tgt.serverName}:${tgt.port}): no database answers there.`;
    if (isMyEndpoint(src) !== isMyEndpoint(tgt)) return `Endpoints ${src.identifier} (${src.engineName}) and ${tgt.identifier} (${tgt.engineName}) are of different engine families; the rehearsal cloud replicates like to like.`;
    if (isMyEndpoint(src)) return this.startMysql(t, position, srcCluster, tgtCluster);
    const source: Backend = { ...srcCluster.backend, database: src.databaseName || srcCluster.backend.database };
    const target: Backend = { ...tgtCluster.backend, database: tgt.databaseName || tgtCluster.backend.database };
    const snapshot = tgtCluster.restoredFrom !== undefined ? this.core.reg.state.snapshots[tgtCluster.restoredFrom] : undefined;
    if (!snapshot) return `The target ${tgtCluster.identifier} was not restored from a snapshot in the rehearsal cloud, so no native CDC start point matches it.`;
    const sb = snapshot.sourceBackend;
    if (sb.host !== source.host || sb.port !== source.port || sb.database !== source.database) {
      return `The target ${tgtCluster.identifier} was restored from snapshot ${snapshot.identifier} of another database than the source endpoint's (${source.database} on ${srcCluster.identifier}).`;
    }
    const slotName = typeof src.postgreSQLSettings.SlotName === 'string' ? src.postgreSQLSettings.SlotName : undefined;
    if (slotName === undefined) return 'A native CDC start point needs a logical replication slot: set PostgreSQLSettings.SlotName on the source endpoint.';
    const slot = await slotInfo(source, slotName);
    if (!slot) return `Replication slot '${slotName}' does not exist on the source database ${source.database}; create it before the snapshot.`;
    if (slot.database !== source.database) return `Replication slot '${slotName}' belongs to database ${slot.database}, not ${source.database}.`;
    const plugin = typeof src.postgreSQLSettings.PluginName === 'string' ? src.postgreSQLSettings.PluginName.toLowerCase() : 'pglogical';
    if (slot.plugin !== 'test_decoding' || !['test-decoding', 'test_decoding', 'no-preference'].includes(plugin)) {
      return `Replication slot '${slotName}' uses plugin ${slot.plugin} and the endpoint asks for ${plugin}; DMS needs a test_decoding slot with PluginName test-decoding.`;
    }
    if (slot.confirmedFlushLsn !== null && parseLsn(slot.confirmedFlushLsn) > parseLsn(snapshot.lsn)) {
      return `Replication slot '${slotName}' was created after the snapshot: its confirmed_flush_lsn ${slot.confirmedFlushLsn} is past the snapshot's LSN ${snapshot.lsn}, so changes in between are gone.`;
    }
    const start = position ?? t.cdcStartPosition;
    if (start === undefined) return 'CdcStartPosition is required for a CDC-only task from a native start point (PostgreSQL has no CDC start time).';
    if (!isLsn(start)) return `CdcStartPosition '${start}' is not a PostgreSQL LSN (like 0/16B3748).`;
    const diff = parseLsn(start) - parseLsn(snapshot.lsn);
    if (diff < 0n && !toleratesOverlap(t.taskSettings)) {
      return `CdcStartPosition ${start} is before the snapshot's LSN ${snapshot.lsn}: changes already in the restored target would be applied again (overlap of ${-diff} bytes of WAL). To replay them as upserts, set ErrorBehavior ApplyErrorInsertPolicy INSERT_RECORD and ApplyErrorUpdatePolicy UPDATE_RECORD in the task settings.`;
    }
    if (diff < 0n && slot.confirmedFlushLsn !== null && parseLsn(start) < parseLsn(slot.confirmedFlushLsn)) {
      return `CdcStartPosition ${start} is older than replication slot '${slotName}'s confirmed_flush_lsn ${slot.confirmedFlushLsn}: those changes are no longer in the slot.`;
    }
    if (diff > 0n) return `CdcStartPosition ${start} is after the snapshot's LSN ${snapshot.lsn}: changes in between would be lost (gap of ${diff} bytes of WAL).`;
    if (!(await slotInfo(source, snapshot.internalSlot))) return `The replication stream of snapshot ${snapshot.identifier} is gone (its slot was dropped with an earlier task); restore a new snapshot.`;
    const tables = selectTables(t.tableMappings, await listTables(source), this.core.runbook.cutover.sentinelTable);
    const base = `rh_${t.resourceId.toLowerCase()}`;
    const cdc = {
      source, target, snapshot: snapshot.identifier, internalSlot: snapshot.internalSlot, runnerSlot: slotName,
      publications: snapshot.publications, subscription: `${base}_sub`, tables: tables.map((x) => x.name), baseline: {},
    };
    if (diff < 0n && t.overlap === undefined) {
      // Before the snapshot's changes flow: the overlap from the task's start to the snapshot, as upserts.
      t.overlap = await replayOverlap({ source, target, slot: slotName, from: start, upTo: snapshot.lsn, tables: cdc.tables });
      this.core.reg.save();
      const o = t.overlap;
      this.core.log(
        `rehearsal: DMS task ${t.identifier} replayed the overlap ${o.from}..${o.upTo}: ${o.transactions} transactions, ${o.changes} changes; ${o.insertsAsUpdates} inserts applied as updates, ${o.updatesAsInserts} updates as inserts, ${o.deletesMissing} deletes of missing rows ignored, ${o.keylessInserts} inserts into tables without a primary key, ${o.skipped} changes skipped, ${o.applyErrors} refused by the target`,
      );
    }
    const sentinel = `public.${this.core.runbook.cutover.sentinelTable}`;
    await startSubscription({
      source, target, tables, publications: cdc.publications, subscription: cdc.subscription, internalSlot: cdc.internalSlot,
      ...(this.core.passfile !== undefined ? { passfile: this.core.passfile } : {}),
      ...(this.core.failures.drainNeverArrives && cdc.tables.includes(sentinel) ? { holdBackTable: sentinel } : {}),
    });
    t.cdc = { ...cdc, baseline: await this.baseline(cdc.source, cdc.target, cdc.tables) };
    return undefined;
  }

  /** Set up a MySQL task: the target server's replica from the snapshot's binlog position; a message when DMS would refuse. */
  private async startMysql(t: TaskRecord, position: string | undefined, srcCluster: ClusterRecord, tgtCluster: ClusterRecord): Promise<string | undefined> {
    const source = srcCluster.backend;
    const target = tgtCluster.backend;
    const snapshot = tgtCluster.restoredFrom !== undefined ? this.core.reg.state.snapshots[tgtCluster.restoredFrom] : undefined;
    if (!snapshot?.binlog) return `The target ${tgtCluster.identifier} was not restored from a MySQL snapshot in the rehearsal cloud, so no binlog start point matches it.`;
    const sb = snapshot.sourceBackend;
    if (sb.host !== source.host || sb.port !== source.port || sb.database !== source.database) {
      return `The target ${tgtCluster.identifier} was restored from snapshot ${snapshot.identifier} of another database than the source endpoint's (${source.database} on ${srcCluster.identifier}).`;
    }
    const start = position ?? t.cdcStartPosition;
    if (start === undefined) {
      return t.cdcStartTime !== undefined
        ? 'The rehearsal cloud starts MySQL CDC from a native start point only: a CdcStartTime cannot be matched exactly to the snapshot; use CdcStartPosition <file>:<pos>.'
        : 'CdcStartPosition is required for a CDC-only task that continues a restored snapshot.';
    }
    const from = tryParseBinlogPosition(start);
    if (!from) return `CdcStartPosition '${start}' is not a MySQL binlog position (like mysql-bin-changelog.000024:373).`;
    const logs = await binaryLogs(source);
    const log = logs.find((l) => l.name === from.file);
    if (!log) {
      return `Error 1236 reading the binary log: Could not find first log file name in binary log index file: ${from.file} is not among the source's binary logs (${logs.map((l) => l.name).join(', ') || 'none'}); it was purged or never existed.`;
    }
    if (from.position > log.size) return `Error 1236 reading the binary log: position ${from.position} is past the end of ${from.file} (${log.size} bytes).`;
    const at = binlogPosition(snapshot.binlog);
    const base = (f: string): string => f.slice(0, f.lastIndexOf('.'));
    if (base(from.file) !== base(at.file)) return `CdcStartPosition ${start} names another binary log than the snapshot's position ${formatBinlogPosition(at)}.`;
    const diff = binlogPositionValue(from) - binlogPositionValue(at);
    const amount = (a: typeof from, b: typeof from): string => (a.file === b.file ? `${Math.abs(a.position - b.position)} bytes of binlog` : `binlog from ${formatBinlogPosition(a)} to ${formatBinlogPosition(b)}`);
    if (diff < 0n) return `CdcStartPosition ${start} is before the snapshot's position ${formatBinlogPosition(at)}: changes already in the restored target would be applied again (overlap of ${amount(from, at)}).`;
    if (diff > 0n) return `CdcStartPosition ${start} is after the snapshot's position ${formatBinlogPosition(at)}: changes in between would be lost (gap of ${amount(at, from)}).`;
    const db = source.database;
    const sentinel = this.core.runbook.cutover.sentinelTable;
    const rules = parseSelection(t.tableMappings).filter((r) => like(r.schema, db));
    const doTables = [...new Set([...rules.filter((r) => r.action !== 'exclude').map((r) => `${db}.${r.table}`), `${db}.${sentinel}`])];
    const existing = await myTables(source);
    const excluded = (name: string): boolean => name !== sentinel && rules.some((r) => r.action === 'exclude' && like(r.table, name));
    const selected = existing.filter((name) => name === sentinel || (rules.some((r) => r.action !== 'exclude' && like(r.table, name)) && !excluded(name)));
    // Exclusions become exact ignores of the tables that exist now (the filter order puts them before the do-patterns).
    const ignoreTables = existing.filter(excluded).map((name) => `${db}.${name}`);
    // Fault injection: the replica skips the sentinel table, so the drain never sees its row while the rest flows.
    if (this.core.failures.drainNeverArrives) ignoreTables.push(`${db}.${sentinel}`);
    await startReplica({ target, sourceHost: source.host, sourcePort: source.port, ...replicationLogin(source), from, doTables, ignoreTables });
    const problem = await replicaStartProblem(target);
    if (problem !== undefined) return `Replication could not start: ${problem}`;
    t.cdc = {
      source, target, snapshot: snapshot.identifier, internalSlot: '', runnerSlot: '', publications: [], subscription: '', tables: selected.map((n) => `${db}.${n}`), baseline: {},
      mysql: { sourceHost: source.host, sourcePort: source.port, from: formatBinlogPosition(from), doTables, ignoreTables },
    };
    return undefined;
  }

  private async baseline(source: Backend, target: Backend, tables: string[]): Promise<Record<string, { source: [number, number, number]; target: [number, number, number] }>> {
    const [s, g] = await Promise.all([targetTuples(source, tables), targetTuples(target, tables)]);
    return Object.fromEntries(tables.map((name) => [name, { source: s[name] ?? [0, 0, 0], target: g[name] ?? [0, 0, 0] }]));
  }
}
