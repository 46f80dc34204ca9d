// How many connections per side a comparison opens while the application still writes (src/steps/capacity.ts).
import { unfencedCompareConnections, vcpusOf } from '../../src/steps/capacity.js';
import type { Ctx } from '../../src/steps/common.js';
import { testRunbook } from './steps-world.js';

describe('vCPUs of an instance class', () => {
  test('read from the size, as the RDS instance class tables give them', () => {
    expect(vcpusOf('db.r6g.large')).toBe(2);
    expect(vcpusOf('db.r6g.xlarge')).toBe(4);
    expect(vcpusOf('db.m5.4xlarge')).toBe(16);
    expect(vcpusOf('db.r7g.16xlarge')).toBe(64);
    expect(vcpusOf('db.t3.medium')).toBe(2);
    expect(vcpusOf('db.t4g.micro')).toBe(2);
    expect(vcpusOf('db.t2.small')).toBe(1);
  });

  test('unknown where the size does not tell', () => {
    expect(vcpusOf('db.serverless')).toBeUndefined();
    expect(vcpusOf('db.m5.metal')).toBeUndefined();
    expect(vcpusOf(undefined)).toBeUndefined();
    expect(vcpusOf('r6g.large')).toBeUndefined();
  });
});

describe('connections per side while writes go on', () => {
  const ctx = (validation: Record<string, unknown>, target: Record<string, unknown> = {}, writerClass?: string): Ctx => {
    const runbook = testRunbook({ validation, target: { kmsKeyId: 'alias/app-new', ...target } });
    return { services: { runbook }, outputs: writerClass ? { preflight: { source: { identifier: 'app-db', writerClass } } } : {} } as unknown as Ctx;
  };

  test('half the smaller writer\'s vCPUs, at least one, never more than validation.concurrency', () => {
    expect(unfencedCompareConnections(ctx({ concurrency: 4 }, {}, 'db.r6g.large'))).toEqual({
      connections: 1,
      capped: '1 connection per side, not validation.concurrency 4: db.r6g.large has 2 vCPUs and validation.cpuShare 0.5 leaves the rest to the application\'s writes',
    });
    expect(unfencedCompareConnections(ctx({ concurrency: 4 }, {}, 'db.r6g.4xlarge'))).toEqual({ connections: 4 });
    expect(unfencedCompareConnections(ctx({ concurrency: 8 }, {}, 'db.r6g.2xlarge')).connections).toBe(4);
    // The new writer is smaller than the source's: it bounds the target side, so both sides.
    expect(unfencedCompareConnections(ctx({ concurrency: 8 }, { instanceClass: 'db.r6g.xlarge' }, 'db.r6g.8xlarge')).connections).toBe(2);
  });

  test('validation.cpuShare 1 lets the compare use every vCPU; an unknown class leaves concurrency as it is', () => {
    expect(unfencedCompareConnections(ctx({ concurrency: 4, cpuShare: 1 }, {}, 'db.r6g.large')).connections).toBe(2);
    expect(unfencedCompareConnections(ctx({ concurrency: 4 }, {}, 'db.serverless'))).toEqual({ connections: 4 });
    expect(unfencedCompareConnections(ctx({ concurrency: 4 }))).toEqual({ connections: 4 });
  });
});
