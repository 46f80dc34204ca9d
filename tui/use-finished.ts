// Turns the changing step list into an append-only list of finished steps for <Static>, which prints each
// item once. A step that finishes again (a rewind re-runs catch-up) gets a new entry, never an edit.
import { useRef } from 'react';
import type { StepView } from '../src/engine/run-machine.js';
import type { StepStatus } from '../src/engine/types.js';

/** A step that reached an end state, as printed once. */
export interface FinishedStep {
  /** Unique per finishing (step id, end state and its time). */
  key: string;
  /** The step id. */
  id: string;
  /** The step title. */
  title: string;
  /** The end state. */
  status: Extract<StepStatus, { kind: 'succeeded' | 'failed' | 'skipped' | 'rolled_back' }>;
}

function finishedKey(s: StepView): string | undefined {
  const st = s.status;
  switch (st.kind) {
    case 'succeeded':
    case 'failed':
      return `${s.id}:${st.kind}:${st.endedAt}`;
    case 'skipped':
      return `${s.id}:skipped`;
    case 'rolled_back':
      return `${s.id}:rolled_back:${st.at}`;
    case 'pending':
    case 'running':
    case 'awaiting_approval':
      return undefined;
  }
}

/** Every finishing seen so far, in the order seen (stable across renders). */
export function useFinished(steps: readonly StepView[]): FinishedStep[] {
  const ref = useRef<{ seen: Set<string>; list: FinishedStep[] }>({ seen: new Set(), list: [] });
  const fresh: FinishedStep[] = [];
  for (const s of steps) {
    const key = finishedKey(s);
    if (key === undefined || ref.current.seen.has(key)) continue;
    ref.current.seen.add(key);
    fresh.push({ key, id: s.id, title: s.title, status: s.status as FinishedStep['status'] });
  }
  if (fresh.length > 0) ref.current.list = [...ref.current.list, ...fresh];
  return ref.current.list;
}
