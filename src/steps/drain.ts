// drain: prove the last change arrived. A sentinel row unique to this attempt is written on the fenced
// source; the target must show it within drainTimeoutSeconds, else unfence and go back to catch-up.
import { randomBytes } from 'node:crypto';
import { crashPoint } from '../engine/crash.js';
import { poll } from '../aws/poll.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import type { Ctx } from './common.js';
import type { DbAdapter } from '../db/types.js';
import { clusterEndpoint, required, withEndpoint, withSource, withStatementTimeout } from './common.js';
import { profile } from './engine.js';
import { fenceBudgetMs, fenceExclusions, unfence } from './fence.js';
import type { RekeyServices } from './services.js';
import type { DrainOutput } from './outputs.js';

export type { DrainOutput } from './outputs.js';

/** The drain; `crashAs` names its crash points (`drain:after-sentinel`; another for the consistent point's drain). */
export function drainStepAs(crashAs: string): Step<RekeyServices, DrainOutput> {
  return {
    id: 'drain',
    title: 'Drain: wait for the sentinel row on the target',
    describe(ctx) {
      const rb = ctx.services.runbook;
      return [
        { kind: 'sql', target: 'source', summary: `insert a unique token into ${profile(rb).sentinelSchema}.${rb.cutover.sentinelTable}` },
        { kind: 'wait', target: 'target', summary: `until the token is on the target (at most ${rb.cutover.drainTimeoutSeconds} s; on timeout unfence and return to catch-up, never switch)` },
      ];
    },
    async run(ctx) {
      const { runbook: rb, clock, names } = ctx.services;
      const fence = required(ctx, 'fence', 'drain');
      const budget = fenceBudgetMs(ctx, 'drain');
      // Unique even for two drains of one attempt in the same millisecond (the consistent point's and the cutover's).
      const token = `${ctx.runId}-${ctx.attempt}-${clock.now().toString(36)}-${randomBytes(3).toString('hex')}`;
      // Every statement inside the fence is cut off at what is left of the time box.
      const bounded = withStatementTimeout(ctx, budget);
      await withSource(bounded, async (src) => {
        const exclude = fenceExclusions(ctx);
        const fenced = new Set(fence.principals.map((p) => p.name));
        const loose = (await src.writerPrincipals(exclude)).filter((p) => fenced.has(p));
        if (loose.length > 0) {
          throw new StepError(`the source is no longer fenced (${loose.join(', ')} can log in): fence again before draining`, 'retryable', [], { retryFrom: 'fence' });
        }
        await src.writeSentinel(rb.cutover.sentinelTable, token);
      });
      crashPoint(`${crashAs}:after-sentinel`);
      const written = clock.now();
      const timeoutMs = Math.min(rb.cutover.drainTimeoutSeconds * 1000, budget);
      try {
        await withEndpoint(bounded, await clusterEndpoint(ctx, names.targetCluster, false), (tgt) => waitForSentinel(ctx, tgt, token, 'on the target', timeoutMs));
      } catch (error) {
        if (!(error instanceof StepError && error.kind === 'retryable')) throw error;
        await unfence(ctx);
        throw new StepError(
          `drain timed out after ${Math.round(timeoutMs / 1000)} s: the sentinel row did not reach the target. The source was unfenced and the run went back to catch-up; nothing was switched.`,
          'retryable',
          [],
          { cause: error, retryFrom: 'catch-up' },
        );
      }
      const waitedMs = clock.now() - written;
      ctx.report.metric('drain.ms', waitedMs, 'ms');
      return { token, waitedMs };
    },
  };
}

export const drainStep = drainStepAs('drain');

/** Polls the target (at the fenced poll interval) until sentinel `token` is there; throws poll's timeout after timeoutMs. */
export async function waitForSentinel(ctx: Ctx, tgt: DbAdapter, token: string, where: string, timeoutMs: number): Promise<void> {
  const { runbook: rb, clock, timing } = ctx.services;
  const delay = timing.fencedPollMs ?? Math.min(timing.pollMs, 250);
  await poll({
    what: `sentinel ${token} ${where}`,
    observe: () => tgt.hasSentinel(rb.cutover.sentinelTable, token),
    classify: (seen) => (seen ? { state: 'success' } : { state: 'retry', note: 'not arrived yet' }),
    clock,
    signal: ctx.signal,
    minDelayMs: delay,
    maxDelayMs: delay,
    timeoutMs,
  });
}
