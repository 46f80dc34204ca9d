// fence: stop every writer role from writing on the source, time-boxed. Write-ahead: each attempt journals what it
// will change and each principal's prior state before changing anything; unfence restores the union of every
// record of the run (resume, makeSafe, rollback, undo), so a crash at any instruction forgets nothing.
import { unfenceStatements } from '../db/sql.js';
import { mergeFences, normalizeAddress } from '../db/types.js';
import { crashPoint } from '../engine/crash.js';
import type { DbAdapter, FenceState, OpenSession } from '../db/types.js';
import { findReplicationInstance } from '../aws/dms.js';
import { InterruptedError, StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { activeDms, dmsUsername, output, withSource } from './common.js';
import { family, profile, type Family } from './engine.js';
import type { ReplayState } from '../engine/journal.js';
import type { Ctx } from './common.js';
import type { FenceOutput } from './outputs.js';
import type { RekeyServices } from './services.js';

/** Users the fence never touches: rekey's own and DMS's. */
export function fenceExclusions(ctx: Ctx): string[] {
  const rb = ctx.services.runbook;
  return [...new Set([rb.source.username, dmsUsername(rb)])];
}

/**
 * Everything any fence of this run recorded: the union of every journaled fence record (each attempt journals
 * its record before it changes a principal), the fence step's output and the fence this process applied and has
 * not lifted (`inFlight`), each principal with the oldest prior state recorded. Never a fresh listing: a principal
 * fenced by a runner killed before its output was journaled reads as "cannot log in" now and would be forgotten.
 * Undefined when nothing was recorded.
 */
export function currentFence(ctx: Ctx, inFlight?: FenceState): FenceState | undefined {
  return mergeFences([...fenceCheckpoints(ctx), output(ctx, 'fence'), inFlight]);
}

/** Every fence record journaled by the fence step before it changed anything, oldest first. */
function fenceCheckpoints(ctx: Ctx): readonly (FenceState | undefined)[] {
  return (ctx.journaled?.('fence', 'before') ?? [ctx.checkpoints?.fence?.before]) as readonly (FenceState | undefined)[];
}

/**
 * currentFence from a replayed journal, for the CLI's endings (rehearsal summary, rollback): the cutover fence's
 * records and those of the consistent point's brief fence (journaled under consistent-validate).
 */
export function fenceOfJournal(state: Pick<ReplayState, 'checkpointHistory' | 'succeeded'>): FenceState | undefined {
  const recorded = (stepId: string): readonly (FenceState | undefined)[] => (state.checkpointHistory.get(stepId)?.get('before') ?? []) as readonly (FenceState | undefined)[];
  return mergeFences([...recorded('fence'), ...recorded('consistent-validate'), state.succeeded.get('fence')?.output as FenceState | undefined]);
}

/** What a writability probe of the source found (see probeWritability). */
export interface WritabilityProbe {
  writable: boolean;
  /** The writer principals checked: every one a fence of this run recorded as able to log in before it. */
  checked: string[];
  /** Of those, the ones still locked out the way the fence does it (NOLOGIN, ACCOUNT LOCK). */
  stillFenced: string[];
  /** The statements that undo that, on the source as the master user. */
  undo: string[];
  /** Everything that stops the application's writes, for people (the server read-only, a principal's reason). */
  problems: string[];
}

/** A principal's reason that is the fence's own doing (what unfence restores). */
const FENCE_REASON = /\b(NOLOGIN|ACCOUNT LOCK)\b/;

/**
 * Whether the application could write through `db` (the source's name) now, for the writer principals the run's
 * journal recorded (`state`): the server must take writes, and each principal the fence changed must be able to
 * log in and connect again. rekey has no password of the application's, so this is read from the catalog as the
 * master user (AWS); a rehearsal logs in as the application itself (src/rehearsal/workload/write-load.ts).
 */
export async function probeWritability(db: DbAdapter, state: FenceState | undefined, fam: Family): Promise<WritabilityProbe> {
  const checked = state ? fencedByRekey(state) : [];
  const found = db.writability
    ? await db.writability(checked)
    : { blocked: (state && db.stillFenced ? await db.stillFenced(state) : []).map((name) => ({ name, reason: fam === 'mysql' ? 'ACCOUNT LOCK' : 'NOLOGIN' })) };
  const stillFenced = [...new Set(found.blocked.filter((b) => FENCE_REASON.test(b.reason)).map((b) => b.name))];
  const undo = state ? unfenceStatements({ ...state, principals: state.principals.filter((p) => stillFenced.includes(p.name)) }, fam) : [];
  const problems = [...(found.readOnly ? [found.readOnly] : []), ...found.blocked.map((b) => `${b.name}: ${b.reason}`)];
  return { writable: problems.length === 0, checked, stillFenced, undo, problems };
}

/** What a summary says when the source refuses the application's writes: who rekey fenced, and the SQL undoing it. */
export function unwritableAdvice(state: FenceState | undefined, fam: Family): { stillFenced: string[]; undo: string[] } {
  if (!state) return { stillFenced: [], undo: [] };
  const fenced = fencedByRekey(state);
  return { stillFenced: fenced, undo: unfenceStatements({ ...state, principals: state.principals.filter((p) => fenced.includes(p.name)) }, fam) };
}

/** Principals the fence changed (they could log in before it): the ones that must be able to again. */
export function fencedByRekey(state: FenceState): string[] {
  return state.principals.filter((p) => p.before.rolcanlogin === true || p.before.accountLocked === false).map((p) => p.name);
}

/** Thrown when the source is still fenced after an unfence: names who, and the SQL that undoes it by hand. */
export class StillFencedError extends StepError {
  constructor(
    readonly fenced: string[],
    readonly undoSql: string[],
  ) {
    super(
      `the source is still fenced: ${fenced.join(', ')} cannot log in. Run \`rekey rollback\` again, or undo it by hand on the source as the master user: ${undoSql.join(' ')}`,
      'fatal',
      undoSql,
    );
  }
}

/**
 * Restores the roles to their pre-fence state (idempotent), then checks it: every principal the fence changed
 * must be able to log in again, else StillFencedError. Returns whether there was a fence to lift.
 */
export async function unfence(ctx: Ctx, inFlight?: FenceState): Promise<boolean> {
  const state = currentFence(ctx, inFlight);
  if (!state) return false;
  const mustLogIn = fencedByRekey(state);
  if (state.principals.length > 0) {
    const still = await withSource(ctx, async (db) => {
      try {
        await db.unfence(state);
      } catch (error) {
        if (error instanceof InterruptedError) throw error;
        ctx.report.log('error', error instanceof Error ? error.message : String(error));
      }
      if (db.stillFenced) return db.stillFenced(state);
      const writers = new Set(await db.writerPrincipals(fenceExclusions(ctx)));
      return mustLogIn.filter((p) => !writers.has(p));
    });
    if (still.length > 0) {
      const undo = unfenceStatements({ ...state, principals: state.principals.filter((p) => still.includes(p.name)) }, family(ctx.services.runbook));
      throw new StillFencedError(still, undo);
    }
  }
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
  if (!activeDms(ctx.services.runbook)) return [];
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
export function fenceStep(crashAs = 'fence'): Step<RekeyServices, FenceOutput> {
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
        // What earlier attempts recorded stays in: a principal they fenced may not be listed as a writer any more.
        const journaled = currentFence(ctx, inFlight);
        const listed = rb.cutover.writerRoles ?? (await db.writerPrincipals(exclude));
        const principals = [...new Set([...listed, ...(journaled?.principals.map((p) => p.name) ?? [])])].filter((p) => !exclude.includes(p));
        if (principals.length === 0) ctx.report.log('warn', 'no writer roles to fence: nothing stops writes during the cutover');
        // Write-ahead: the record (every principal with its prior state) is journaled, fsync'd, before the first
        // principal changes; a runner killed at any later instruction leaves a record that names what it touched.
        const state = await db.fence(principals, {
          ...(journaled ? { previous: journaled } : {}),
          beforeChange: async (before) => {
            const record = mergeFences([journaled, before])!;
            inFlight = record;
            await ctx.checkpoint?.('before', record);
            crashPoint(`${crashAs}:after-journal`);
          },
          afterEach: (_name, n) => crashPoint(`${crashAs}:after-principal:${n}`),
        });
        const fenced = mergeFences([journaled, state])!;
        inFlight = fenced;
        ctx.report.log('info', `fenced ${principals.join(', ') || 'nothing'}`);
        crashPoint(`${crashAs}:after-sessions`);
        const open = await guardOpenSessions(ctx, db, addresses, 'once the fence is up');
        return { ...fenced, dmsAddresses: addresses, ...(open.length > 0 ? { unfenced: open } : {}) };
      });
    },
    inEffect: (ctx) => currentFence(ctx, inFlight) !== undefined,
    async undo(ctx) {
      await unfence(ctx, inFlight);
      inFlight = undefined;
    },
  };
}
