// verify: the identifier clients use now serves a cluster under the new key, and it accepts a connection.
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { mustFindDb, newKeyArn, withTarget } from './common.js';
import { isInstance } from './engine.js';
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
      { kind: 'aws', target: isInstance(rb) ? 'rds:DescribeDBInstances' : 'rds:DescribeDBClusters', summary: `${id} reports KmsKeyId = the new key ARN and is available` },
      { kind: 'sql', target: id, summary: 'connect and run a query', detail: 'SELECT 1' },
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
    return { identifier: id, kmsKeyId: keyArn, endpoint: `${db.host ?? ''}:${db.port ?? ''}`, serverVersion };
  },
};
