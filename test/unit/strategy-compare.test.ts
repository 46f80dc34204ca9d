// `rekey plan`'s strategy comparison, from a preflight report: one recommendation, with its reason; what is
// missing for each strategy; DMS hours only where DMS runs.
import { compareStrategies, renderComparison } from '../../src/flows/compare.js';
import type { PreflightReport } from '../../src/steps/preflight.js';
import { testRunbook } from './steps-world.js';

function report(over: Partial<PreflightReport> = {}): PreflightReport {
  return {
    checks: [
      { id: 'source.exists', ok: true, severity: 'error', message: 'source cluster app-db exists' },
      { id: 'key.state', ok: true, severity: 'error', message: 'new key is Enabled' },
      { id: 'dms.instance', ok: true, severity: 'error', message: 'replication instance rekey-ri will be created (dms.r6i.large)' },
    ],
    problems: [],
    warnings: [],
    tablesWithoutPk: [],
    estimate: { tables: 3, rows: 1000, bytes: 360e9, countSeconds: 1, checksumSeconds: 0, consistentPointSeconds: 0, fencedSeconds: 1, fixedSeconds: 187, awsRenameDnsSeconds: 0, totalSeconds: 188, assumptions: '' },
    ...over,
  };
}

describe('compareStrategies', () => {
  it('recommends exactly one: native when both can run, with the reason, and costs DMS hours only for dms-cdc', () => {
    const rb = testRunbook({ dms: { replicationInstance: { identifier: 'rekey-ri', create: true } } });
    const c = compareStrategies(rb, report());
    expect(c.strategies.map((s) => s.strategy)).toEqual(['dms-cdc', 'native', 'clone', 'snapshot']);
    expect(c.strategies.filter((s) => s.recommended)).toHaveLength(1);
    const native = c.strategies.find((s) => s.strategy === 'native')!;
    expect(native).toMatchObject({ recommended: true, writeUnavailableSeconds: 188, extraCost: { dmsInstanceHours: 0 } });
    expect(native.reason).toMatch(/no DMS instance/);
    const dms = c.strategies.find((s) => s.strategy === 'dms-cdc')!;
    // 45 min of fixed AWS waits + 360 GB snapshot and restore at 100 MB/s each + the sustain window: about 2.8 h.
    expect(dms.preparationSeconds).toBe(45 * 60 + 3600 + 3600 + 3);
    expect(dms.extraCost.dmsInstanceHours).toBe(3);
    // An existing replication instance is not an extra cost of this run.
    expect(compareStrategies(testRunbook(), report()).strategies[0]?.extraCost.dmsInstanceHours).toBe(0);
    expect(native.caveats.join('\n')).toMatch(/yours to ensure/);
  });

  it('says what is missing, and recommends the strategy that can run', () => {
    const failing = report({ checks: [...report().checks, { id: 'source.logical_replication', ok: false, severity: 'error', message: 'rds.logical_replication is 0' }] });
    const c = compareStrategies(testRunbook(), failing);
    expect(c.strategies.filter((s) => s.strategy !== 'snapshot').every((s) => s.prerequisites.missing.some((m) => m.includes('rds.logical_replication')))).toBe(true);
    expect(c.strategies.filter((s) => s.recommended)).toHaveLength(1);
    const noDms = compareStrategies(testRunbook({ strategy: 'native', dms: undefined }), report({ checks: report().checks.filter((x) => !x.id.startsWith('dms.')) }));
    expect(noDms.strategies.find((s) => s.strategy === 'dms-cdc')?.prerequisites.missing.join()).toMatch(/no dms section/);
    expect(noDms.strategies.find((s) => s.recommended)?.strategy).toBe('native');
  });

  it('lists tables without a primary key and LOB columns as caveats, and renders one table', () => {
    const c = compareStrategies(testRunbook(), report({ tablesWithoutPk: ['public.audit'], checks: [...report().checks, { id: 'pg.column_types', ok: false, severity: 'warning', message: 'columns DMS may mishandle: public.docs.body (oid)' }] }));
    const dms = c.strategies.find((s) => s.strategy === 'dms-cdc')!;
    expect(dms.caveats.join('\n')).toMatch(/public\.audit.*DMS ignores/);
    expect(dms.caveats.join('\n')).toMatch(/LOBs/);
    expect(c.strategies.find((s) => s.strategy === 'native')?.caveats.join('\n')).toMatch(/public\.audit.*inserts only/);
    const text = renderComparison(c);
    expect(text).toMatch(/\*native/);
    expect(text).toMatch(/recommended: native/);
    // Offline: no replication prerequisites; its window is the whole snapshot, restore and switch.
    const offline = c.strategies.find((s) => s.strategy === 'snapshot')!;
    // 360 GB offline: snapshot + restore + writer ~ 2.3 h, far over the 120 s fence limit; that is what is missing.
    expect(offline.prerequisites.missing).toEqual([expect.stringMatching(/fenceTimeoutSeconds \(120 s\) is shorter than the expected outage \(8281 s\)/)]);
    expect(offline.writeUnavailableSeconds).toBeGreaterThan(c.strategies.find((s) => s.strategy === 'native')!.writeUnavailableSeconds);
    expect(c.unavailable.map((u) => u.strategy)).toEqual(['blue-green']);
  });
});
