// Drives one invocation of a run (new or resumed): lock, journal, signals, renderer, approver, exit code.
// Every command that executes steps goes through here, so they all behave the same when killed or interrupted.
import { executeFlow, exitCodeOf, type ExecuteOutcome } from '../engine/executor.js';
import { replay, type JournalRecord } from '../engine/journal.js';
import { RunLockedError, type HeldLock } from '../engine/lock.js';
import { redactDeep } from '../engine/redact.js';
import { RunMachine } from '../engine/run-machine.js';
import type { Approver, Flow } from '../engine/types.js';
import { FENCE_LIMIT_INFO } from '../present/cutover-window.js';
import { expectedDurations } from '../present/expected.js';
import { endOfRunFacts } from '../present/run-facts.js';
import { appendStepSummary } from '../present/github.js';
import { summaryMarkdown } from '../present/summary-text.js';
import { runFindings } from '../report/findings.js';
import { writeRunReports } from '../report/write.js';
import type { Cloud } from '../aws/cloud.js';
import { writeRunAttestation } from '../estate/attest-run.js';
import type { Runbook } from '../runbook/schema.js';
import type { RunStore } from '../state/run-store.js';
import { join } from 'node:path';
import { stateDirArg } from './common.js';
import { buildSummary, nextStep, type Renderer } from '../present/renderer.js';

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

/** ETAs are a nicety: an unreadable earlier journal must never stop a run. */
function safeExpected(fn: () => Record<string, string>): Record<string, string> {
  try {
    return fn();
  } catch {
    return {};
  }
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
    // The fence limit lets renderers show the cutover window against it (src/present/cutover-window.ts).
    {
      ...opts.info,
      ...(opts.runbook ? { [FENCE_LIMIT_INFO]: String(opts.runbook.cutover.fenceTimeoutSeconds) } : {}),
      // Expected durations of the long steps (earlier runs, the rehearsal's delays): ETAs where AWS gives none.
      ...(opts.runbook ? safeExpected(() => expectedDurations(store.root, opts.runbook!, runId, opts.info.provider === 'rehearsal' ? 'rehearsal' : 'aws')) : {}),
    },
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
    const records = await journal.readAll();
    const state = replay(records, flow.steps.map((s) => s.id));
    const steps = flow.steps.map((s) => ({ id: s.id, title: s.title }));
    // What a person needs at the end (keys, window, rollback, cleanup): added to the summary, so --json has it too.
    const dirArg = stateDirArg(store.root === join(process.cwd(), '.rekey') ? undefined : store.root);
    const facts = opts.runbook ? endOfRunFacts({ runId, runbook: opts.runbook, records, state, published: machine.getSnapshot().published, steps, stateDirArg: dirArg }) : {};
    // Plain data from steps and `finish` (error texts included): redacted like everything else that is shown.
    const summary: Record<string, unknown> = redactDeep({ ...runFindings(state, machine.getSnapshot().published), ...facts, ...finished?.summary }, opts.redact);
    if (opts.runbook) {
      // A report that cannot be written must not hide how the run ended: say so and keep the exit code.
      try {
        // The journal's outputs in `state` are redacted already; the outcome's messages are redacted here.
        const input = { runId, runbook: opts.runbook, outcome: redactDeep(outcome, opts.redact), state, summary, steps };
        Object.assign(summary, writeRunReports(store.runDir(runId), input, machine.getSnapshot().metrics));
      } catch (error) {
        renderer.error(`could not write the run report: ${opts.redact(error instanceof Error ? error.message : String(error))}`);
      }
      // The attestation: each touched resource's key read back from the cloud now (src/estate/attest-run.ts).
      const cloud = (opts.services as { cloud?: Cloud }).cloud;
      if (cloud) {
        try {
          const { paths } = await writeRunAttestation({ runDir: store.runDir(runId), runId, runbook: opts.runbook, records: await journal.readAll(), cloud });
          summary.attestation = paths.json;
        } catch (error) {
          renderer.error(`could not write the attestation: ${opts.redact(error instanceof Error ? error.message : String(error))}`);
        }
      }
    }
    // The outcome's messages may quote a secret (the summary shows them): redacted like the rest.
    await renderer.done(redactDeep(outcome, opts.redact), machine, exitCode, summary);
    if (process.env.GITHUB_STEP_SUMMARY) {
      const full = buildSummary(outcome, machine.getSnapshot(), exitCode, summary);
      const problem = appendStepSummary(summaryMarkdown(full, nextStep(outcome, runId, dirArg)));
      if (problem) renderer.error(problem);
    }
    return { exitCode, outcome, machine };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await held.release();
  }
}
