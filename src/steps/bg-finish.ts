// After the switchover (strategy blue-green): sequences and AUTO_INCREMENT on the new primary against the old one
// (logical replication does not carry sequence values), the verification that the source identifier now serves the
// new key with the evidence of every resource, and the optional deletion of the deployment object (never DeleteTarget
// after a switchover: the -old1 resources stay, on the old key, listed in the report).
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { deleteDeployment, findOwnDeployment, idOfArn, isClusterArn, oldName } from './bg-common.js';
import { greenKeys } from './bg-attest.js';
import { findDb, mustFindDb, newKeyArn, output, required, withTarget } from './common.js';
import { family, isInstance } from './engine.js';
import { raiseAndVerify, requiredNext } from './fix-sequences.js';
import type { FixSequencesOutput } from './fix-sequences.js';
import type { RekeyServices } from './services.js';
import type { BgDeleteOutput, KeyedResource, VerifyOutput } from './outputs.js';

export const bgFixSequences: Step<RekeyServices, FixSequencesOutput> = {
  id: 'fix-sequences',
  title: 'Check sequences on the new primary against the old one, raise any behind',
  describe(ctx) {
    const id = ctx.services.runbook.source.identifier;
    const what = family(ctx.services.runbook) === 'mysql' ? 'AUTO_INCREMENT counter' : 'sequence position';
    return [
      { kind: 'sql', target: oldName(id), summary: `read every ${what} on the old primary (blue, writes stopped by the switchover)` },
      { kind: 'sql', target: id, summary: `raise every ${what} on the new primary to at least the old one's and max(column) + 1 (never lower), then verify` },
    ];
  },
  async run(ctx) {
    const id = ctx.services.runbook.source.identifier;
    const oldSeqs = await withTarget(ctx, (db) => db.sequences(), oldName(id));
    const oldNext = new Map(oldSeqs.map((s) => [s.name, s.nextValue]));
    return withTarget(
      ctx,
      async (db) => {
        const seqs = await db.sequences();
        const need = await requiredNext(db, seqs, oldNext);
        const missing = oldSeqs.filter((s) => !seqs.some((t) => t.name === s.name)).map((s) => `${s.name}: exists on the old primary but not on the new one`);
        return raiseAndVerify(ctx, db, seqs, need, missing, 'the new primary', oldNext);
      },
      id,
    );
  },
};

export const bgVerify: Step<RekeyServices, VerifyOutput> = {
  id: 'verify',
  title: 'Verify the source identifier serves the new key; the evidence',
  describe: (ctx) => {
    const id = ctx.services.runbook.source.identifier;
    return [
      { kind: 'aws', target: isInstance(ctx.services.runbook) ? 'rds:DescribeDBInstances' : 'rds:DescribeDBClusters', summary: `${id} reports KmsKeyId = the new key ARN and is available` },
      { kind: 'sql', target: id, summary: 'connect and run a query', detail: 'SELECT 1' },
      { kind: 'aws', target: 'rds:Describe*', summary: `every switched resource and the ${oldName(id)} ones (still on the old key) go into the report` },
    ];
  },
  async run(ctx) {
    const id = ctx.services.runbook.source.identifier;
    const keyArn = await newKeyArn(ctx);
    const db = await mustFindDb(ctx, id, 'switched');
    if (db.kmsKeyId !== keyArn) throw new StepError(`${id} reports KmsKeyId ${db.kmsKeyId ?? 'none'}, expected the new key ${keyArn}`, 'fatal');
    if (db.status !== 'available') throw new StepError(`${id} is ${db.status ?? 'unknown'}, not available`, 'retryable');
    const serverVersion = await withTarget(ctx, (a) => a.serverVersion(), id);
    // After the switchover green carries blue's names: the members, named as blue was, must all be on the new key.
    const switched = required(ctx, 'bg-switchover', 'verify').members.map((m) => ({ source: m.target, target: m.source }));
    const now = (await greenKeys(ctx, switched.map((m) => ({ source: m.source, target: m.target })))).map((r) => ({ ...r, role: r.kind === 'performance-insights' ? r.role : 'switched: serves the name now (new key)' }));
    const wrong = now.filter((r) => r.kmsKeyId !== keyArn);
    if (wrong.length > 0) throw new StepError(`${wrong.length} switched resources are not on the new key`, 'fatal', wrong.map((r) => `${r.kind} ${r.identifier}: ${r.kmsKeyId ?? 'no key'}`));
    const old: KeyedResource[] = [];
    for (const m of switched) {
      const oldId = oldName(idOfArn(m.target));
      const found = isClusterArn(m.target) ? await findDb(ctx, oldId) : await instanceKey(ctx, oldId);
      if (found) old.push({ kind: isClusterArn(m.target) ? 'cluster' : 'instance', role: 'old (blue), renamed by AWS, still on the old key: delete it when no longer needed', identifier: oldId, ...(found.arn ? { arn: found.arn } : {}), ...(found.kmsKeyId ? { kmsKeyId: found.kmsKeyId } : {}) });
    }
    for (const o of old) ctx.report.log('info', `${o.kind} ${o.identifier} is still on ${o.kmsKeyId ?? 'the old key'}`);
    const evidence = { at: new Date(ctx.services.clock.now()).toISOString(), resources: [...now, ...old] };
    return { identifier: id, kmsKeyId: keyArn, endpoint: `${db.host ?? ''}:${db.port ?? ''}`, serverVersion, evidence };
  },
};

async function instanceKey(ctx: Parameters<Step<RekeyServices>['run']>[0], id: string): Promise<{ arn?: string; kmsKeyId?: string } | undefined> {
  const out = await ctx.services.cloud.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })).catch(() => undefined);
  const i = out?.DBInstances?.[0];
  return i ? { ...(i.DBInstanceArn ? { arn: i.DBInstanceArn } : {}), ...(i.KmsKeyId ? { kmsKeyId: i.KmsKeyId } : {}) } : undefined;
}

export type { BgDeleteOutput };

export const bgDelete: Step<RekeyServices, BgDeleteOutput> = {
  id: 'bg-delete',
  title: 'Delete the deployment object (optional; never its resources)',
  describe: (ctx) =>
    ctx.services.runbook.blueGreen.deleteDeploymentAfter
      ? [{ kind: 'aws', target: 'rds:DeleteBlueGreenDeployment', summary: 'delete the deployment object; the -old1 resources stay (no DeleteTarget after a switchover)' }]
      : [{ kind: 'note', target: 'deployment', summary: 'kept (blueGreen.deleteDeploymentAfter: false); the -old1 resources stay on the old key' }],
  async run(ctx) {
    if (!ctx.services.runbook.blueGreen.deleteDeploymentAfter) return { deleted: false };
    const d = await findOwnDeployment(ctx);
    if (!d) return { deleted: output(ctx, 'bg-delete')?.deleted ?? true };
    await deleteDeployment(ctx, d, false);
    return { deleted: true };
  },
};
