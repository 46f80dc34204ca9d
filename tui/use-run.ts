// The one hook between the engine and React: useSyncExternalStore over the run's subscribe/getSnapshot,
// with change notifications throttled so a burst of engine events costs at most ~10 renders a second.
import { useMemo, useSyncExternalStore } from 'react';
import type { RunSnapshot } from '../src/engine/run-machine.js';

/** What the TUI needs from a run: the RunMachine satisfies it. */
export interface RunSource {
  /** Calls the listener on every change; returns unsubscribe. */
  subscribe(listener: () => void): () => void;
  /** The current immutable snapshot. */
  getSnapshot(): RunSnapshot;
}

/** Wraps subscribe so the listener runs at most once per `intervalMs`, the last change always delivered. */
export function throttleSubscribe(subscribe: RunSource['subscribe'], intervalMs: number, now: () => number = Date.now): RunSource['subscribe'] {
  return (onChange) => {
    let last = -Infinity;
    let timer: NodeJS.Timeout | undefined;
    const fire = (): void => {
      timer = undefined;
      last = now();
      onChange();
    };
    const unsubscribe = subscribe(() => {
      if (timer) return;
      const wait = last + intervalMs - now();
      if (wait <= 0) fire();
      else timer = setTimeout(fire, wait);
    });
    return () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
    };
  };
}

/** The run's current snapshot, re-rendering at most every `intervalMs` (default 100 ms). */
export function useRun(source: RunSource, intervalMs = 100): RunSnapshot {
  const subscribe = useMemo(() => throttleSubscribe((l) => source.subscribe(l), intervalMs), [source, intervalMs]);
  return useSyncExternalStore(subscribe, () => source.getSnapshot());
}
