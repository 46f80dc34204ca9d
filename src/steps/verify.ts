// verify: the identifier clients use now serves a cluster under the new key, and it accepts a connection; the
// evidence of the key change (which resource holds which key, read back from AWS) goes into the output and report.
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { findCluster, findInstance } from '../aws/rds.js';
import { findDb, mustFindDb, newKeyArn, output, withTarget } from './common.js';
import type { Ctx } from './common.js';
import { regionCloud } from '../topology/replicas.js';
import { isInstance } from './engine.js';
import type { RekeyServices } from './services.js';
import type { KeyedResource, VerifyOutput } from './outputs.js';

export type { KeyedResource, VerifyOutput } from './outputs.js';

const keyed = (d: { arn?: string | undefined; kmsKeyId?: string | undefined }): { arn?: string; kmsKeyId?: string } => ({ ...(d.arn ? { arn: d.arn } : {}), ...(d.kmsKeyId ? { kmsKeyId: d.kmsKeyId } : {}) });

/** The read replicas, new and old, each read back in its Region with its key (RDS instances with replicas). */
async function replicaEvidence(ctx: Ctx): Promise<KeyedResource[]> {
  const made = output(ctx, 'recreate-replicas')?.replicas ?? [];
  const out: KeyedResource[] = [];
  for (const r of made) {
    const cloud = regionCloud(ctx.services.cloud, r.region);
    if (!cloud) continue;
    const where = r.crossRegion ? ` in ${r.region}` : '';
    const [now, old] = await Promise.all([findInstance(cloud, r.identifier), r.oldNow !== r.identifier ? findInstance(cloud, r.oldNow) : Promise.resolve(undefined)]);
    const region = r.crossRegion ? { region: r.region } : {};
    out.push({ kind: 'read-replica', role: `read replica of the new primary${where}${now ? '' : ' (not found when verified)'}`, identifier: r.identifier, ...region, ...(now ? keyed({ arn: now.DBInstanceArn, kmsKeyId: now.KmsKeyId }) : {}) });
    if (old) out.push({ kind: 'read-replica', role: `old read replica${where} (attached to the old primary)`, identifier: r.oldNow, ...region, ...keyed({ arn: old.DBInstanceArn, kmsKeyId: old.KmsKeyId }) });
  }
  return out;
}

/** The global database's secondaries, new and old, each read back in its Region with its key (Aurora global databases). */
async function globalEvidence(ctx: Ctx): Promise<KeyedResource[]> {
  const out = output(ctx, 'topology-global');
  const out2: KeyedResource[] = [];
  for (const s of out?.secondaries ?? []) {
    const cloud = regionCloud(ctx.services.cloud, s.region);
    if (!cloud) continue;
    const [now, old] = await Promise.all([findCluster(cloud, s.identifier), s.oldNow !== s.identifier ? findCluster(cloud, s.oldNow) : Promise.resolve(undefined)]);
    out2.push({
      kind: 'cluster', role: `secondary in ${s.region} of global database ${out?.globalCluster ?? '?'} (headed by the new cluster)${now ? '' : ' (not found when verified)'}`, identifier: s.identifier, region: s.region,
      ...(now ? keyed({ arn: now.DBClusterArn, kmsKeyId: now.KmsKeyId }) : {}),
    });
    if (old) out2.push({ kind: 'cluster', role: `old secondary in ${s.region} (in global database ${out?.oldGlobalCluster ?? '?'} with the old cluster)`, identifier: s.oldNow, region: s.region, ...keyed({ arn: old.DBClusterArn, kmsKeyId: old.KmsKeyId }) });
  }
  return out2;
}

/** Aurora read replica clusters (binlog) rekey left where they were: read back in their Region, with the key they still have. */
async function replicaClusterEvidence(ctx: Ctx): Promise<KeyedResource[]> {
  const out: KeyedResource[] = [];
  for (const r of output(ctx, 'topology-readers')?.topology.replicaClusters ?? []) {
    const cloud = regionCloud(ctx.services.cloud, r.region);
    const now = cloud ? await findCluster(cloud, r.identifier) : undefined;
    out.push({
      kind: 'cluster', role: `read replica cluster in ${r.region} (binlog replication from the old cluster; NOT recreated by rekey)${now ? '' : ' (not found when verified)'}`, identifier: r.identifier, region: r.region,
      ...(now ? keyed({ arn: now.DBClusterArn, kmsKeyId: now.KmsKeyId }) : {}),
    });
  }
  return out;
}

export const verify: Step<RekeyServices, VerifyOutput> = {
  id: 'verify',
  title: 'Verify the database under the new key',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    const id = rb.cutover.switch === 'rename' ? rb.source.identifier : names.targetCluster;
    return [
      { kind: 'aws', target: isInstance(rb) ? 'rds:DescribeDBInstances' : 'rds:DescribeDBClusters', summary: `${id} reports KmsKeyId = the new key ARN and is available` },
      { kind: 'sql', target: id, summary: 'connect and run a query', detail: 'SELECT 1' },
      { kind: 'aws', target: 'rds:Describe*', summary: 'read back the key of the old database too: the evidence of the key change goes into the report' },
    ];
  },
  async run(ctx) {
    const { names, runbook: rb } = ctx.services;
    const id = rb.cutover.switch === 'rename' ? rb.source.identifier : names.targetCluster;
    const keyArn = await newKeyArn(ctx);
    const db = await mustFindDb(ctx, id, 'switched');
    if (db.kmsKeyId !== keyArn) {
      throw new StepError(`${id} reports KmsKeyId ${db.kmsKeyId ?? 'none'}, expected the new key ${keyArn}`, 'fatal');
    }
    if (db.status !== 'available') throw new StepError(`${id} is ${db.status ?? 'unknown'}, not available`, 'retryable');
    const serverVersion = await withTarget(ctx, (db) => db.serverVersion(), id);
    const kind = isInstance(rb) ? 'instance' : 'cluster';
    const resources: KeyedResource[] = [{ kind, role: 'serving the source identifier now', identifier: id, ...keyed(db) }];
    // Every member of the new cluster (writer and readers) with its key, and Performance Insights with its own key.
    const members = isInstance(rb) ? [{ id, role: 'instance' }] : ((await findCluster(ctx.services.cloud, id))?.DBClusterMembers ?? []).map((m) => ({ id: m.DBInstanceIdentifier ?? '?', role: m.IsClusterWriter ? 'writer' : 'reader' }));
    const oldKey = output(ctx, 'preflight')?.source?.kmsKeyId;
    for (const m of members) {
      const inst = await findInstance(ctx.services.cloud, m.id);
      if (!isInstance(rb) && inst) resources.push({ kind: 'instance', role: `${m.role} of the new cluster`, identifier: m.id, ...keyed({ ...(inst.DBInstanceArn ? { arn: inst.DBInstanceArn } : {}), ...(inst.KmsKeyId ? { kmsKeyId: inst.KmsKeyId } : {}) }) });
      if (inst && !isInstance(rb) && inst.KmsKeyId !== undefined && inst.KmsKeyId !== keyArn) {
        throw new StepError(`${m.id} (${m.role} of ${id}) reports KmsKeyId ${inst.KmsKeyId}, expected the new key ${keyArn}`, 'fatal');
      }
      if (inst?.PerformanceInsightsEnabled && inst.PerformanceInsightsKMSKeyId) {
        resources.push({ kind: 'performance-insights', role: `Performance Insights data of ${m.role === 'instance' ? 'the new database' : `the new ${m.role}`}`, identifier: m.id, kmsKeyId: inst.PerformanceInsightsKMSKeyId });
        if (oldKey !== undefined && inst.PerformanceInsightsKMSKeyId === oldKey) {
          ctx.report.log('warn', `Performance Insights data of ${m.id} is encrypted with the old key ${oldKey}: that key is still in use`);
        }
      }
    }
    const oldId = rb.cutover.switch === 'rename' ? names.oldName : rb.source.identifier;
    const old = await findDb(ctx, oldId);
    if (old) resources.push({ kind, role: 'the old database (kept for rollback)', identifier: old.id, ...keyed(old) });
    const snap = output(ctx, 'snapshot');
    if (snap) resources.push({ kind: 'snapshot', role: 'snapshot of the source', identifier: snap.snapshotId, ...(snap.snapshotArn ? { arn: snap.snapshotArn } : {}) });
    const copy = output(ctx, 'copy-snapshot');
    if (copy) resources.push({ kind: 'snapshot', role: 'copy under the new key (restored from; key as read when the copy finished)', identifier: copy.snapshotId, kmsKeyId: copy.kmsKeyId, ...(copy.snapshotArn ? { arn: copy.snapshotArn } : {}) });
    resources.push(...(await replicaEvidence(ctx)));
    resources.push(...(await globalEvidence(ctx)));
    resources.push(...(await replicaClusterEvidence(ctx)));
    const evidence = { at: new Date(ctx.services.clock.now()).toISOString(), resources };
    return { identifier: id, kmsKeyId: keyArn, endpoint: `${db.host ?? ''}:${db.port ?? ''}`, serverVersion, evidence };
  },
};
