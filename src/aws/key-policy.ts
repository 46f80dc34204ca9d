// Decides from a key policy (and grants) whether RDS can use the key. IAM policies are invisible from here,
// so anything that delegates to them is UNCERTAIN: a warning, never a hard failure.
import type { GrantListEntry } from '@aws-sdk/client-kms';

/** The answer and why. */
export interface KeyAccessVerdict {
  verdict: 'allowed' | 'denied' | 'uncertain';
  reason: string;
}

interface Statement {
  Effect?: string;
  Principal?: unknown;
  Action?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

function list<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(value);
}

function allowsCreateGrant(s: Statement): boolean {
  return list(s.Action).some((a) => globMatch(a, 'kms:CreateGrant'));
}

function principals(p: unknown): string[] {
  if (p === '*') return ['*'];
  if (typeof p !== 'object' || p === null) return [];
  return Object.values(p as Record<string, string | string[]>).flatMap((v) => list(v));
}

/** `rds` when a kms:ViaService condition admits RDS in the region, `other` when it names only other services, `none` without one. */
function viaService(s: Statement, region: string): 'rds' | 'other' | 'none' {
  let seen = false;
  for (const conditions of Object.values(s.Condition ?? {})) {
    for (const [key, value] of Object.entries(conditions)) {
      if (key.toLowerCase() !== 'kms:viaservice') continue;
      seen = true;
      if (list(value).some((v) => globMatch(v, `rds.${region}.amazonaws.com`))) return 'rds';
    }
  }
  return seen ? 'other' : 'none';
}

const ROOT = /^(arn:aws[a-z-]*:iam::\d{12}:root|\d{12})$/;

export function evaluateKeyPolicy(policyJson: string, region: string, grants: GrantListEntry[] = []): KeyAccessVerdict {
  let statements: Statement[];
  try {
    statements = list((JSON.parse(policyJson) as { Statement?: Statement | Statement[] }).Statement);
  } catch {
    return { verdict: 'uncertain', reason: 'the key policy is not valid JSON' };
  }
  // An explicit deny to everyone (unconditional, or conditioned on RDS itself) overrides every allow.
  const denied = statements.find(
    (s) =>
      s.Effect === 'Deny' &&
      allowsCreateGrant(s) &&
      principals(s.Principal).includes('*') &&
      Object.values(s.Condition ?? {}).every((c) => Object.keys(c).every((k) => k.toLowerCase() === 'kms:viaservice')) &&
      viaService(s, region) !== 'other',
  );
  if (denied) return { verdict: 'denied', reason: 'the key policy denies kms:CreateGrant to every principal, so RDS cannot use the key' };
  // A statement limited to other services (or RDS in another region) never helps RDS here.
  const allowing = statements.filter((s) => s.Effect === 'Allow' && allowsCreateGrant(s) && viaService(s, region) !== 'other');
  if (allowing.some((s) => viaService(s, region) === 'rds')) {
    return { verdict: 'allowed', reason: `the key policy allows kms:CreateGrant via rds.${region}.amazonaws.com` };
  }
  if (allowing.some((s) => principals(s.Principal).includes('*'))) {
    return { verdict: 'allowed', reason: 'the key policy allows kms:CreateGrant to any principal' };
  }
  const named = [...new Set(allowing.flatMap((s) => principals(s.Principal)))];
  if (named.some((p) => ROOT.test(p))) {
    return { verdict: 'uncertain', reason: 'the key policy delegates kms:CreateGrant to IAM policies of the account; whether the caller has it cannot be read from here' };
  }
  if (named.length > 0) {
    return { verdict: 'uncertain', reason: `the key policy allows kms:CreateGrant only to ${named.join(', ')}; cannot tell whether the caller is one of them` };
  }
  if (grants.some((g) => g.Operations?.includes('CreateGrant'))) {
    return { verdict: 'uncertain', reason: 'no key policy statement allows kms:CreateGrant, but a grant does; cannot tell whether it covers the caller' };
  }
  return { verdict: 'denied', reason: 'no key policy statement or grant allows kms:CreateGrant, so RDS cannot use the key' };
}
