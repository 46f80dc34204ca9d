// bg-attest: before the gate, read back every green cluster and instance and require the new key's ARN (and, where
// Performance Insights is on, its key too). A green on any other key stops the run before anything is switched.
import { findCluster, findInstance } from '../aws/rds.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { findOwnDeployment, greenMembers, idOfArn, isClusterArn } from './bg-common.js';
import { newKeyArn, required } from './common.js';
import type { Ctx } from './common.js';
import type { BgAttestOutput, KeyedResource } from './outputs.js';
import type { RekeyServices } from './services.js';

export type { BgAttestOutput };

/** Green resources and their keys (clusters, instances, Performance Insights). */
export async function greenKeys(ctx: Ctx, members: { source: string; target: string }[]): Promise<KeyedResource[]> {
  const cloud = ctx.services.cloud;
  const out: KeyedResource[] = [];
  for (const m of members) {
    const id = idOfArn(m.target);
    if (isClusterArn(m.target)) {
      const c = await findCluster(cloud, id);
      out.push({ kind: 'cluster', role: `green of ${idOfArn(m.source)}`, identifier: id, arn: m.target, ...(c?.KmsKeyId ? { kmsKeyId: c.KmsKeyId } : {}) });
      continue;
    }
    const i = await findInstance(cloud, id);
    out.push({ kind: 'instance', role: `green of ${idOfArn(m.source)}`, identifier: id, arn: m.target, ...(i?.KmsKeyId ? { kmsKeyId: i.KmsKeyId } : {}) });
    if (i?.PerformanceInsightsEnabled && i.PerformanceInsightsKMSKeyId) {
      out.push({ kind: 'performance-insights', role: `Performance Insights of green ${id}`, identifier: id, kmsKeyId: i.PerformanceInsightsKMSKeyId });
    }
  }
  return out;
}

export const bgAttest: Step<RekeyServices, BgAttestOutput> = {
  id: 'bg-attest',
  title: 'Attest that every green resource is on the new key',
  describe: (ctx) => [
    { kind: 'aws', target: 'rds:DescribeBlueGreenDeployments', summary: 'the green members (SwitchoverDetails TargetMember)' },
    { kind: 'aws', target: 'rds:DescribeDBClusters/DescribeDBInstances', summary: `each green cluster/instance reports KmsKeyId = the ARN of ${ctx.services.runbook.target.kmsKeyId} (and its Performance Insights key, where on)` },
  ],
  async run(ctx) {
    const created = required(ctx, 'bg-create', 'bg-attest');
    const d = await findOwnDeployment(ctx);
    const members = d ? greenMembers(d) : created.members;
    if (members.length === 0) throw new StepError(`deployment ${created.name} reports no green members`, 'fatal');
    const keyArn = await newKeyArn(ctx);
    const resources = await greenKeys(ctx, members);
    const wrong = resources.filter((r) => r.kmsKeyId !== keyArn);
    for (const r of resources) ctx.report.progress(`${r.kind} ${r.identifier}: ${r.kmsKeyId ?? 'no key reported'}`);
    if (wrong.length > 0) {
      throw new StepError(
        `${wrong.length} green resource${wrong.length === 1 ? ' is' : 's are'} not on the new key ${keyArn}: not switching over`,
        'fatal',
        [...wrong.map((r) => `${r.kind} ${r.identifier}: ${r.kmsKeyId ?? 'no key'}`), '`rekey rollback` deletes the deployment and its green resources'],
      );
    }
    return { keyArn, resources };
  },
};
