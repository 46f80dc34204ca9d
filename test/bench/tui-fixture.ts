// Run by benchTui() (test/bench/tui.ts) in a pseudo-terminal: mounts the real TUI over a fake run with one
// step waiting, notes when the first frame reaches the terminal, measures the CPU used while the step waits,
// writes the numbers as JSON to the file named by argv[2], and exits.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { RunMachine } from '../../src/engine/run-machine.js';
import { InkRenderer } from '../../tui/ink-renderer.js';

const resultPath = process.argv[2];
const idleMs = Number(process.argv[3] ?? 3000);
if (!resultPath) throw new Error('usage: tui-fixture.js RESULT_FILE [IDLE_MS]');

// Wall-clock epoch ms of the first write that carries the running step's title.
let firstFrameAt: number | undefined;
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  if (firstFrameAt === undefined && String(chunk).includes('Wait for CDC to catch up')) firstFrameAt = performance.timeOrigin + performance.now();
  return write(chunk, ...rest);
});

const machine = new RunMachine(
  'bench',
  [
    { id: 'preflight', title: 'Preflight checks (read-only)', hasGate: false },
    { id: 'catch-up', title: 'Wait for CDC to catch up', hasGate: false },
    { id: 'fence', title: 'Fence writes on the source', hasGate: true },
  ],
  { runbook: 'bench', source: 'orders-db', target: 'orders-db-rekey-bench', oldKey: 'alias/aws/rds', newKey: 'alias/orders-2026', provider: 'rehearsal' },
);
const t0 = new Date().toISOString();
machine.setRunStatus('running');
machine.setStepStatus('preflight', { kind: 'succeeded', startedAt: t0, endedAt: t0, durationMs: 40, resumed: false });
machine.setStepStatus('catch-up', { kind: 'running', startedAt: t0, attempt: 1 });
machine.progress('catch-up', 'latency 3 s (threshold 2 s)');
machine.metric('cdc.latency.source', 3, 's');
machine.metric('cdc.latency.target', 2, 's');

const renderer = new InkRenderer({ interrupt: () => undefined });
renderer.attach(machine, new AbortController());

// Let the first frame and JIT warm-up settle (1 s), then measure a quiet wait: only the spinner and the clock tick.
setTimeout(() => {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  setTimeout(() => {
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - wall0;
    const firstFrameMs = firstFrameAt === undefined ? -1 : firstFrameAt - performance.timeOrigin;
    const idleCpuPercent = ((cpu.user + cpu.system) / 1000 / wall) * 100;
    writeFileSync(resultPath, JSON.stringify({ firstFrameMs, idleCpuPercent }));
    void renderer.done({ status: 'interrupted' }, machine, 130, {}).then(() => process.exit(0));
  }, idleMs);
}, 1000);
