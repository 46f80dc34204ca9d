// Line mode's live lines that no engine event triggers: the cutover window while writes are blocked (when it opens,
// every few seconds while open, when it closes) and one gh-ost-like status line every 30 s: where the run is, how far,
// the ETA, CDC latency and, in a rehearsal, the live writes.
import type { RunMachine, RunSnapshot } from '../engine/run-machine.js';
import { cutoverWindow, windowContext, windowText, type CutoverWindow } from './cutover-window.js';
import { expectedLeftMs } from './expected.js';
import { humanDuration } from './summary-text.js';
import { formatBytes } from '../steps/bytes.js';

export interface TickerOptions {
  /** How often the status line is printed (default 30 s). */
  statusEveryMs?: number;
  /** How often an open window is restated (default 5 s). */
  windowEveryMs?: number;
  /** Tick period (default 1 s). */
  tickMs?: number;
  now?: () => number;
}

function seconds(v: number | undefined): string {
  return v === undefined ? '–' : `${Math.round(v * 10) / 10} s`;
}

/** One line: `status: step 8/19 Wait for CDC to catch up 45% eta 1m20s · elapsed 2m03s · latency source 0.4 s, target 0.8 s (threshold 2 s) · writes 100/s, 1166 acknowledged, 0 refused` */
export function statusLine(snap: RunSnapshot, now: number): string {
  const parts: string[] = [];
  const index = snap.steps.findIndex((s) => s.status.kind === 'running' || s.status.kind === 'awaiting_approval');
  const step = index >= 0 ? snap.steps[index] : undefined;
  if (step) {
    const st = step.status;
    let where = `step ${index + 1}/${snap.steps.length} ${step.title}`;
    if (st.kind === 'awaiting_approval') where += ': waiting for approval';
    const p = step.progress;
    if (st.kind === 'running') {
      if (p?.percent !== undefined) where += ` ${Math.round(p.percent)}%`;
      if (p?.etaSeconds !== undefined) where += ` eta ${humanDuration(p.etaSeconds * 1000)}`;
      else {
        const e = expectedLeftMs(snap.info, step.id, now - Date.parse(st.startedAt));
        if (e) where += e.leftMs > 0 ? ` eta ~${humanDuration(e.leftMs)} (from ${e.from})` : ` (longer than usual, ${e.from})`;
      }
      where += ` (running ${humanDuration(Math.max(0, now - Date.parse(st.startedAt)))})`;
    }
    parts.push(where);
  } else {
    parts.push(`${snap.status.replace(/_/g, ' ')}`);
  }
  parts.push(`elapsed ${humanDuration(Math.max(0, now - Date.parse(snap.startedAt)))}`);
  const m = snap.metrics;
  const src = m['cdc.latency.source']?.value;
  const tgt = m['cdc.latency.target']?.value;
  if (src !== undefined || tgt !== undefined) {
    const threshold = m['cdc.threshold']?.value;
    parts.push(`CDC latency source ${seconds(src)}, target ${seconds(tgt)}${threshold !== undefined ? ` (threshold ${threshold} s)` : ''}`);
  }
  const backlog = m['cdc.backlog.bytes']?.value;
  if (backlog !== undefined && step?.id === 'catch-up') parts.push(`backlog ${formatBytes(backlog)} of WAL/binlog on the source`);
  const ack = m['load.acknowledged']?.value;
  if (ack !== undefined) parts.push(`writes ${Math.round(m['load.perSecond']?.value ?? 0)}/s, ${ack} acknowledged, ${m['load.errors']?.value ?? 0} refused`);
  const w = cutoverWindow(snap, now);
  if (w?.phase === 'open') parts.push(windowText(w).toUpperCase());
  return `status: ${parts.join(' · ')}`;
}

/** Starts the ticker; returns stop(). `print` receives text without a timestamp. */
export function startHeadlessTicker(machine: RunMachine, print: (text: string) => void, opts: TickerOptions = {}): () => void {
  const now = opts.now ?? (() => Date.now());
  const statusEvery = opts.statusEveryMs ?? 30_000;
  const windowEvery = opts.windowEveryMs ?? 5_000;
  let lastStatus = now();
  let lastWindowLine = 0;
  let last: CutoverWindow | undefined;
  const tick = (): void => {
    const snap = machine.getSnapshot();
    const t = now();
    const w = cutoverWindow(snap, t);
    if (w?.phase === 'open') {
      if (last?.phase !== 'open') print(`writes blocked from now on: the source is fenced until the switch${windowContext(w) ? ` (${windowContext(w)})` : ''}`);
      else if (t - lastWindowLine >= windowEvery) print(windowText(w));
      else {
        last = w;
        return maybeStatus(snap, t);
      }
      lastWindowLine = t;
    } else if (last?.phase === 'open') {
      const closed = w ?? { ...last, blockedMs: last.blockedMs + (t - lastWindowLine), phase: 'closed' as const };
      print(`${windowText(closed)}; writes flow again${w?.closedBy === 'switch' ? ' (switched to the new key)' : w?.closedBy === 'unfence' ? ' (source unfenced)' : ''}`);
    }
    last = w;
    maybeStatus(snap, t);
  };
  const maybeStatus = (snap: RunSnapshot, t: number): void => {
    if (t - lastStatus < statusEvery) return;
    lastStatus = t;
    print(statusLine(snap, t));
  };
  // Events can open or close the window between ticks: look at once too.
  const unsubscribe = machine.subscribe((e) => {
    if (e?.type === 'step' && (e.stepId === 'fence' || e.stepId === 'switch')) tick();
  });
  const timer = setInterval(tick, opts.tickMs ?? 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
}
