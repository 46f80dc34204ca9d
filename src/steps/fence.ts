// fence: stop every writer role from writing on the source, time-boxed; the FenceState (what each role
// looked like before) is the step output, so unfence restores exactly that, even after a resume.
import type { DbAdapter, FenceState, OpenSession } from '../db/types.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { dmsUsername, output, withSource } from './common.js';
import type { DmsSetupOutput } from './dms-setup.js';
import { profile } from './engine.js';
import type { Ctx } from './common.js';
import type { RekeyServices } from './services.js';

/** Holds a fence applied by a step that has not finished yet (the journal only has finished outputs). */
export class FenceTracker {
  /** The fence currently applied by an unfinished step. */
  inFlight: FenceState | undefined;
}

/** Users the fence never touches: rekey's own and DMS's. */
export function fenceExclusions(ctx: Ctx): string[] {
  const rb = ctx.services.runbook;
  return [...new Set([rb.source.username, dmsUsername(rb)])];
}

/**
 * The fence in effect, if any: the in-flight one first, else the fence step's output, else what an attempt
 * killed mid-fence journaled before it changed anything.
 */
export function currentFence(ctx: Ctx, tracker: FenceTracker): FenceState | undefined {
  return tracker.inFlight ?? output<FenceState>(ctx, 'fence') ?? (ctx.checkpoints?.fence?.before as FenceState | undefined);
}

/** Restores the roles to their pre-fence state (idempotent). Returns whether there was a fence to lift. */
export async function unfence(ctx: Ctx, tracker: FenceTracker): Promise<boolean> {
  const state = currentFence(ctx, tracker);
  if (!state) return false;
  await withSource(ctx, (db) => db.unfence(state));
  tracker.inFlight = undefined;
  ctx.report.log('info', `unfenced ${state.principals.map((p) => p.name).join(', ') || 'nothing'}`);
  return true;
}

/** How long the source has been fenced, or undefined when it is not. */
export function fencedForMs(ctx: Ctx): number | undefined {
  const state = output<FenceState>(ctx, 'fence');
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
  return (await db.openSessions(users)).filter((x) => !dmsAddresses.includes(x.client));
}

/** One line per session: user@client (application). */
export function describeSessions(sessions: readonly OpenSession[]): string {
  return sessions.map((x) => `${x.user}@${x.client}${x.application ? ` (${x.application})` : ''}`).join(', ');
}

/** Sessions of the excluded logins the fence left open, minus DMS's own (from its replication instance). */
async function sessionsLeftOpen(ctx: Ctx, db: DbAdapter, users: string[]): Promise<OpenSession[]> {
  try {
    return await foreignSessions(db, users, output<DmsSetupOutput>(ctx, 'dms-setup')?.instanceAddresses ?? []);
  } catch (error) {
    ctx.report.log('warn', `could not list the sessions the fence leaves open: ${error instanceof Error ? error.message : String(error)}`);
    return [];
  }
}

export function fenceStep(tracker: FenceTracker): Step<RekeyServices, FenceState> {
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
      return withSource(ctx, async (db) => {
        const principals = (rb.cutover.writerRoles ?? (await db.writerPrincipals(exclude))).filter((p) => !exclude.includes(p));
        if (principals.length === 0) ctx.report.log('warn', 'no writer roles to fence: nothing stops writes during the cutover');
        // The roles' state is journaled before anything changes: a runner killed mid-fence must not come back,
        // read the half-fenced roles as "before", and later restore them fenced.
        const previous = ctx.checkpoints?.fence?.before as FenceState | undefined;
        const state = await db.fence(principals, {
          ...(previous ? { previous } : {}),
          beforeChange: async (before) => {
            tracker.inFlight = before;
            await ctx.checkpoint?.('before', before);
          },
        });
        tracker.inFlight = state;
        ctx.report.log('info', `fenced ${principals.join(', ') || 'nothing'}`);
        const open = await sessionsLeftOpen(ctx, db, exclude);
        if (open.length === 0) return state;
        const list = describeSessions(open);
        const what = `${open.length} session${open.length === 1 ? '' : 's'} of ${exclude.join('/')} from other clients stay${open.length === 1 ? 's' : ''} open: ${list}. The fence cannot lock out the login rekey${exclude.length > 1 ? ' and DMS use' : ' uses'}; writes they make after the drain are not replicated and are lost at the switch.`;
        ctx.report.publish('unfencedSessions', open);
        if (rb.cutover.openSessions === 'warn') {
          ctx.report.log('warn', `${what} Going on (cutover.openSessions: warn).`);
          return { ...state, unfenced: open };
        }
        // The flow lifts the fence (makeSafe) when this step fails.
        throw new StepError(`refusing to cut over: ${what}`, 'retryable', [
          'close those sessions, or give the application its own login (it is then fenced with the other writer roles), then `rekey resume`',
          'if they are known to be read-only (monitoring, say), set cutover.openSessions: warn in the runbook',
        ]);
      });
    },
    async undo(ctx) {
      await unfence(ctx, tracker);
    },
  };
}
