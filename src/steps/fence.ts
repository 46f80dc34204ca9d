// fence: stop every writer role from writing on the source, time-boxed; the FenceState (what each role
// looked like before) is the step output, so unfence restores exactly that, even after a resume.
import { normalizeAddress } from '../db/types.js';
import type { DbAdapter, FenceState, OpenSession } from '../db/types.js';
import { findReplicationInstance } from '../aws/dms.js';
import { InterruptedError, StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { dmsUsername, output, withSource } from './common.js';
import { profile } from './engine.js';
import type { Ctx } from './common.js';
import type { FenceOutput } from './outputs.js';
import type { RekeyServices } from './services.js';

/** Users the fence never touches: rekey's own and DMS's. */
export function fenceExclusions(ctx: Ctx): string[] {
  const rb = ctx.services.runbook;
  return [...new Set([rb.source.username, dmsUsername(rb)])];
}

/**
 * The fence in effect, if any: the one this process applied and has not lifted (`inFlight`), else the fence step's
 * output, else what an attempt killed mid-fence journaled before it changed anything.
 */
export function currentFence(ctx: Ctx, inFlight?: FenceState): FenceState | undefined {
  return inFlight ?? output(ctx, 'fence') ?? fenceCheckpoint(ctx);
}

/** The roles' state journaled by the fence step before it changed anything. */
function fenceCheckpoint(ctx: Ctx): FenceState | undefined {
  return ctx.checkpoints?.fence?.before as FenceState | undefined;
}

/** Restores the roles to their pre-fence state (idempotent). Returns whether there was a fence to lift. */
export async function unfence(ctx: Ctx, inFlight?: FenceState): Promise<boolean> {
  const state = currentFence(ctx, inFlight);
  if (!state) return false;
  await withSource(ctx, (db) => db.unfence(state));
  ctx.report.log('info', `unfenced ${state.principals.map((p) => p.name).join(', ') || 'nothing'}`);
  return true;
}

/** How long the source has been fenced, or undefined when it is not. */
export function fencedForMs(ctx: Ctx): number | undefined {
  const state = output(ctx, 'fence');
  return state ? ctx.services.clock.now() - Date.parse(state.at) : undefined;
}

/** Milliseconds left of cutover.fenceTimeoutSeconds; throws (and the flow unfences) once it is spent. */
export function fenceBudgetMs(ctx: Ctx, stepId: string): number {
  const limit = ctx.services.runbook.cutover.fenceTimeoutSeconds * 1000;
  const fenced = fencedForMs(ctx);
  if (fenced === undefined) return limit;
  const left = limit - fenced;
  if (left <= 0) {
    throw new StepError(
      `the source has been fenced for ${Math.round(fenced / 1000)} s, over cutover.fenceTimeoutSeconds (${limit / 1000} s): stopping before ${stepId}; the source is unfenced and nothing was switched`,
      'retryable',
      [],
      { retryFrom: 'catch-up' },
    );
  }
  return left;
}

/** Sessions of `users` (rekey's and DMS's logins) from other clients than rekey and the DMS replication instance. */
export async function foreignSessions(db: DbAdapter, users: string[], dmsAddresses: readonly string[]): Promise<OpenSession[]> {
  const dms = new Set(dmsAddresses.map(normalizeAddress));
  // A resolved name may stand for several addresses (joined by /): any of them being DMS's makes it DMS's.
  return (await db.openSessions(users)).filter((x) => !x.client.split('/').some((a) => dms.has(a)));
}

/** One line per session: user@client (application). */
export function describeSessions(sessions: readonly OpenSession[]): string {
  return sessions.map((x) => `${x.user}@${x.client}${x.application ? ` (${x.application})` : ''}`).join(', ');
}

/** The DMS replication instance's addresses now (a Multi-AZ failover moves them), else as dms-setup saw them. */
async function dmsAddresses(ctx: Ctx): Promise<string[]> {
  if (!ctx.services.runbook.dms) return [];
  try {
    const ri = await findReplicationInstance(ctx.services.cloud, ctx.services.names.replicationInstance);
    if (ri) return [...(ri.ReplicationInstancePrivateIpAddresses ?? []), ...(ri.ReplicationInstancePublicIpAddresses ?? []), ...(ri.ReplicationInstanceIpv6Addresses ?? [])];
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
  }
  return output(ctx, 'dms-setup')?.instanceAddresses ?? [];
}

/**
 * The fence cannot lock out the login rekey (and by default DMS) uses. Lists that login's sessions from other
 * clients and applies cutover.openSessions: refuse throws (and the flow lifts the fence), also when the list
 * cannot be read; warn logs and returns them. `when` says at which point of the cutover this looks.
 */
export async function guardOpenSessions(ctx: Ctx, db: DbAdapter, addresses: readonly string[], when: string): Promise<OpenSession[]> {
  const rb = ctx.services.runbook;
  const users = fenceExclusions(ctx);
  let open: OpenSession[];
  try {
    open = await foreignSessions(db, users, addresses);
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    const why = `cannot list the sessions of ${users.join('/')} ${when}: ${error instanceof Error ? error.message : String(error)}`;
    if (rb.cutover.openSessions === 'warn') {
      ctx.report.log('warn', `${why}; going on (cutover.openSessions: warn)`);
      return [];
    }
    throw new StepError(`refusing to cut over: ${why}`, 'retryable', ['the fence is lifted; `rekey resume` tries again']);
  }
  if (open.length === 0) return [];
  const what = `${open.length} session${open.length === 1 ? '' : 's'} of ${users.join('/')} from other clients ${open.length === 1 ? 'is' : 'are'} open ${when}: ${describeSessions(open)}. The fence cannot lock out the login rekey${users.length > 1 ? ' and DMS use' : ' uses'}; writes they make after the drain are not replicated and are lost at the switch.`;
  ctx.report.publish('unfencedSessions', open);
  if (rb.cutover.openSessions === 'warn') {
    ctx.report.log('warn', `${what} Going on (cutover.openSessions: warn).`);
    return open;
  }
  // The flow lifts the fence (makeSafe) when the step fails.
  throw new StepError(`refusing to cut over: ${what}`, 'retryable', [
    'close those sessions, or give the application its own login (it is then fenced with the other writer roles), then `rekey resume`',
    'if they are known to be read-only (monitoring, say), set cutover.openSessions: warn in the runbook',
  ]);
}

/**
 * The fence step. Its undo lifts the fence (the engine calls it to make the source safe and on rollback); it also
 * remembers, in this process, a fence applied by an attempt that has not finished (for contexts without checkpoints).
 */
export function fenceStep(): Step<RekeyServices, FenceOutput> {
  let inFlight: FenceState | undefined;
  return {
    id: 'fence',
    title: 'Fence writes on the source',
    describe(ctx) {
      const rb = ctx.services.runbook;
      const who = rb.cutover.writerRoles?.join(', ') ?? `every login role except ${fenceExclusions(ctx).join(', ')}`;
      return [
        { kind: 'sql', target: 'source', summary: `fence ${who}: ${profile(rb).fenceVerb}`, detail: `at most ${rb.cutover.fenceTimeoutSeconds} s; the previous role settings are journaled and restored by unfence` },
        {
          kind: 'sql', target: 'source', summary: `list sessions of ${fenceExclusions(ctx).join('/')} from clients other than rekey and the DMS instance`,
          detail: rb.cutover.openSessions === 'warn' ? 'report them and go on (cutover.openSessions: warn)' : 'any: unfence and stop before the drain (cutover.openSessions: refuse)',
        },
      ];
    },
    async run(ctx) {
      const rb = ctx.services.runbook;
      const exclude = fenceExclusions(ctx);
      // Read before the fence goes up: inside it every call is write downtime.
      const addresses = await dmsAddresses(ctx);
      return withSource(ctx, async (db) => {
        const principals = (rb.cutover.writerRoles ?? (await db.writerPrincipals(exclude))).filter((p) => !exclude.includes(p));
        if (principals.length === 0) ctx.report.log('warn', 'no writer roles to fence: nothing stops writes during the cutover');
        // The roles' state is journaled before anything changes: a runner killed mid-fence must not come back,
        // read the half-fenced roles as "before", and later restore them fenced.
        const previous = fenceCheckpoint(ctx);
        const state = await db.fence(principals, {
          ...(previous ? { previous } : {}),
          beforeChange: async (before) => {
            inFlight = before;
            await ctx.checkpoint?.('before', before);
          },
        });
        inFlight = state;
        ctx.report.log('info', `fenced ${principals.join(', ') || 'nothing'}`);
        const open = await guardOpenSessions(ctx, db, addresses, 'once the fence is up');
        return { ...state, dmsAddresses: addresses, ...(open.length > 0 ? { unfenced: open } : {}) };
      });
    },
    inEffect: (ctx) => currentFence(ctx, inFlight) !== undefined,
    async undo(ctx) {
      await unfence(ctx, inFlight);
      inFlight = undefined;
    },
  };
}
