// runSession writes the run's reports, redacted; a report it cannot write is said, and never changes the exit code.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { headlessApprover } from '../../src/engine/approvers.js';
import { makeRedactor } from '../../src/engine/redact.js';
import type { Flow } from '../../src/engine/types.js';
import { JsonRenderer } from '../../src/present/headless.js';
import { runSession } from '../../src/cli/session.js';
import { runbookSchema } from '../../src/runbook/schema.js';
import { RunStore } from '../../src/state/run-store.js';

const SECRET = 'Sess10n-S3cret';
const runbook = runbookSchema.parse({
  version: 1, name: 'session test', region: 'us-east-1',
  source: { engine: 'postgres', identifier: 'db1', database: 'd', username: 'u', password: { env: 'PW' } },
  target: { kmsKeyId: 'alias/new' },
  dms: { replicationInstance: { identifier: 'ri' }, certificateArn: 'arn:aws:dms:us-east-1:123456789012:cert:ABC' },
});

async function session(store: RunStore, runId: string): Promise<{ exitCode: number; out: string[]; err: string[] }> {
  const flow: Flow<object> = { id: 'f', steps: [{ id: 'only', title: 'Only step', describe: () => [], run: () => Promise.resolve({ note: `value ${SECRET}` }) }] };
  const out: string[] = [];
  const err: string[] = [];
  const result = await runSession({
    store, runId, flow, services: {}, runbook,
    created: { t: 'run_created', at: new Date().toISOString(), runId, flowId: 'f', runbookPath: 'r.yaml', runbookName: 'session test', provider: 'aws', meta: {} },
    info: {}, renderer: new JsonRenderer({ out: (l) => out.push(l), err: (l) => err.push(l) }),
    approver: headlessApprover({ approve: [], yes: true, by: 'test' }), redact: makeRedactor([SECRET]), command: 'test',
    finish: () => Promise.resolve({ summary: { endpointWriteError: `login with ${SECRET} refused` } }),
  });
  return { exitCode: result.exitCode, out, err };
}

describe('runSession reports', () => {
  test('writes report.md and report.html with secrets redacted, and names them in the summary', async () => {
    const store = new RunStore(mkdtempSync(join(tmpdir(), 'rekey-session-')));
    const { exitCode, out } = await session(store, 'se12ab34');
    expect(exitCode).toBe(0);
    const summary = JSON.parse(out.at(-1) ?? '{}') as { report?: string; reportHtml?: string };
    expect(summary.report).toBe(join(store.runDir('se12ab34'), 'report.md'));
    expect(out.join('\n')).not.toContain(SECRET);
    for (const file of [summary.report, summary.reportHtml]) {
      const text = readFileSync(file ?? '', 'utf8');
      expect(text).toContain('session test');
      expect(text).not.toContain(SECRET);
    }
  });

  test('a report that cannot be written is an error line; the run keeps its exit code and its summary', async () => {
    const store = new RunStore(mkdtempSync(join(tmpdir(), 'rekey-session-')));
    store.create('se56cd78');
    mkdirSync(join(store.runDir('se56cd78'), 'report.md')); // a directory where the file should go
    const { exitCode, out, err } = await session(store, 'se56cd78');
    expect(exitCode).toBe(0);
    expect(JSON.parse(out.at(-1) ?? '{}')).toMatchObject({ type: 'summary', ok: true, status: 'succeeded' });
    expect(JSON.parse(out.at(-1) ?? '{}')).not.toHaveProperty('report');
    expect([...out, ...err].join('\n')).toMatch(/could not write the run report: .*EISDIR/);
  });
});
