// DMS replication lag as CloudWatch sees it: while a task runs, a sampler compares the source's position with what
// the target has received and applied, and stores CDCLatencySource, CDCLatencyTarget and CDCIncomingChanges datapoints.
// It also fails a task on an injected fault or when the replication stream is gone.
import { binlogPositionValue } from '../../db/position.js';
import type { Core } from '../core.js';
import { masterPosition, myConfig, pendingTransactions, setReplicaRunning, slaveStatus, withMy } from '../engines/my-ops.js';
import { advanceSlot, observeSource, targetTuples } from '../engines/pg-ops.js';
import type { Datapoint, TaskRecord } from '../registry.js';
import { setCdcRunning } from './dms-cdc.js';

const SAMPLE_MS = 500;

/** Ages of WAL positions: when each was first seen as the server's current position. */
class LagClock {
  private samples: { t: number; lsn: bigint }[] = [];

  observe(t: number, current: bigint): void {
    const last = this.samples[this.samples.length - 1];
    if (!last || last.lsn < current) this.samples.push({ t, lsn: current });
  }

  /** Seconds since the oldest change past `pos` appeared (0 when `pos` is current). */
  age(now: number, pos: bigint): number {
    const first = this.samples.find((s) => s.lsn > pos);
    return first ? Math.max(0, (now - first.t) / 1000) : 0;
  }

  forget(upTo: bigint): void {
    const keep = this.samples.findIndex((s) => s.lsn > upTo);
    if (keep > 0) this.samples = this.samples.slice(keep - 1);
  }
}

interface Sampler {
  timer: NodeJS.Timeout;
  clock: LagClock;
  busy: boolean;
}

/** The running tasks' samplers. */
export class LagSamplers {
  private readonly samplers = new Map<string, Sampler>();
  /** Set by close: samples still in flight no longer report their failures. */
  private closed = false;

  /** `fail` marks a task failed (and stops its sampler). */
  constructor(private readonly core: Core, private readonly fail: (t: TaskRecord, message: string) => void) {}

  /** Sample `t` every SAMPLE_MS while it runs (once per task). */
  start(t: TaskRecord): void {
    if (this.samplers.has(t.identifier)) return;
    const sampler: Sampler = { clock: new LagClock(), busy: false, timer: setInterval(() => void this.sample(t, sampler), SAMPLE_MS) };
    sampler.timer.unref();
    this.samplers.set(t.identifier, sampler);
  }

  /** Stop sampling `t`. */
  stop(t: TaskRecord): void {
    const s = this.samplers.get(t.identifier);
    if (s) clearInterval(s.timer);
    this.samplers.delete(t.identifier);
  }

  private async sample(t: TaskRecord, sampler: Sampler): Promise<void> {
    const cdc = t.cdc;
    if (sampler.busy || !cdc || t.state !== 'running') return;
    sampler.busy = true;
    try {
      const failAfter = this.core.failures.dmsTaskFailsAfterSeconds;
      if (failAfter !== undefined && t.startedAt !== undefined && this.core.now() - t.startedAt >= failAfter * 1000) {
        await setCdcRunning(cdc, false);
        this.fail(t, `Injected fault: the task failed ${failAfter} s after it started (rehearsal.failures.dmsTaskFailsAfterSeconds).`);
        return;
      }
      if (cdc.mysql) {
        await this.sampleMysql(t, sampler);
        return;
      }
      const obs = await observeSource(cdc.source, cdc.subscription, cdc.internalSlot, cdc.tables);
      const target = await targetTuples(cdc.target, cdc.tables);
      const now = this.core.now();
      sampler.clock.observe(now, obs.current);
      const sourceLatency = sampler.clock.age(now, obs.written);
      const totalLatency = sampler.clock.age(now, obs.applied);
      sampler.clock.forget(obs.applied);
      let incoming = 0;
      for (const name of cdc.tables) {
        const b = cdc.baseline[name];
        const sum = (x: [number, number, number] | undefined): number => (x ? x[0] + x[1] + x[2] : 0);
        incoming += Math.max(0, sum(obs.tuples[name]) - sum(b?.source) - (sum(target[name]) - sum(b?.target)));
      }
      if (t.state !== 'running') return;
      this.publish(t, now, sourceLatency, totalLatency, incoming);
      if (obs.confirmed !== null) await advanceSlot(cdc.source, cdc.runnerSlot, obs.confirmed);
    } catch (error) {
      // A sample still in flight when the cloud closed fails as the servers stop: nothing to tell (and the CLI's
      // last JSON line must stay its summary).
      if (!this.closed) this.core.log(`rehearsal: sampling task ${t.identifier} failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      sampler.busy = false;
    }
  }

  /** One lag sample of a MySQL task: source SHOW MASTER STATUS against the replica's read and executed positions. */
  private async sampleMysql(t: TaskRecord, sampler: Sampler): Promise<void> {
    const cdc = t.cdc;
    if (!cdc) return;
    const current = await withMy(myConfig(cdc.source, ''), masterPosition);
    const st = await withMy(myConfig(cdc.target, ''), slaveStatus);
    if (!st) {
      this.fail(t, 'The replication stream is gone (the target has no replica configured).');
      return;
    }
    if (st.error !== undefined && (st.io === 'No' || st.sql === 'No')) {
      await setReplicaRunning(cdc.target, false).catch(() => undefined);
      this.fail(t, `Replication stopped: ${st.error}`);
      return;
    }
    const incoming = await withMy(myConfig(cdc.source, ''), (c) => pendingTransactions(c, st.exec, current)).catch(() => 0);
    const now = this.core.now();
    sampler.clock.observe(now, binlogPositionValue(current));
    const sourceLatency = sampler.clock.age(now, binlogPositionValue(st.read));
    const totalLatency = sampler.clock.age(now, binlogPositionValue(st.exec));
    sampler.clock.forget(binlogPositionValue(st.exec));
    if (t.state !== 'running') return;
    this.publish(t, now, sourceLatency, totalLatency, incoming);
  }

  private publish(t: TaskRecord, now: number, sourceLatency: number, totalLatency: number, incoming: number): void {
    const instance = Object.values(this.core.reg.state.replicationInstances).find((r) => r.arn === t.instanceArn);
    const d = { ReplicationInstanceIdentifier: instance?.identifier ?? '', ReplicationTaskIdentifier: t.resourceId };
    const point = (m: string, v: number): Datapoint => ({ t: now, ns: 'AWS/DMS', m, d, v });
    this.core.reg.addDatapoints([
      point('CDCLatencySource', round(sourceLatency)),
      point('CDCLatencyTarget', round(Math.max(0, totalLatency - sourceLatency))),
      point('CDCIncomingChanges', incoming),
    ]);
  }

  /** Stop every sampler. */
  close(): void {
    this.closed = true;
    for (const s of this.samplers.values()) clearInterval(s.timer);
    this.samplers.clear();
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
