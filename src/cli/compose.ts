// The composition root: builds the services steps receive, against AWS or the rehearsal cloud.
import { spawn } from 'node:child_process';
import type { Cloud } from '../aws/cloud.js';
import { createAwsCloud } from '../aws/create-cloud.js';
import { secretsManagerResolver } from '../aws/secrets.js';
import { defaultConnector } from '../db/connector.js';
import { InterruptedError } from '../engine/types.js';
import { makeRedactor, type Redactor } from '../engine/redact.js';
import { resolveSecret } from '../runbook/load.js';
import type { Runbook, SecretRef } from '../runbook/schema.js';
import { resourceNames } from '../steps/names.js';
import type { RekeyServices } from '../steps/services.js';
import { rehearsalSecret } from '../rehearsal/workload/adopt.js';

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new InterruptedError());
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new InterruptedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs a hook command with /bin/sh, killed after the timeout or on abort; output is kept short. */
function exec(command: string, env: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const kill = (): void => {
      child.kill('SIGTERM');
    };
    const timer = setTimeout(kill, timeoutMs);
    signal.addEventListener('abort', kill, { once: true });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', kill);
      resolve({ code, output });
    });
  });
}

/** Secret values the runbook references, for the redactor (env refs only: Secrets Manager values are learnt when fetched). */
export function knownSecrets(runbook: Runbook, env: NodeJS.ProcessEnv = process.env): string[] {
  const refs: SecretRef[] = [runbook.source.password, ...(runbook.dms?.password ? [runbook.dms.password] : [])];
  const values = refs.map((r) => resolveSecret(r, env));
  const urlEnv = runbook.rehearsal?.source.urlPasswordEnv;
  if (urlEnv) values.push(env[urlEnv]);
  return values.filter((v): v is string => v !== undefined && v !== '');
}

/** The run's redactor: knows the env secrets now and learns each Secrets Manager value as composeServices fetches it. */
export function redactorFor(runbook: Runbook): Redactor {
  return makeRedactor(knownSecrets(runbook));
}

export interface ComposeOptions {
  runbook: Runbook;
  runId: string;
  provider: 'aws' | 'rehearsal';
  /** The rehearsal cloud's senders (required for provider rehearsal). */
  cloud?: Cloud;
  profile?: string;
  /**
   * The redactor of the session these services serve (from redactorFor): every value fetched from Secrets Manager
   * is added to it before use. Without it, fetching a secret is refused (its value could not be redacted).
   */
  redactor?: Redactor;
  /** The rehearsal world's password file for an adopted source's passwords (RehearsalWorld.passfile). */
  passfile?: string;
}

export function composeServices(opts: ComposeOptions): RekeyServices {
  const { runbook } = opts;
  const cloud = opts.cloud ?? createAwsCloud({ region: runbook.region, ...(opts.profile ? { profile: opts.profile } : {}) });
  const rehearsal = opts.provider === 'rehearsal';
  const { redactor } = opts;
  const secretsManager = redactor && secretsManagerResolver({ ...(opts.profile ? { profile: opts.profile } : {}), learn: (value) => redactor.add(value) });
  return {
    cloud,
    runbook,
    names: resourceNames(runbook, opts.runId),
    db: defaultConnector,
    ...(rehearsal && opts.passfile !== undefined ? { passfile: opts.passfile } : {}),
    secrets: {
      resolve(ref: SecretRef): Promise<string | undefined> {
        if (rehearsal) {
          // The rehearsal's own servers have passwordless accounts (the runbook's secret is not used); an adopted
          // database (rehearsal.source.url) and its copies carry its accounts, so there the secret is used as written.
          return Promise.resolve(rehearsalSecret(runbook, ref) ?? '');
        }
        if ('env' in ref) return Promise.resolve(resolveSecret(ref, process.env));
        if (!secretsManager) return Promise.reject(new Error('composeServices was built without the session redactor: refusing to fetch a secret it could not redact'));
        return secretsManager.resolve(ref);
      },
      refresh(ref: SecretRef): void {
        if ('secretArn' in ref) secretsManager?.forget(ref.secretArn);
      },
    },
    clock: { now: () => Date.now(), sleep },
    exec,
    timing: rehearsal
      ? { pollMs: 100, fencedPollMs: 25, metricPeriodSeconds: 1, waitMaxSeconds: 600 }
      : { pollMs: 15_000, fencedPollMs: 2_000, metricPeriodSeconds: 60, waitMaxSeconds: 6 * 3600 },
  };
}
