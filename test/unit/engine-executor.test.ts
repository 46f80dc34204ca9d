import { makeSafe, undoSteps } from '../../src/engine/compensation.js';
import { executeFlow, exitCodeOf, rollbackRun } from '../../src/engine/executor.js';
import { MemoryJournalStore, replay } from '../../src/engine/journal.js';
import { RunMachine } from '../../src/engine/run-machine.js';
import { headlessApprover } from '../../src/engine/approvers.js';
import { makeRedactor } from '../../src/engine/redact.js';
import { StepError, type Approver, type Flow, type RunEvent, type Step } from '../../src/engine/types.js';

interface S {
  log: string[];
  drainFailures: number;
}

function step(id: string, run?: (s: S, attempt: number) => unknown): Step<S> {
  return {
    id,
    title: id,
    describe: () => [{ kind: 'note', target: id, summary: id }],
    run: (ctx) => {
      ctx.services.log.push(`${id}#${ctx.attempt}`);
      return Promise.resolve(run ? run(ctx.services, ctx.attempt) : { id });
    },
  };
}

function machineFor(flow: Flow<S>, redact?: (t: string) => string): RunMachine {
  return new RunMachine('run1', flow.steps.map((s) => ({ id: s.id, title: s.title, hasGate: !!s.gate })), {}, redact ? { redact } : {});
}

const approveAll = headlessApprover({ approve: [], yes: true, by: 'test' });

describe('executeFlow', () => {
  it('goes back to the retryFrom step after a retryable failure, unfencing first, then succeeds', async () => {
    const services: S = { log: [], drainFailures: 1 };
    const flow: Flow<S> = {
      id: 'f',
      steps: [
        step('catch-up'),
        { ...step('fence'), gate: { id: 'cutover', question: 'go?', facts: () => ({}) }, undo: (ctx) => Promise.resolve(void ctx.services.log.push('unfence')) },
        step('drain', (s) => {
          if (s.drainFailures-- > 0) throw new StepError('sentinel did not arrive', 'retryable', [], { retryFrom: 'catch-up' });
          return { ok: true };
        }),
        step('switch'),
      ],
      safety: { guard: 'fence', boundary: 'switch', rewindTo: { default: 'fence' } },
    };
    const journal = new MemoryJournalStore();
    const decisions: string[] = [];
    const approver: Approver = { decide: async (r, sig) => { decisions.push(r.id); return approveAll.decide(r, sig); } };
    const outcome = await executeFlow({ runId: 'run1', flow, services, journal, machine: machineFor(flow), approver, signal: new AbortController().signal });
    expect(outcome.status).toBe('succeeded');
    expect(services.log).toEqual(['catch-up#1', 'fence#1', 'drain#1', 'unfence', 'catch-up#2', 'fence#2', 'drain#2', 'switch#1']);
    // The gate is asked again after going back: the facts have changed.
    expect(decisions).toEqual(['cutover', 'cutover']);
    expect(journal.records.filter((r) => r.t === 'rewind')).toHaveLength(1);
    expect(journal.records.find((r) => r.t === 'step_undone')).toMatchObject({ stepId: 'fence' });
  });

  it('stops failing after maxRewinds and reports exit 5', async () => {
    const services: S = { log: [], drainFailures: 99 };
    const flow: Flow<S> = {
      id: 'f',
      steps: [step('catch-up'), step('drain', () => { throw new StepError('no sentinel', 'retryable', [], { retryFrom: 'catch-up' }); })],
    };
    const outcome = await executeFlow({ runId: 'run1', flow, services, journal: new MemoryJournalStore(), machine: machineFor(flow), approver: approveAll, signal: new AbortController().signal, maxRewinds: 2 });
    expect(outcome.status).toBe('failed');
    expect(exitCodeOf(outcome)).toBe(5);
    expect(services.log.filter((l) => l.startsWith('drain'))).toHaveLength(3);
  });

  it('re-runs on resume a step that makeSafe reverted', async () => {
    const services: S = { log: [], drainFailures: 0 };
    let failFinal = true;
    const flow: Flow<S> = {
      id: 'f',
      steps: [{ ...step('fence'), undo: () => Promise.resolve() }, step('final-validate', () => { if (failFinal) throw new StepError('2 tables differ'); return {}; })],
      safety: { guard: 'fence', boundary: 'final-validate', rewindTo: { default: 'fence' } },
    };
    const journal = new MemoryJournalStore();
    const first = await executeFlow({ runId: 'run1', flow, services, journal, machine: machineFor(flow), approver: approveAll, signal: new AbortController().signal });
    expect(first).toMatchObject({ status: 'failed', madeSafe: true, error: { stepId: 'final-validate', kind: 'fatal' } });
    const state = replay(await journal.readAll(), ['fence', 'final-validate']);
    expect(state.succeeded.has('fence')).toBe(false);
    failFinal = false;
    const second = await executeFlow({ runId: 'run1', flow, services, journal, machine: machineFor(flow), approver: approveAll, signal: new AbortController().signal });
    expect(second.status).toBe('succeeded');
    expect(services.log).toEqual(['fence#1', 'final-validate#1', 'fence#2', 'final-validate#2']);
  });

  it('a declined gate stops the run resumably (exit 3) and runs nothing behind it', async () => {
    const services: S = { log: [], drainFailures: 0 };
    const flow: Flow<S> = { id: 'f', steps: [step('a'), { ...step('b'), gate: { id: 'cutover', question: 'go?', facts: () => ({ x: 1 }) } }] };
    const decline: Approver = { decide: (r) => Promise.resolve({ id: r.id, decision: 'declined', by: 'alice', at: new Date().toISOString() }) };
    const outcome = await executeFlow({ runId: 'run1', flow, services, journal: new MemoryJournalStore(), machine: machineFor(flow), approver: decline, signal: new AbortController().signal });
    expect(outcome).toMatchObject({ status: 'awaiting_approval', declined: true });
    expect(exitCodeOf(outcome)).toBe(3);
    expect(services.log).toEqual(['a#1']);
  });

  it("runs the gate's watcher while it waits, its metrics live, and stops it with the answer before the step runs", async () => {
    const services: S = { log: [], drainFailures: 0 };
    let answer: (() => void) | undefined;
    const answered = new Promise<void>((r) => (answer = r));
    const flow: Flow<S> = {
      id: 'f',
      steps: [
        step('a'),
        {
          ...step('b'),
          gate: {
            id: 'cutover',
            question: 'go?',
            facts: () => ({ latencySeconds: 9 }),
            watch: async (ctx, signal) => {
              let n = 0;
              while (!signal.aborted) {
                ctx.report.metric('cdc.latency', ++n);
                services.log.push(`watch ${n}`);
                if (n === 3) answer?.();
                await new Promise((r) => setTimeout(r, 5));
              }
              services.log.push('watch stopped');
            },
          },
        },
      ],
    };
    const approver: Approver = { decide: async (r) => (await answered, { id: r.id, decision: 'approved', by: 'alice', at: new Date().toISOString() }) };
    const machine = machineFor(flow);
    const outcome = await executeFlow({ runId: 'run1', flow, services, journal: new MemoryJournalStore(), machine, approver, signal: new AbortController().signal });
    expect(outcome.status).toBe('succeeded');
    // Sampled while waiting, stopped before b ran, never again after.
    expect(services.log.slice(0, 4)).toEqual(['a#1', 'watch 1', 'watch 2', 'watch 3']);
    expect(services.log.slice(-2)).toEqual(['watch stopped', 'b#1']);
    expect(machine.getSnapshot().metrics['cdc.latency']?.history.length).toBeGreaterThanOrEqual(3);
  });

  it("a failing watcher is logged and does not stop the gate", async () => {
    const services: S = { log: [], drainFailures: 0 };
    const flow: Flow<S> = { id: 'f', steps: [{ ...step('b'), gate: { id: 'cutover', question: 'go?', facts: () => ({}), watch: () => Promise.reject(new Error('CloudWatch throttled')) } }] };
    const machine = machineFor(flow);
    const outcome = await executeFlow({ runId: 'run1', flow, services, journal: new MemoryJournalStore(), machine, approver: approveAll, signal: new AbortController().signal });
    expect(outcome.status).toBe('succeeded');
    expect(machine.getSnapshot().logs.map((l) => l.message).join('\n')).toMatch(/live facts stopped: CloudWatch throttled/);
  });

  it('maps preflight failures to exit 4 and keeps every detail', async () => {
    const flow: Flow<S> = { id: 'f', steps: [step('preflight', () => { throw new StepError('preflight found 2 problems', 'preflight', ['key disabled', 'no backups']); })] };
    const outcome = await executeFlow({ runId: 'run1', flow, services: { log: [], drainFailures: 0 }, journal: new MemoryJournalStore(), machine: machineFor(flow), approver: approveAll, signal: new AbortController().signal });
    expect(exitCodeOf(outcome)).toBe(4);
    expect(outcome).toMatchObject({ error: { details: ['key disabled', 'no backups'] } });
  });

  it('redacts secrets from journal records and events', async () => {
    const secret = 'pa55-w0rd-xyz';
    const redact = makeRedactor([secret]);
    const flow: Flow<S> = { id: 'f', steps: [step('a', () => { throw new Error(`auth failed for postgres://app:${secret}@h/db and also ${secret}`); })] };
    const machine = machineFor(flow, redact);
    const events: RunEvent[] = [];
    machine.subscribe((e) => e && events.push(e));
    const journal = new MemoryJournalStore();
    await executeFlow({ runId: 'run1', flow, services: { log: [], drainFailures: 0 }, journal, machine, approver: approveAll, signal: new AbortController().signal, redact });
    const text = JSON.stringify(journal.records) + JSON.stringify(events) + JSON.stringify(machine.getSnapshot());
    expect(text).not.toContain(secret);
    expect(text).toContain('postgres://app:***@h/db');
  });
});

describe('makeRedactor', () => {
  it('masks URL passwords it was not told about', () => {
    expect(makeRedactor([])('mysql://root:topsecret@127.0.0.1:3306/x')).toBe('mysql://root:***@127.0.0.1:3306/x');
  });
});

describe('RunMachine', () => {
  it('hands out a new immutable snapshot on every change', () => {
    const m = new RunMachine('r', [{ id: 'a', title: 'A', hasGate: false }]);
    const before = m.getSnapshot();
    m.setStepStatus('a', { kind: 'running', startedAt: 'now', attempt: 1 });
    const after = m.getSnapshot();
    expect(before).not.toBe(after);
    expect(before.steps[0]!.status.kind).toBe('pending');
    expect(after.steps[0]!.status.kind).toBe('running');
    m.metric('lag', 1);
    m.metric('lag', 2);
    expect(m.getSnapshot().metrics.lag!.history.map((h) => h.value)).toEqual([1, 2]);
  });
});

describe('step checkpoints', () => {
  it('are journaled before the step ends, handed to the next attempt after a crash, and dropped once it succeeds', async () => {
    const journal = new MemoryJournalStore();
    const seen: unknown[] = [];
    let crash = true;
    const fence: Step<S> = {
      id: 'fence',
      title: 'fence',
      describe: () => [],
      run: async (ctx) => {
        seen.push(ctx.checkpoints?.fence?.before);
        await ctx.checkpoint?.('before', { roles: ['app'], at: 1 });
        if (crash) throw new StepError('killed mid-fence');
        return { ok: true };
      },
    };
    const flow: Flow<S> = { id: 'f', steps: [fence] };
    const run = () => executeFlow({ runId: 'run1', flow, services: { log: [], drainFailures: 0 }, journal, machine: machineFor(flow), approver: approveAll, signal: new AbortController().signal });
    await run();
    crash = false;
    await run();
    expect(seen).toEqual([undefined, { roles: ['app'], at: 1 }]);
    expect(journal.records.filter((r) => r.t === 'step_checkpoint')).toHaveLength(2);
    expect(replay(await journal.readAll(), ['fence']).checkpoints.size).toBe(0);
  });
});

describe('engine-owned compensation', () => {
  const undoable = (id: string, extra: Partial<Step<S>> = {}): Step<S> => ({ ...step(id), undo: (ctx) => Promise.resolve(void ctx.services.log.push(`undo ${id}`)), ...extra });
  const flow: Flow<S> = {
    id: 'f',
    steps: [undoable('restore', { keepOnRollback: 'the restored database' }), undoable('start-cdc'), step('catch-up'), undoable('fence'), step('stop-task'), undoable('switch', { inEffect: (ctx) => ctx.services.drainFailures > 0 }), step('verify')],
    safety: { guard: 'fence', boundary: 'switch', rewindTo: { default: 'catch-up', ifSucceeded: { 'stop-task': 'start-cdc' } } },
  };
  const ctxWith = (services: S, outputs: Record<string, unknown>) => ({ runId: 'r', outputs, services, signal: new AbortController().signal, attempt: 1, report: { progress: () => {}, metric: () => {}, log: () => {}, publish: () => {} } });
  const done = (...ids: string[]) => Object.fromEntries(ids.map((id) => [id, {}]));

  it('rolls back newest first, the started step included, keeping what keepOnRollback names unless discarding', async () => {
    const services: S = { log: [], drainFailures: 0 };
    const ctx = ctxWith(services, done('restore', 'start-cdc', 'catch-up', 'fence', 'stop-task'));
    const report = await undoSteps(flow, ctx, { succeeded: new Set(Object.keys(ctx.outputs)), started: new Set(['switch']) });
    expect(services.log).toEqual(['undo switch', 'undo fence', 'undo start-cdc']);
    expect(report).toEqual({ undone: ['switch', 'fence', 'start-cdc'], kept: [{ stepId: 'restore', what: 'the restored database' }] });
    services.log.length = 0;
    await undoSteps(flow, ctx, { succeeded: new Set(['restore', 'start-cdc']) }, { discard: true });
    expect(services.log).toEqual(['undo start-cdc', 'undo restore']);
  });

  it('makes safe from the declared data: lifts the guard, rewinds per rewindTo, and never past a begun boundary', async () => {
    const services: S = { log: [], drainFailures: 0 };
    expect(await makeSafe(flow, ctxWith(services, done('restore', 'start-cdc', 'catch-up', 'fence')), 'stop-task')).toEqual(['catch-up', 'fence']);
    expect(await makeSafe(flow, ctxWith(services, done('restore', 'start-cdc', 'catch-up', 'fence', 'stop-task')), 'switch')).toEqual(['start-cdc', 'catch-up', 'fence', 'stop-task']);
    expect(services.log).toEqual(['undo fence', 'undo fence']);
    // Nothing to lift before the fence; nothing lifted once the switch succeeded or has begun.
    expect(await makeSafe(flow, ctxWith(services, done('restore')), 'catch-up')).toEqual([]);
    expect(await makeSafe(flow, ctxWith(services, done('fence', 'switch')), 'verify')).toEqual([]);
    services.drainFailures = 1;
    expect(await makeSafe(flow, ctxWith(services, done('fence', 'stop-task')), 'switch')).toEqual([]);
    expect(services.log).toEqual(['undo fence', 'undo fence']);
  });

  it('several guards: each in effect is lifted, newest first; ifStarted also counts the step that failed', async () => {
    const services: S = { log: [], drainFailures: 0 };
    const brief = undoable('brief', { inEffect: (ctx) => ctx.services.drainFailures > 0 });
    const guarded: Flow<S> = {
      ...flow,
      steps: [...flow.steps.slice(0, 3), brief, ...flow.steps.slice(3)],
      safety: { guard: ['brief', 'fence'], boundary: 'switch', rewindTo: { default: 'catch-up', ifStarted: { 'stop-task': 'start-cdc' } } },
    };
    // The brief fence is up (a failure inside it): only it is lifted.
    services.drainFailures = 1;
    expect(await makeSafe(guarded, ctxWith(services, done('restore', 'start-cdc', 'catch-up')), 'brief')).toEqual(['catch-up']);
    expect(services.log).toEqual(['undo brief']);
    services.log.length = 0;
    services.drainFailures = 0;
    // stop-task failed part-way: the task may be stopping, so start-cdc runs again.
    expect(await makeSafe(guarded, ctxWith(services, done('restore', 'start-cdc', 'catch-up', 'brief', 'fence')), 'stop-task')).toEqual(['start-cdc', 'catch-up', 'brief', 'fence']);
    expect(services.log).toEqual(['undo fence']);
  });

  it('a rewind goes back no later than the first step making safe marked undone', async () => {
    const services: S = { log: [], drainFailures: 0 };
    const journal = new MemoryJournalStore();
    let fails = 1;
    const late: Flow<S> = {
      ...flow,
      steps: flow.steps.map((s) =>
        s.id === 'verify' ? { ...s, id: 'final', run: () => (fails-- > 0 ? Promise.reject(new StepError('time box spent', 'retryable', [], { retryFrom: 'catch-up' })) : Promise.resolve({})) } : s,
      ).filter((s) => s.id !== 'switch').concat([undoable('switch')]),
    };
    const outcome = await executeFlow({ runId: 'run1', flow: late, services, journal, machine: machineFor(late), approver: approveAll, signal: new AbortController().signal });
    expect(outcome.status).toBe('succeeded');
    expect(journal.records.filter((r) => r.t === 'rewind').map((r) => (r as { toStepId: string }).toStepId)).toEqual(['start-cdc']);
    expect(journal.records.filter((r) => r.t === 'step_started' && (r as { stepId: string }).stepId === 'start-cdc')).toHaveLength(2);
  });

  it('rollbackRun undoes from the journal and records started / succeeded', async () => {
    const services: S = { log: [], drainFailures: 0 };
    const journal = new MemoryJournalStore();
    const linear: Flow<S> = { id: 'f', steps: [undoable('a'), undoable('b', { keepOnRollback: 'b things' }), undoable('c'), undoable('d')] };
    const failing: Flow<S> = { ...linear, steps: [...linear.steps.slice(0, 2), undoable('c', { run: () => Promise.reject(new StepError('c broke')) }), linear.steps[3]!] };
    await executeFlow({ runId: 'run1', flow: failing, services, journal, machine: machineFor(linear), approver: approveAll, signal: new AbortController().signal });
    services.log.length = 0;
    const outcome = await rollbackRun({ runId: 'run1', flow: linear, services, journal, machine: machineFor(linear) });
    expect(outcome).toEqual({ status: 'succeeded', undone: ['c', 'a'], kept: [{ stepId: 'b', what: 'b things' }] });
    expect(services.log).toEqual(['undo c', 'undo a']);
    expect(journal.records.filter((r) => r.t === 'rollback').map((r) => (r as { status: string }).status)).toEqual(['started', 'succeeded']);
  });
});
