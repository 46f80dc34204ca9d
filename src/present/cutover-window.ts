// The cutover window as it happens: from the moment the fence goes up until the switch is done (or the fence is
// undone), writes to the source are blocked. Read from the run's snapshot, for the TUI's banner and line mode.
import type { RunMachine, RunSnapshot } from '../engine/run-machine.js';

export interface CutoverWindow {
  /** `open`: writes are blocked now; `closed`: they flow again (switched, or unfenced). */
  phase: 'open' | 'closed';
  /** How long writes have been (or were) blocked. */
  blockedMs: number;
  /** Preflight's prediction, when this session ran preflight. */
  predictedSeconds?: number;
  /** cutover.fenceTimeoutSeconds: past it rekey unfences and stops. */
  fenceLimitSeconds?: number;
  /** How it closed. */
  closedBy?: 'switch' | 'unfence';
  /** ISO time the fence went up. */
  startedAt: string;
}

/** The info key under which the session puts cutover.fenceTimeoutSeconds. */
export const FENCE_LIMIT_INFO = 'fenceLimitSeconds';

function predicted(published: RunSnapshot['published']): number | undefined {
  const p = published.preflight;
  return p && p.estimated !== false ? p.estimate.totalSeconds : undefined;
}

/** The window of this session, or undefined when the fence has not gone up (or went up in an earlier runner). */
export function cutoverWindow(snap: Pick<RunSnapshot, 'steps' | 'published' | 'info'>, now: number): CutoverWindow | undefined {
  const fence = snap.steps.find((s) => s.id === 'fence');
  if (!fence) return undefined;
  const fs = fence.status;
  const started = fs.kind === 'running' || (fs.kind === 'succeeded' && !fs.resumed) || fs.kind === 'failed' ? Date.parse(fs.startedAt) : undefined;
  const sw = snap.steps.find((s) => s.id === 'switch')?.status;
  const limit = Number(snap.info[FENCE_LIMIT_INFO]);
  const context = {
    ...(predicted(snap.published) !== undefined ? { predictedSeconds: predicted(snap.published)! } : {}),
    ...(Number.isFinite(limit) && limit > 0 ? { fenceLimitSeconds: limit } : {}),
  };
  if (started === undefined) {
    // A fence undone in this session (unfenced after a failure) closed a window we did not see open: nothing to show.
    return undefined;
  }
  const startedAt = new Date(started).toISOString();
  if (sw?.kind === 'succeeded') return { phase: 'closed', startedAt, blockedMs: Math.max(0, Date.parse(sw.endedAt) - started), closedBy: 'switch', ...context };
  if (fs.kind === 'failed') return { phase: 'closed', startedAt, blockedMs: Math.max(0, Date.parse(fs.endedAt) - started), closedBy: 'unfence', ...context };
  const undone = snap.steps.find((s) => s.status.kind === 'rolled_back' && s.id === 'fence');
  if (undone && undone.status.kind === 'rolled_back') return { phase: 'closed', startedAt, blockedMs: Math.max(0, Date.parse(undone.status.at) - started), closedBy: 'unfence', ...context };
  return { phase: 'open', startedAt, blockedMs: Math.max(0, now - started), ...context };
}

/** `predicted 6 s, fence limit 30 s` (empty when neither is known). */
export function windowContext(w: CutoverWindow): string {
  return [w.predictedSeconds !== undefined ? `predicted ${w.predictedSeconds} s` : undefined, w.fenceLimitSeconds !== undefined ? `fence limit ${w.fenceLimitSeconds} s` : undefined].filter(Boolean).join(', ');
}

/** `writes blocked 3.1 s (predicted 6 s, fence limit 30 s)` */
export function windowText(w: CutoverWindow): string {
  const context = windowContext(w);
  return `writes blocked ${(w.blockedMs / 1000).toFixed(1)} s${context ? ` (${context})` : ''}`;
}

/**
 * The `--json` line for the window (an addition to the event stream): `open` when the fence goes up (writes blocked),
 * `closed` when the switch is done or the fence is undone (writes flow again), with how long and the prediction.
 */
export interface WindowEvent {
  type: 'window';
  at: string;
  runId: string;
  state: 'open' | 'closed';
  /** ISO time the fence went up. */
  startedAt: string;
  /** How long writes have been (open) or were (closed) blocked. */
  elapsedMs: number;
  /** Preflight's prediction, when known. */
  predictedMs?: number;
  /** cutover.fenceTimeoutSeconds, as milliseconds. */
  fenceLimitMs?: number;
  /** closed: by the switch, or by undoing the fence. */
  closedBy?: 'switch' | 'unfence';
}

/** The window event for `w` seen at `now`. */
export function windowEvent(runId: string, w: CutoverWindow, now: number): WindowEvent {
  return {
    type: 'window',
    at: new Date(now).toISOString(),
    runId,
    state: w.phase,
    startedAt: w.startedAt,
    elapsedMs: Math.round(w.blockedMs),
    ...(w.predictedSeconds !== undefined ? { predictedMs: w.predictedSeconds * 1000 } : {}),
    ...(w.fenceLimitSeconds !== undefined ? { fenceLimitMs: w.fenceLimitSeconds * 1000 } : {}),
    ...(w.closedBy ? { closedBy: w.closedBy } : {}),
  };
}

/** Calls `emit` when the window opens and when it closes (each once per opening), from the machine's step events. */
export function watchWindow(machine: RunMachine, emit: (e: WindowEvent) => void, now: () => number = Date.now): () => void {
  let open: CutoverWindow | undefined;
  return machine.subscribe((e) => {
    if (e?.type !== 'step' || (e.stepId !== 'fence' && e.stepId !== 'switch')) return;
    const snap = machine.getSnapshot();
    const t = now();
    if (open && e.stepId === 'fence' && e.status.kind === 'rolled_back') {
      // Undone (unfenced after a failure or an interruption): the step keeps no start time, the open window has it.
      const closed: CutoverWindow = { ...open, phase: 'closed', closedBy: 'unfence', blockedMs: Math.max(0, Date.parse(e.status.at) - Date.parse(open.startedAt)) };
      open = undefined;
      emit(windowEvent(snap.runId, closed, t));
      return;
    }
    const w = cutoverWindow(snap, t);
    if (w?.phase === 'open' && !open) {
      open = w;
      emit(windowEvent(snap.runId, w, t));
    } else if (w?.phase === 'closed' && open) {
      open = undefined;
      emit(windowEvent(snap.runId, w, t));
    }
  });
}
