// `rekey plan`: validate, run the read-only preflight, and print every action the run would take, in order.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { executeFlow } from '../engine/executor.js';
import { planFlow, renderPlan } from '../flows/index.js';
import { MemoryJournalStore } from '../engine/journal.js';
import { RunMachine } from '../engine/run-machine.js';
import type { Approver, StepContext } from '../engine/types.js';
import { openRehearsal, type RehearsalWorld } from '../rehearsal/world.js';
import { seedPostgresDemo } from '../rehearsal/workload/seed.js';
import { seedMysqlDemo } from '../rehearsal/workload/seed-mysql.js';
import type { RekeyServices } from '../steps/services.js';
import { RunStore, newRunId } from '../state/run-store.js';
import { loadRunbookOrExit } from './common.js';
import { composeServices, redactorFor } from './compose.js';
import { JsonRenderer, LineRenderer, processOutput } from './renderers.js';
import { flowFor } from './run.js';

export interface PlanOptions {
  json?: boolean;
  rehearsal?: boolean;
  profile?: string;
  stateDir: string;
}

const noApprover: Approver = { decide: () => Promise.resolve(undefined) };

export async function planCommand(path: string, opts: PlanOptions): Promise<number> {
  const { runbook } = loadRunbookOrExit(path);
  const flow = flowFor(runbook);
  const runId = newRunId();
  const out = processOutput.out;
  let world: RehearsalWorld | undefined;
  const planDir = join(new RunStore(opts.stateDir).root, 'plans', runId);
  try {
    if (opts.rehearsal) {
      world = await openRehearsal({ stateDir: planDir, runbook, fresh: true, log: (m: string) => processOutput.err(`rekey: ${m}`) });
      if (runbook.rehearsal?.source.url === undefined) {
        // The plan's own throwaway world needs the demo source `rekey rehearse` would seed, or preflight finds no
        // database and no login to check; it is deleted with the plan's world, the user's data is never touched.
        const rows = runbook.rehearsal?.source.seedRows ?? 300_000;
        processOutput.err(`rekey: seeding the plan's throwaway demo database "${runbook.source.database}" (${rows} rows)`);
        const seed = runbook.source.engine.includes('postgres') ? seedPostgresDemo : seedMysqlDemo;
        await seed(world.servers.source.adminUrl, { database: runbook.source.database, rows });
      }
    }
    // Preflight reads the password secrets; the redactor learns them before any event could carry them.
    const redact = redactorFor(runbook);
    const services = composeServices({ runbook, runId, provider: opts.rehearsal ? 'rehearsal' : 'aws', redactor: redact, ...(world ? { cloud: world.cloud } : {}), ...(opts.profile ? { profile: opts.profile } : {}) });
    const preflight = flow.steps.find((s) => s.id === 'preflight');
    const machine = new RunMachine(runId, preflight ? [{ id: preflight.id, title: preflight.title, hasGate: false }] : [], {}, { redact });
    const renderer = opts.json ? new JsonRenderer() : new LineRenderer(processOutput, { readOnly: true });
    renderer.attach(machine);
    const journal = new MemoryJournalStore();
    const controller = new AbortController();
    const outcome = preflight
      ? await executeFlow({ runId, flow: { id: 'plan', steps: [preflight] }, services, journal, machine, approver: noApprover, signal: controller.signal, redact })
      : ({ status: 'succeeded' } as const);
    const preflightOutput = journal.records.find((r) => r.t === 'step_succeeded')?.output;
    const ctx: StepContext<RekeyServices> = {
      runId,
      outputs: preflightOutput === undefined ? {} : { preflight: preflightOutput },
      services,
      signal: controller.signal,
      attempt: 1,
      report: { progress: () => undefined, metric: () => undefined, log: () => undefined, publish: () => undefined },
    };
    const plan = planFlow(flow, ctx);
    const ok = outcome.status === 'succeeded';
    if (opts.json) {
      out(JSON.stringify({ type: 'summary', ok, exitCode: ok ? 0 : 4, runbook: runbook.name, runIdForNames: runId, preflight: preflightOutput ?? null, ...(outcome.status === 'failed' ? { error: outcome.error } : {}), plan }));
    } else {
      out('');
      out(`Plan for "${runbook.name}": ${runbook.source.engine} ${runbook.source.identifier} -> new key ${runbook.target.kmsKeyId} (${opts.rehearsal ? 'rehearsal cloud' : `AWS ${runbook.region}`})`);
      out(`(resource names below use the sample run id ${runId}; a real run gets its own)`);
      out(renderPlan(plan));
      out('');
      out(ok ? 'preflight passed: nothing was changed.' : 'preflight FAILED: nothing was changed; fix the problems above.');
    }
    return ok ? 0 : 4;
  } finally {
    await world?.close({ stopServers: true });
    if (world) rmSync(planDir, { recursive: true, force: true });
  }
}
