// `rekey status` reads the journal only: a run's steps, what it found (start position, overlap, key evidence)
// and where its reports are.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { describeRun } from '../../src/cli/status.js';
import { RunStore } from '../../src/state/run-store.js';

const at = '2026-11-22T07:00:00.000Z';

describe('rekey status', () => {
  test('shows what the run found and where its reports are', async () => {
    const store = new RunStore(mkdtempSync(join(tmpdir(), 'rekey-status-')));
    store.create('st12ab34');
    const journal = store.journal('st12ab34');
    await journal.append({ t: 'run_created', at, runId: 'st12ab34', flowId: 'rds-postgres', runbookPath: 'r.yaml', runbookName: 'billing', provider: 'aws', meta: { steps: 'preflight,capture-position,verify' } });
    await journal.append({ t: 'step_succeeded', at, stepId: 'preflight', output: { tablesWithoutPk: ['public.audit_log'] }, durationMs: 3 });
    await journal.append({ t: 'step_succeeded', at, stepId: 'capture-position', output: { position: '0/2000000', source: 'slot-fallback', overlap: { fromLsn: '0/2000000', snapshotAfter: true, reason: 'no seed function' } }, durationMs: 3 });
    expect(describeRun(store, 'st12ab34')).not.toHaveProperty('reports');
    writeFileSync(join(store.runDir('st12ab34'), 'report.md'), '# report\n');
    const view = describeRun(store, 'st12ab34');
    expect(view.findings).toEqual({
      position: { value: '0/2000000', source: 'slot-fallback' },
      overlap: { fromLsn: '0/2000000', reason: 'no seed function', tablesWithoutPk: ['public.audit_log'] },
    });
    expect(view.reports).toEqual([join(store.runDir('st12ab34'), 'report.md')]);
    expect(view.steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'pending']);
  });
});
