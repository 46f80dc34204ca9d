// Drives one invocation of a run (new or resumed): lock, journal, signals, renderer, approver, exit code.
// Every command that executes steps goes through here, so they all behave the same when killed or interrupted.
import { executeFlow, exitCodeOf, type ExecuteOutcome } from '../engine/executor.js';
import { replay, type JournalRecord } from '../engine/journal.js';
import { RunLockedError, type HeldLock } from '../engine/lock.js';
import { redactDeep } from '../engine/redact.js';
import { RunMachine } from '../engine/run-machine.js';
import type { Approver, Flow } from '../engine/types.js';
import { runFindings } from '../report/findings.js';
import { writeRunReports } from '../report/write.js';
import type { Runbook } from '../runbook/schema.js';
import type { RunStore } from '../state/run-store.js';
import type { Renderer } from './renderers.js';

export interface SessionOptions<S> {
  store: RunStore;
  runId: string;
  flow: Flow<S>;
  services: S;
  /** The run_created record for a new run; undefined when resuming. */
  created?: Extract<JournalRecord, { t: 'run_created' }>;
  /** Header facts for renderers. */
  info: Record<string, string>;
  renderer: Renderer;
  /** Answers gates when the renderer has no approver of its own (headless: --approve/--yes). */
  approver: Approver;
  redact: (text: string) => string;
  command: string;
  /** The run lock, when the caller took it before opening anything else of the run (the rehearsal cloud). */
  held?: HeldLock;
  /** Called once the machine exists (rehearsal feeds it write-load metrics). */
  onMachine?: (machine: RunMachine) => void;
  /** The runbook, for the report written to the run's directory (report.md) when the runner stops; no report without it. */
  runbook?: Runbook;
  /**
   * Called after the engine stopped, before the report and the exit code (close adapters, verify writes). May
   * return extra summary fields and an exit code that overrides the engine's (e.g. lost writes).
   */
  finish?: (outcome: ExecuteOutcome, machine: RunMachine) => Promise<{ summary?: Record<string, unknown>; exitCode?: number } | void>;
}

/** REKEY_CHAOS_PAUSE_MS: pause after each step so crash tests can kill a runner between any two steps. */
function chaosPause(): number {
  const ms = Number(process.env.REKEY_CHAOS_PAUSE_MS ?? 0);
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 60_000) : 0;
}

export interface SessionResult {
  exitCode: number;
  outcome?: ExecuteOutcome;
  machine?: RunMachine;
}

/** Runs or resumes; returns the exit code of the CLI contract. Never throws for a step failure. */
export async function runSession<S>(opts: SessionOptions<S>): Promise<SessionResult> {
  const { store, runId, flow, renderer } = opts;
  store.create(runId);
  const journal = store.journal(runId);
  let held = opts.held;
  try {
    held ??= await store.lock(runId, opts.command).acquire();
  } catch (err) {
    if (err instanceof RunLockedError) {
      renderer.error(err.message);
      return { exitCode: 1 };
    }
    throw err;
  }

  const controller = new AbortController();
  // The first interrupt finishes or undoes the step in flight; a second within 2 s exits at once.
  let lastSignalAt: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    const now = Date.now();
    if (lastSignalAt !== undefined && now - lastSignalAt <= 2000) {
      renderer.error(`forced exit; the journal is consistent: continue with rekey resume ${runId} (or undo with rekey rollback ${runId})`);
      process.exit(130);
    }
    lastSignalAt = now;
    renderer.notice(`${sig} received: finishing or undoing the current step, then stopping (press again within 2 s to exit at once)`);
    controller.abort(new Error(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const machine = new RunMachine(
    runId,
    flow.steps.map((s) => ({ id: s.id, title: s.title, hasGate: s.gate !== undefined })),
    opts.info,
    { redact: opts.redact },
  );
  opts.onMachine?.(machine);
  try {
    if (held.tookOverFrom) {
      renderer.notice(`took over a stale lock of process ${held.tookOverFrom.pid} (started ${held.tookOverFrom.startedAt}), which is no longer running`);
    }
    if (opts.created) await journal.append(opts.created);
    await journal.append({ t: 'runner_started', at: new Date().toISOString(), pid: process.pid, command: opts.command });
    const attached = renderer.attach(machine, controller);
    const approver = attached.approver ?? opts.approver;
    const outcome = await executeFlow({
      runId,
      flow,
      services: opts.services,
      journal,
      machine,
      approver,
      signal: controller.signal,
      redact: opts.redact,
      ...(chaosPause() ? { pauseAfterStepMs: chaosPause() } : {}),
    });
    const finished = opts.finish ? await opts.finish(outcome, machine) : undefined;
    const exitCode = finished?.exitCode ?? exitCodeOf(outcome);
    const state = replay(await journal.readAll(), flow.steps.map((s) => s.id));
    // Plain data from steps and `finish` (error texts included): redacted like everything else that is shown.
    const summary: Record<string, unknown> = redactDeep({ ...runFindings(state, machine.getSnapshot().published), ...finished?.summary }, opts.redact);
    if (opts.runbook) {
      // A report that cannot be written must not hide how the run ended: say so and keep the exit code.
      try {
        // The journal's outputs in `state` are redacted already; the outcome's messages are redacted here.
        const input = { runId, runbook: opts.runbook, outcome: redactDeep(outcome, opts.redact), state, summary, steps: flow.steps.map((s) => ({ id: s.id, title: s.title })) };
        Object.assign(summary, writeRunReports(store.runDir(runId), input, machine.getSnapshot().metrics));
      } catch (error) {
        renderer.error(`could not write the run report: ${opts.redact(error instanceof Error ? error.message : String(error))}`);
      }
    }
    await renderer.done(outcome, machine, exitCode, summary);
    return { exitCode, outcome, machine };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await held.release();
  }
}
