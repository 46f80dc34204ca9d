// Secrets never reach events, the journal or reports: every string that leaves the engine passes here.

const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)([^\s@/]+)(@)/gi;

/** A redactor that can learn more secret values while the run goes on (e.g. fetched from a secret store). */
export interface Redactor {
  /** Replaces every known secret value with `***` and masks URL passwords. */
  (text: string): string;
  /** Adds a value to redact from now on; values shorter than 3 characters are ignored (they would mask ordinary text). */
  add(value: string | undefined): void;
}

/**
 * Builds a function that replaces every known secret value with `***`, and masks the password part of
 * any `scheme://user:password@host` URL even when the value was not known in advance.
 */
export function makeRedactor(secrets: Iterable<string | undefined>): Redactor {
  const known = new Set<string>();
  // Longest first, so a secret that contains another one is masked whole.
  let values: string[] = [];
  const redact = (text: string): string => {
    let out = text.replace(URL_PASSWORD, '$1***$3');
    for (const v of values) if (out.includes(v)) out = out.split(v).join('***');
    return out;
  };
  const add = (value: string | undefined): void => {
    if (typeof value !== 'string' || value.length < 3 || known.has(value)) return;
    known.add(value);
    values = [...known].sort((a, b) => b.length - a.length);
  };
  for (const s of secrets) add(s);
  return Object.assign(redact, { add });
}

/** Applies a redactor to every string inside a JSON-like value. */
export function redactDeep<T>(value: T, redact: (text: string) => string): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v, redact)) as T;
  if (value !== null && typeof value === 'object') {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redactDeep(v, redact);
    return out as T;
  }
  return value;
}
