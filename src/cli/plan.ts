// `rekey plan`: validate, run the read-only preflight, and print every action the run would take, in order.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { executeFlow } from '../engine/executor.js';
import { compareStrategies, renderComparison } from '../flows/compare.js';
import { MemoryJournalStore } from '../engine/journal.js';
import { RunMachine } from '../engine/run-machine.js';
import type { Approver, StepErrorInfo } from '../engine/types.js';
import { planFlow, renderPlan, type PlanEntry } from '../flows/index.js';
import type { Renderer } from '../present/renderer.js';
import { adoptedSource, appLogin, prepareAdoptedSource } from '../rehearsal/workload/adopt.js';
import { seedMysqlDemo } from '../rehearsal/workload/seed-mysql.js';
import { seedPostgresDemo } from '../rehearsal/workload/seed.js';
import { openRehearsal, type RehearsalWorld } from '../rehearsal/world.js';
import type { Runbook } from '../runbook/schema.js';
import type { PreflightReport } from '../steps/preflight.js';
import { RunStore, newRunId } from '../state/run-store.js';
import type { LoadedRunbook } from './common.js';
import { flowFor, runContext, stepContext } from './run-context.js';
import type { Provider } from './run-journal.js';

export interface PlanOptions {
  json?: boolean;
  rehearsal?: boolean;
  profile?: string;
  stateDir: string;
}

/** What `rekey plan` found: the preflight's verdict and every step's actions. */
export interface PlanResult {
  /** The preflight passed (nothing was changed either way). */
  ok: boolean;
  exitCode: 0 | 4;
  runbook: Runbook;
  provider: Provider;
  /** The sample run id the resource names in the plan use; a real run gets its own. */
  runIdForNames: string;
  /** The preflight step's output, when it succeeded. */
  preflight: unknown;
  /** Why the preflight failed. */
  error?: StepErrorInfo;
  plan: PlanEntry[];
  /** The strategies compared for this runbook (one recommended). */
  comparison: ReturnType<typeof compareStrategies>;
}

const noApprover: Approver = { decide: () => Promise.resolve(undefined) };

/**
 * Runs the preflight (its events go to `renderer`) and plans every step. `notice` receives the rehearsal cloud's
 * messages when planning against it.
 */
export async function planCommand(loaded: LoadedRunbook, opts: PlanOptions, renderer: Renderer, notice: (message: string) => void): Promise<PlanResult> {
  const { runbook } = loaded;
  const flow = flowFor(runbook);
  const runId = newRunId();
  const provider: Provider = opts.rehearsal ? 'rehearsal' : 'aws';
  let world: RehearsalWorld | undefined;
  const planDir = join(new RunStore(opts.stateDir).root, 'plans', runId);
  try {
    if (opts.rehearsal) {
      world = await openRehearsal({ stateDir: planDir, runbook, fresh: true, log: notice });
      if (runbook.rehearsal?.source.url === undefined) {
        // The plan's own throwaway world needs the demo source `rekey rehearse` would seed, or preflight finds no
        // database and no login to check; it is deleted with the plan's world, the user's data is never touched.
        const rows = runbook.rehearsal?.source.seedRows ?? 300_000;
        notice(`seeding the plan's throwaway demo database "${runbook.source.database}" (${rows} rows)`);
        const seed = runbook.source.engine.includes('postgres') ? seedPostgresDemo : seedMysqlDemo;
        await seed(world.servers.source.adminUrl, { database: runbook.source.database, rows });
      } else {
        // The adopted database prepared as `rekey rehearse` would have it, so preflight reads a real one.
        const family = runbook.source.engine.includes('postgres') ? 'postgres' : 'mysql';
        const adopted = adoptedSource(runbook.rehearsal.source.url, family, runbook.source.database, runbook.rehearsal.source.urlPasswordEnv);
        await prepareAdoptedSource(adopted, appLogin(runbook, family).password);
      }
    }
    // Preflight reads the password secrets; the redactor learns them before any event could carry them.
    const run = runContext({ runbook, runId, provider, flow, ...(world ? { cloud: world.cloud } : {}), ...(opts.profile ? { profile: opts.profile } : {}) });
    const preflight = flow.steps.find((s) => s.id === 'preflight');
    const machine = new RunMachine(runId, preflight ? [{ id: preflight.id, title: preflight.title, hasGate: false }] : [], {}, { redact: run.redact });
    const controller = new AbortController();
    renderer.attach(machine, controller);
    const journal = new MemoryJournalStore();
    const outcome = preflight
      ? await executeFlow({ runId, flow: { id: 'plan', steps: [preflight] }, services: run.services, journal, machine, approver: noApprover, signal: controller.signal, redact: run.redact })
      : ({ status: 'succeeded' } as const);
    const preflightOutput = journal.records.find((r) => r.t === 'step_succeeded')?.output;
    const plan = planFlow(flow, stepContext(run, { outputs: preflightOutput === undefined ? {} : { preflight: preflightOutput }, signal: controller.signal }));
    const ok = outcome.status === 'succeeded';
    const comparison = compareStrategies(runbook, (preflightOutput ?? machine.getSnapshot().published.preflight) as PreflightReport | undefined, provider);
    return { ok, exitCode: ok ? 0 : 4, runbook, provider, runIdForNames: runId, preflight: preflightOutput ?? null, ...(outcome.status === 'failed' ? { error: outcome.error } : {}), plan, comparison };
  } finally {
    await world?.close({ stopServers: true });
    if (world) rmSync(planDir, { recursive: true, force: true });
  }
}

/** Prints the plan (the `--json` summary line, or text for people); returns the exit code. */
export function printPlan(result: PlanResult, opts: { json?: boolean }, out: (line: string) => void): number {
  const { runbook } = result;
  if (opts.json) {
    out(JSON.stringify({ type: 'summary', ok: result.ok, exitCode: result.exitCode, runbook: runbook.name, strategy: runbook.strategy, runIdForNames: result.runIdForNames, preflight: result.preflight, ...(result.error ? { error: result.error } : {}), plan: result.plan, ...result.comparison }));
  } else {
    out('');
    out(`Plan for "${runbook.name}": ${runbook.source.engine} ${runbook.source.identifier} -> new key ${runbook.target.kmsKeyId} (${result.provider === 'rehearsal' ? 'rehearsal cloud' : `AWS ${runbook.region}`})`);
    out(`(resource names below use the sample run id ${result.runIdForNames}; a real run gets its own)`);
    out(renderPlan(result.plan));
    out('');
    out(renderComparison(result.comparison));
    out('');
    out(result.ok ? 'preflight passed: nothing was changed.' : 'preflight FAILED: nothing was changed; fix the problems above.');
  }
  return result.exitCode;
}
