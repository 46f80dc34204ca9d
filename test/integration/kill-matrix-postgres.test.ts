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
//   fix-sequences:after-raise    the first sequence raised on the target
//   switch:after-rename-call     a rename asked for (RDS), its wait not begun (`@2`: the second rename of a process)
//   switch:between-renames       the old database parked under its -old name, the new one not yet moved
//
// `npm test` runs a subset (the two repro paths and the empty fence); `npm run test:chaos` (REKEY_CHAOS=full)
// runs every cell. Cells share nothing but the built CLI; each is a small rehearsal (500 rows, zero AWS delays).
import { stopServersLeftUnder } from '../helpers/rehearse-cli.js';
import { killMatrix } from '../helpers/kill-matrix.js';

afterAll(stopServersLeftUnder);

killMatrix('postgres');
