// The one place commands build what they execute (run-context.ts) and read runs (run-journal.ts), and the
// commands that return data for main to render (status, plan).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { RunMachine } from '../../src/engine/run-machine.js';
import type { JournalRecord } from '../../src/engine/journal.js';
import { buildFlow, planFlow } from '../../src/flows/index.js';
import { loadRunbook } from '../../src/runbook/load.js';
import type { Runbook } from '../../src/runbook/schema.js';
import { RunStore } from '../../src/state/run-store.js';
import { CliError } from '../../src/cli/common.js';
import { flowFor, journaledOutputs, machineReporter, runContext, stepContext } from '../../src/cli/run-context.js';
import { createdOf, createdRecord, replayRun } from '../../src/cli/run-journal.js';
import { printPlan, type PlanResult } from '../../src/cli/plan.js';
import { printStatus, statusCommand } from '../../src/cli/status.js';

function runbook(file = 'runbooks/aurora-postgresql.yaml'): Runbook {
  const loaded = loadRunbook(file);
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
  return loaded.runbook;
}

const at = '2026-12-01T10:00:00.000Z';

describe('run context', () => {
  test('builds the flow, one redactor and the services for a run id; its step context plans like the flow', () => {
    const rb = runbook();
    const run = runContext({ runbook: rb, runId: 'ctx12345', provider: 'aws' });
    expect(run.flow.steps.map((s) => s.id)).toEqual(buildFlow(rb).steps.map((s) => s.id));
    expect(run.services.names.targetCluster).toContain('rekey-ctx12345');
    const ctx = stepContext(run);
    expect(ctx).toMatchObject({ runId: 'ctx12345', outputs: {}, attempt: 1 });
    expect(ctx.services).toBe(run.services);
    expect(ctx.signal.aborted).toBe(false);
    expect(planFlow(run.flow, ctx).map((p) => p.id)).toEqual(run.flow.steps.map((s) => s.id));
  });

  test('a prebuilt flow is used as given', () => {
    const rb = runbook();
    const flow = buildFlow(rb);
    expect(runContext({ runbook: rb, runId: 'ctx12345', provider: 'aws', flow }).flow).toBe(flow);
  });

  test('a strategy the engine cannot run is a preflight failure (exit 4)', () => {
    // clone is Aurora only: an RDS instance cannot take it.
    const rb: Runbook = { ...runbook('runbooks/rds-postgres.yaml'), strategy: 'clone' };
    expect(() => flowFor(rb)).toThrow(CliError);
    try {
      flowFor(rb);
    } catch (err) {
      expect((err as CliError).exitCode).toBe(4);
    }
  });

  test('a step called outside the engine reports into the machine under the given id', () => {
    const machine = new RunMachine('ctx12345', [], {}, { redact: (t) => t });
    const seen: string[] = [];
    machine.subscribe((e) => {
      if (e) seen.push(`${e.type}${'stepId' in e && e.stepId ? `:${e.stepId}` : ''}`);
    });
    const report = machineReporter(machine, 'rollback');
    report.log('info', 'renaming back');
    report.progress('waiting', 50);
    report.publish('unfencedSessions', []);
    expect(seen).toEqual(expect.arrayContaining(['log:rollback', 'progress:rollback']));
    expect(machine.getSnapshot().published).toMatchObject({ unfencedSessions: [] });
  });
});

describe('run journal', () => {
  const rb = runbook();
  const flow = buildFlow(rb);
  const created = createdRecord('jr123456', '/x/r.yaml', rb, flow, 'aws', { profile: 'prod' });

  test('the created record names the steps, the gates and the provider', () => {
    expect(created).toMatchObject({ t: 'run_created', runId: 'jr123456', flowId: flow.id, runbookPath: '/x/r.yaml', runbookName: rb.name, provider: 'aws' });
    expect(created.meta.steps).toBe(flow.steps.map((s) => s.id).join(','));
    expect(created.meta.gates).toContain('=cutover');
    expect(created.meta.profile).toBe('prod');
  });

  test('replays in the recorded step order, with the outputs and checkpoints a step context needs', () => {
    const records: JournalRecord[] = [
      created,
      { t: 'step_started', at, stepId: 'preflight', attempt: 1 },
      { t: 'step_succeeded', at, stepId: 'preflight', output: { ok: true }, durationMs: 1 },
      { t: 'step_started', at, stepId: 'prepare-source', attempt: 1 },
    ];
    const { order, state } = replayRun(records);
    expect(order).toEqual(flow.steps.map((s) => s.id));
    expect(journaledOutputs(state).outputs).toEqual({ preflight: { ok: true } });
    expect(state.inFlight.has('prepare-source')).toBe(true);
  });

  test('without a created record, the order is the order steps started in', () => {
    const { created: none, order } = replayRun([
      { t: 'step_started', at, stepId: 'b', attempt: 1 },
      { t: 'step_started', at, stepId: 'a', attempt: 1 },
      { t: 'step_started', at, stepId: 'b', attempt: 2 },
    ]);
    expect(none).toBeUndefined();
    expect(order).toEqual(['b', 'a']);
  });

  test('an unknown run is invalid input (exit 2)', async () => {
    const store = new RunStore(mkdtempSync(join(tmpdir(), 'rekey-journal-')));
    await expect(createdOf(store, 'nosuchrun')).rejects.toMatchObject({ exitCode: 2 });
  });
});

describe('commands return data; main renders it', () => {
  test('status lists runs as data and prints them', async () => {
    const store = new RunStore(mkdtempSync(join(tmpdir(), 'rekey-status-')));
    const empty = statusCommand(undefined, { stateDir: store.root });
    expect(empty).toEqual({ kind: 'list', root: store.root, runs: [] });
    const out: string[] = [];
    printStatus(empty, {}, (t) => out.push(t));
    expect(out).toEqual([`no runs under ${store.root}\n`]);
    store.create('jr123456');
    await store.journal('jr123456').append({ ...created0(), at });
    const one = statusCommand('jr123456', { stateDir: store.root });
    expect(one.kind).toBe('run');
    const json: string[] = [];
    expect(printStatus(one, { json: true }, (t) => json.push(t))).toBe(0);
    expect(JSON.parse(json[0]!)).toMatchObject({ runId: 'jr123456', provider: 'aws' });
    expect(() => statusCommand('nosuchrun', { stateDir: store.root })).toThrow(CliError);
  });

  test('plan prints its result as the --json summary line and returns its exit code', () => {
    const rb = runbook();
    const result: PlanResult = { ok: false, exitCode: 4, runbook: rb, provider: 'aws', runIdForNames: 'pl123456', preflight: null, error: { stepId: 'preflight', phase: 'run', kind: 'preflight', message: 'no' }, plan: [], comparison: { strategies: [], unavailable: [] } };
    const out: string[] = [];
    expect(printPlan(result, { json: true }, (l) => out.push(l))).toBe(4);
    expect(JSON.parse(out[0]!)).toEqual({ type: 'summary', ok: false, exitCode: 4, runbook: rb.name, strategy: rb.strategy, runIdForNames: 'pl123456', preflight: null, error: result.error, plan: [], strategies: [], unavailable: [] });
  });
});

function created0(): JournalRecord {
  return createdRecord('jr123456', '/x/r.yaml', runbook(), buildFlow(runbook()), 'aws');
}
