// Secrets never reach events, the journal or reports: every string that leaves the engine passes here.

const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)([^\s@/]+)(@)/gi;

/**
 * Builds a function that replaces every known secret value with `***`, and masks the password part of
 * any `scheme://user:password@host` URL even when the value was not known in advance.
 */
export function makeRedactor(secrets: Iterable<string | undefined>): (text: string) => string {
  const values = [...new Set([...secrets].filter((s): s is string => typeof s === 'string' && s.length >= 3))].sort(
    (a, b) => b.length - a.length,
  );
  return (text: string): string => {
    let out = text.replace(URL_PASSWORD, '$1***$3');
    for (const v of values) if (out.includes(v)) out = out.split(v).join('***');
    return out;
  };
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
