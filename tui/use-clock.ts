// Time for elapsed counters and the spinner: one interval per caller, stopped when not needed.
import { useEffect, useState } from 'react';

/** `Date.now()`, refreshed every `intervalMs` while `isActive`. */
export function useClock(intervalMs: number, isActive = true): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!isActive) return undefined;
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, isActive]);
  return now;
}
