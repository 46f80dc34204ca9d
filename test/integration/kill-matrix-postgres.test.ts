// The kill matrix: a rehearsal runner killed abruptly (SIGKILL to itself) at every step boundary and at named points
// inside fence, drain, stop-task, fix-sequences and switch, on PostgreSQL and MySQL; then resumed, or, separately,
// rolled back. Every cell must end with the documented exit code, the source accepting the application's writes
// after a rollback or an exit 5, 0 acknowledged writes lost, 0 duplicated, no AWS resource created twice, and the
// write-unavailable window measured over the whole run (every runner, and the time none was alive).
//
// Crash points (REKEY_CRASH_AT, see src/engine/crash.ts): the runner kills itself with SIGKILL when it reaches the
// named point, as abruptly as a power cut (no finally, no journal record, no unfence):
//   step:after:<id>              step_succeeded of <id> journaled, the next step not begun
//   fence:after-journal          the fence's write-ahead record is durable, no principal changed yet
//   fence:after-principal:<n>    the n-th principal was fenced, the rest not (the repro point)
//   fence:after-sessions         all fenced and their sessions closed, the step's output not journaled
//   drain:after-sentinel         the sentinel row written on the source, its arrival not awaited
//   stop-task:after-stop-call    StopReplicationTask sent, the stop not awaited
//   fix-sequences:after-read     both sides' sequences read, none raised yet (after-raise: only if one was behind)
//   switch:after-rename-call     a rename asked for (RDS), its wait not begun (`@2`: the second rename of a process)
//   switch:between-renames       the old database parked under its -old name, the new one not yet moved
//   consistent-validate:after-fence      the consistent point's brief fence up, its drain not begun
//   consistent-validate:drain:after-sentinel  its sentinel written, its arrival not awaited
//   consistent-validate:after-snapshots  every snapshot reader open, the brief fence still up
//   consistent-validate:after-lift       the brief fence lifted (and journaled so), the comparison not begun
//   (consistent-validate:fence:after-principal:1 is the first repro cell's point)
//
// `npm test` runs a subset (the two repro paths, the second runner, the empty fence and one Ctrl-C inside the
// switch, in kill-matrix-mysql.test.ts); `npm run test:chaos`
// (REKEY_CHAOS=full) adds the resume chain and the rollback column. Cells share nothing but the built CLI; each is a
// small rehearsal (500 rows, zero AWS delays).
//
// What test:chaos runs, per engine (the two engines' files run in parallel):
//   - the resume chain, whole: ONE runner killed at every point above in turn, each resume killed at the next, the
//     last resume finishing. Cheap (one rehearsal, no new servers per point), so no kill point is dropped from it.
//     After the consistent point's kills it checks, on the source server itself, that `app` may log in again.
//   - the rollback column, trimmed to one cell per phase (a fresh rehearsal per cell is what costs: ~45 s each):
//     the last step boundary before the fence, fence:after-journal, drain:after-sentinel, stop-task:after-stop-call,
//     fix-sequences:after-read, switch:after-rename-call, switch:between-renames, switch:after-rename-call@2; and
//     fence:after-principal:1 through the repro cells.
//   Dropped from the rollback column (the full matrix ran 37 min serial, over the CI budget): every other
//   step:after:<id> boundary (before the fence each rolls back the same way as the last one: unfence nothing, stop
//   the task, keep what was created; after the switch they roll back like the switch points kept), and
//   fence:after-sessions (the fence's output is the same union the kept fence cells already restore). The chain
//   still kills at all of them, and a resume must cross each one.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { journalOf, rekey, start, stopServersLeftUnder, summaryOf, tempDir, until } from '../helpers/rehearse-cli.js';
import { killMatrix, runbook } from '../helpers/kill-matrix.js';

afterAll(stopServersLeftUnder);

killMatrix('postgres');

describe('one runner per run, checked first', () => {
  it('a second `rekey resume` on a live rehearsal exits 1 naming the holder, opens nothing; the live run finishes clean', async () => {
    const cwd = tempDir('km-second-runner');
    const live = start(['rehearse', runbook('postgres', cwd), '--json'], cwd);
    const runsDir = join(cwd, '.rekey', 'runs');
    const runId = await until(() => (existsSync(runsDir) ? readdirSync(runsDir)[0] : undefined));
    await until(() => (journalOf(cwd, runId).some((r) => r.t === 'step_succeeded' && r.stepId === 'restore') ? true : undefined), 120_000);
    const second = await rekey(['resume', runId, '--json'], cwd);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`run ${runId} is held by process \\d+ since \\S+`));
    expect(second.stderr).not.toContain('internal error');
    // It opened nothing: no proxy port clash, no "reopening the rehearsal cloud".
    expect(second.stdout + second.stderr).not.toMatch(/already in use|reopening the rehearsal cloud/);
    const done = await live.done;
    const s = summaryOf(done);
    expect(done.code).toBe(0);
    expect(s).toMatchObject({ ok: true, switched: true, endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(journalOf(cwd, runId).filter((r) => r.t === 'runner_started')).toHaveLength(1);
  }, 300_000);
});
