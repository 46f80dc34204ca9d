// verify: the identifier clients use now serves a cluster under the new key, and it accepts a connection.
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { mustFindCluster, newKeyArn, withTarget } from './common.js';
import type { RekeyServices } from './services.js';

/** What was verified. */
export interface VerifyOutput {
  identifier: string;
  kmsKeyId: string;
  /** host:port now serving it. */
  endpoint: string;
  serverVersion: string;
}

export const verify: Step<RekeyServices, VerifyOutput> = {
  id: 'verify',
  title: 'Verify the database under the new key',
  describe(ctx) {
    const { names, runbook: rb } = ctx.services;
    const id = rb.cutover.switch === 'rename' ? rb.source.identifier : names.targetCluster;
    return [
      { kind: 'aws', target: 'rds:DescribeDBClusters', summary: `${id} reports KmsKeyId = the new key ARN and is available` },
      { kind: 'sql', target: id, summary: 'connect and run a query', detail: 'SELECT 1' },
    ];
  },
  async run(ctx) {
    const { names, runbook: rb } = ctx.services;
    const id = rb.cutover.switch === 'rename' ? rb.source.identifier : names.targetCluster;
    const keyArn = await newKeyArn(ctx);
    const cluster = await mustFindCluster(ctx, id, 'switched');
    if (cluster.KmsKeyId !== keyArn) {
      throw new StepError(`${id} reports KmsKeyId ${cluster.KmsKeyId ?? 'none'}, expected the new key ${keyArn}`, 'fatal');
    }
    if (cluster.Status !== 'available') throw new StepError(`${id} is ${cluster.Status ?? 'unknown'}, not available`, 'retryable');
    const serverVersion = await withTarget(ctx, (db) => db.serverVersion(), id);
    return { identifier: id, kmsKeyId: keyArn, endpoint: `${cluster.Endpoint ?? ''}:${cluster.Port ?? ''}`, serverVersion };
  },
};
