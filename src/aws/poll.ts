// Bounded polling in the AWS waiter style: a pure classifier decides success / failure / retry for each
// observation; delays grow from minDelay to maxDelay; a deadline and the abort signal end the wait.
import { InterruptedError, StepError } from '../engine/types.js';
import { isRetryable } from './errors.js';

/** What a classifier says about one observation. */
export type Verdict = { state: 'success' } | { state: 'failure'; reason: string } | { state: 'retry'; note?: string };

/** Time source and abortable sleep; the step services' clock fits. */
export interface PollClock {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface PollOptions<T> {
  /** What is awaited, for messages (`cluster app-rekey-x available`). */
  what: string;
  /** Reads the current state (one or a few AWS calls). */
  observe(): Promise<T>;
  /** Pure: decides from one observation. */
  classify(observation: T): Verdict;
  clock: PollClock;
  signal: AbortSignal;
  /** First delay between observations. */
  minDelayMs: number;
  /** Longest delay between observations. */
  maxDelayMs: number;
  /** Give up after this long; the timeout is a retryable StepError. */
  timeoutMs: number;
  /** Called after each observation that was not final (progress reporting). */
  onRetry?(observation: T, verdict: Verdict): void;
}

function throwIfAborted(signal: AbortSignal, what: string): void {
  if (signal.aborted) throw new InterruptedError(`interrupted while waiting for ${what}`);
}

/** Polls until the classifier says success (returns the observation) or failure (throws). */
export async function poll<T>(options: PollOptions<T>): Promise<T> {
  const { clock, signal, what } = options;
  const deadline = clock.now() + options.timeoutMs;
  let delay = Math.max(0, options.minDelayMs);
  for (;;) {
    throwIfAborted(signal, what);
    let verdict: Verdict;
    let observation: T | undefined;
    try {
      observation = await options.observe();
      verdict = options.classify(observation);
    } catch (error) {
      // Throttling and 5xx are the waiter's business: retry within the deadline.
      if (!isRetryable(error)) throw error;
      verdict = { state: 'retry', note: 'throttled or server error' };
    }
    if (verdict.state === 'success') return observation as T;
    if (verdict.state === 'failure') throw new StepError(`${what}: ${verdict.reason}`, 'fatal');
    if (observation !== undefined) options.onRetry?.(observation, verdict);
    const left = deadline - clock.now();
    if (left <= 0) {
      const note = verdict.note ? ` (last: ${verdict.note})` : '';
      throw new StepError(`timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${what}${note}`, 'retryable');
    }
    try {
      await clock.sleep(Math.min(delay, left), signal);
    } catch (error) {
      if (signal.aborted) throw new InterruptedError(`interrupted while waiting for ${what}`);
      throw error;
    }
    delay = Math.min(options.maxDelayMs, Math.max(delay * 2, 1));
  }
}
