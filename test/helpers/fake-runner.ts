// A runner over fake steps, for the engine's crash/resume/gate/signal tests. It goes through the same
// session driver, journal, lock and renderers as `rekey run`; only the steps are fakes that record what
// they do in a trace file, so a test can count entries, exits and re-discoveries.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { headlessApprover } from '../../src/engine/approvers.js';
import { InterruptedError, StepError, type Flow, type Step } from '../../src/engine/types.js';
import { JsonRenderer, LineRenderer } from '../../src/present/headless.js';
import { runSession } from '../../src/cli/session.js';
import { RunStore, newRunId } from '../../src/state/run-store.js';
import { makeRedactor } from '../../src/engine/redact.js';

interface Args {
  command: 'run' | 'resume';
  runId?: string;
  stateDir: string;
  trace: string;
  stepMs: number;
  approve: string[];
  yes: boolean;
  json: boolean;
  failAt?: string;
  /** Steps finish their sleep even when interrupted (like a switch completing its rename pair). */
  finishOnInterrupt?: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = { command: argv[0] === 'resume' ? 'resume' : 'run', stateDir: '.rekey', trace: 'trace.log', stepMs: 300, approve: [], yes: false, json: false };
  for (let i = 1; i < argv.length; i++) {
    const v = argv[i]!;
    const next = (): string => argv[++i] ?? '';
    if (v === '--state-dir') a.stateDir = next();
    else if (v === '--trace') a.trace = next();
    else if (v === '--step-ms') a.stepMs = Number(next());
    else if (v === '--approve') a.approve.push(next());
    else if (v === '--yes') a.yes = true;
    else if (v === '--json') a.json = true;
    else if (v === '--fail-at') a.failAt = next();
    else if (v === '--finish-on-interrupt') a.finishOnInterrupt = true;
    else if (v === '--run-id') a.runId = next();
    else a.runId = v;
  }
  return a;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(new InterruptedError());
    }, { once: true });
  });
}

interface FakeServices {
  trace: (line: string) => void;
  resources: string;
  stepMs: number;
  failAt?: string;
  finishOnInterrupt?: boolean;
  secret: string;
  /** The step entered last (what the engine makes safe after). */
  current?: string;
}

function fakeStep(id: string, gate = false): Step<FakeServices> {
  return {
    id,
    title: `Fake step ${id}`,
    ...(gate ? { gate: { id: 'cutover', question: 'Cut over now?', facts: () => ({ latencySeconds: 0.4 }), confirmText: () => 'orders-db' } } : {}),
    describe: () => [{ kind: 'note', target: id, summary: `would do ${id}` }],
    async run(ctx) {
      const s = ctx.services;
      s.trace(`enter ${id} ${ctx.attempt}`);
      s.current = id;
      const marker = join(s.resources, `${id}.created`);
      // Idempotent: find what an earlier attempt created before creating it.
      if (existsSync(marker)) s.trace(`found ${id}`);
      else {
        writeFileSync(marker, id);
        s.trace(`created ${id}`);
      }
      ctx.report.progress(`working on ${id} with password ${s.secret}`, 50);
      ctx.report.log('info', `connecting as admin:${s.secret}@db`);
      await sleep(s.stepMs, s.finishOnInterrupt ? new AbortController().signal : ctx.signal);
      if (s.failAt === id) throw new StepError(`${id} failed on purpose (secret ${s.secret})`, 'fatal');
      s.trace(`exit ${id}`);
      return { id, note: `made ${id}`, token: s.secret };
    },
  };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const store = new RunStore(args.stateDir);
  const secret = process.env.FAKE_SECRET ?? 'no-secret-given';
  const redact = makeRedactor([secret]);
  const resources = join(args.stateDir, 'resources');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(resources, { recursive: true });
  const flow: Flow<FakeServices> = {
    id: 'fake',
    // s1 stands for the fence: the engine lifts it (its undo) after a failure; nothing is rewound.
    steps: [{ ...fakeStep('s1'), undo: (ctx) => Promise.resolve(ctx.services.trace(`make-safe after ${ctx.services.current ?? '?'}`)) }, fakeStep('s2'), fakeStep('s3', true), fakeStep('s4'), fakeStep('s5')],
    safety: { guard: 's1', boundary: 's5', rewindTo: { default: 's5' } },
  };
  const runId = args.command === 'run' ? (args.runId ?? newRunId()) : args.runId!;
  if (args.command === 'resume' && !store.exists(runId)) {
    process.stderr.write(`rekey: error: no run ${runId} in ${store.root}\n`);
    process.exit(2);
  }
  const stateDirArg = ` --state-dir ${args.stateDir}`;
  const renderer = args.json ? new JsonRenderer(undefined, { stateDirArg }) : new LineRenderer(undefined, { stateDirArg });
  const result = await runSession({
    store,
    runId,
    flow,
    services: { trace: (l) => appendFileSync(args.trace, `${l}\n`), resources, stepMs: args.stepMs, ...(args.failAt ? { failAt: args.failAt } : {}), ...(args.finishOnInterrupt ? { finishOnInterrupt: true } : {}), secret },
    ...(args.command === 'run'
      ? { created: { t: 'run_created' as const, at: new Date().toISOString(), runId, flowId: 'fake', runbookPath: 'fake.yaml', runbookName: 'fake', provider: 'rehearsal' as const, meta: {} } }
      : {}),
    info: { runbook: 'fake' },
    renderer,
    approver: headlessApprover({ approve: args.approve, yes: args.yes, by: '--approve' }),
    redact,
    command: `fake-runner ${args.command}`,
  });
  process.exitCode = result.exitCode;
}

main().catch((err: unknown) => {
  process.stderr.write(`rekey: internal error: ${String(err)}\n`);
  process.exit(1);
});
