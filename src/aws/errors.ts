// Maps AWS SDK errors onto what a step should do: a missing resource is an answer (undefined), throttling and
// server faults are worth retrying, access denied is the caller's to fix, anything else stops the step.
import { StepError } from '../engine/types.js';
import type { ErrorKind } from '../engine/types.js';

/** How an AWS error should be treated. */
export type AwsErrorClass = 'not-found' | 'throttled' | 'server' | 'access-denied' | 'other';

const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);
const ACCESS_DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'AccessDeniedFault', 'UnauthorizedOperation', 'NotAuthorized']);

/** The AWS error name (`DBClusterNotFoundFault`...) or `Error` when it is not an SDK error. */
export function awsErrorName(error: unknown): string {
  if (error instanceof Error) return error.name;
  if (typeof error === 'object' && error !== null && 'name' in error && typeof error.name === 'string') return error.name;
  return 'Error';
}

function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const meta = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return meta?.httpStatusCode;
}

export function classifyAwsError(error: unknown): AwsErrorClass {
  const name = awsErrorName(error);
  if (/NotFound/.test(name)) return 'not-found';
  if (THROTTLING.has(name)) return 'throttled';
  if (ACCESS_DENIED.has(name)) return 'access-denied';
  const fault = typeof error === 'object' && error !== null && '$fault' in error ? (error as { $fault?: string }).$fault : undefined;
  const status = httpStatus(error);
  if (fault === 'server' || (status !== undefined && status >= 500)) return 'server';
  return 'other';
}

export function isNotFound(error: unknown): boolean {
  return classifyAwsError(error) === 'not-found';
}

export function isRetryable(error: unknown): boolean {
  const c = classifyAwsError(error);
  return c === 'throttled' || c === 'server';
}

/** Wraps an AWS error in a StepError naming the action; keeps the cause. */
export function awsStepError(action: string, error: unknown): StepError {
  if (error instanceof StepError) return error;
  const c = classifyAwsError(error);
  const kind: ErrorKind = c === 'throttled' || c === 'server' ? 'retryable' : c === 'access-denied' ? 'rejected' : 'fatal';
  const message = error instanceof Error ? error.message : String(error);
  return new StepError(`${action} failed: ${awsErrorName(error)}: ${message}`, kind, [], { cause: error });
}

/** Runs an AWS call; any error becomes a StepError naming `action`. */
export async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw awsStepError(action, error);
  }
}

/** Runs a lookup; a NotFound error means the thing does not exist (undefined). */
export async function lookup<T>(action: string, fn: () => Promise<T | undefined>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw awsStepError(action, error);
  }
}
