// Deterministic crash points for tests: REKEY_CRASH_AT names points (comma-separated) at which the runner kills
// itself with SIGKILL, as abruptly as a power cut: no finally, no journal record, no unfence. Unset in real runs.
//
// Points: step:before:<id> (step_started journaled, nothing done), step:after:<id> (step_succeeded journaled),
// fence:after-journal (the fence record is durable, no principal changed yet), fence:after-principal:<n> (the n-th
// principal was fenced), fence:after-sessions (all fenced and their sessions gone, the output not yet journaled),
// drain:after-sentinel, stop-task:after-stop-call, fix-sequences:after-read (both sides' counters read, none raised),
// fix-sequences:after-raise (only when a counter was behind), switch:after-rename-call (a rename was
// asked for, its wait not begun), switch:between-renames (the old database is parked, the new one not yet moved);
// consistent-validate's brief fence and drain under its name (consistent-validate:fence:after-principal:<n>,
// consistent-validate:drain:after-sentinel), consistent-validate:after-fence (the brief fence up, no drain yet),
// consistent-validate:after-snapshots (every snapshot open, the fence still up), consistent-validate:after-lift
// (the fence lifted, the comparison not begun); snapshot:after-create-call, copy-snapshot:after-copy-call,
// restore:after-restore-call (the cluster or instance restore asked for; a cluster's writer not yet),
// clone:after-clone-call (RestoreDBClusterToPointInTime accepted), bg-create:after-create-call
// (CreateBlueGreenDeployment accepted, AVAILABLE not awaited), bg-switchover:after-switchover-call
// (SwitchoverBlueGreenDeployment accepted, its completion not awaited): each AWS call made, its wait not begun;
// native-setup:after-create (PostgreSQL: the subscription created disabled, its origin not advanced; MySQL: the
// external source set, replication not started), native-setup:after-advance (PostgreSQL: the origin at the
// captured position, the subscription still disabled); topology-instances:after-park-call (an old Aurora instance's
// rename to -old-<runid> asked for), topology-instances:after-name-call (a new instance's rename to its source's name
// asked for, the others of the run not yet), and their undos' after-unpark-call / after-unname-call;
// topology-global:after-rename-global (the old global cluster's rename asked for), topology-global:after-create-global
// (CreateGlobalCluster accepted, not awaited), topology-global:after-create-secondary (a secondary's CreateDBCluster
// accepted, its instances not asked for), topology-global:after-create-instance (one instance of a secondary asked for).
// A point may carry `@N` to fire on its N-th visit only (e.g. switch:after-rename-call@2).

const visits = new Map<string, number>();

/** The configured points, parsed once per call (tests set the variable per child process). */
function configured(): { point: string; nth: number }[] {
  const raw = process.env.REKEY_CRASH_AT;
  if (!raw) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const at = s.lastIndexOf('@');
      return at > 0 ? { point: s.slice(0, at), nth: Number(s.slice(at + 1)) || 1 } : { point: s, nth: 1 };
    });
}

/** Dies here (SIGKILL to itself) when REKEY_CRASH_AT names this point; a no-op otherwise. */
export function crashPoint(point: string): void {
  const wanted = configured().filter((c) => c.point === point);
  if (wanted.length === 0) return;
  const n = (visits.get(point) ?? 0) + 1;
  visits.set(point, n);
  if (!wanted.some((c) => c.nth === n)) return;
  process.stderr.write(`REKEY_CRASH_AT: crashing at ${point}\n`);
  process.kill(process.pid, 'SIGKILL');
}
