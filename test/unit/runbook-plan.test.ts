// Every runbook in runbooks/ loads, validates and plans (STYLE: examples are executable documentation).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildFlow, planFlow } from '../../src/flows/index.js';
import { loadRunbook } from '../../src/runbook/load.js';
import { composeServices } from '../../src/cli/compose.js';

const DIR = 'runbooks';
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
const SUPPORTED = new Set(['aurora-postgresql', 'aurora-mysql', 'postgres', 'mysql', 'mariadb']);

describe.each(files)('runbooks/%s', (file) => {
  it('plans every step with concrete actions, the cutover gate before the fence', () => {
    const loaded = loadRunbook(join(DIR, file));
    if (!loaded.ok) throw new Error(loaded.problems.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n'));
    const { runbook } = loaded;
    if (!SUPPORTED.has(runbook.source.engine)) {
      expect(() => buildFlow(runbook)).toThrow(/not supported yet/);
      return;
    }
    const flow = buildFlow(runbook);
    const services = composeServices({ runbook, runId: 'plantest', provider: 'aws' });
    const plan = planFlow(flow, { runId: 'plantest', outputs: {}, services, signal: new AbortController().signal, attempt: 1, report: { progress: () => undefined, metric: () => undefined, log: () => undefined, publish: () => undefined } });
    expect(plan.map((p) => p.id)).toEqual(flow.steps.map((s) => s.id));
    for (const entry of plan) expect(entry.actions.length).toBeGreaterThan(0);
    const ids = plan.map((p) => p.id);
    const gated = plan.find((p) => p.gate === 'cutover');
    expect(gated).toBeDefined();
    if (runbook.strategy === 'blue-green') {
      // No fence: the gate stands before AWS's switchover, after the attestation and the validation.
      expect(gated!.id).toBe('bg-switchover');
      expect(ids.indexOf('bg-attest')).toBeLessThan(ids.indexOf('bg-switchover'));
      expect(ids.indexOf('validate')).toBeLessThan(ids.indexOf('bg-switchover'));
      const text = JSON.stringify(plan);
      expect(text).toContain(`${runbook.source.identifier}-rekey-plantest`);
      expect(text).toContain(runbook.target.kmsKeyId);
      expect(text).toContain('TargetResourceConfigurations');
      return;
    }
    expect(ids.indexOf(gated!.id)).toBeLessThan(ids.indexOf('fence'));
    const text = JSON.stringify(plan);
    // The plan names the real resources: the snapshot, the new key, the rename back to the source identifier.
    expect(text).toContain(`${runbook.source.identifier}-rekey-plantest`);
    expect(text).toContain(runbook.target.kmsKeyId);
    expect(text).toMatch(/ModifyDB(Cluster|Instance)/);
  });
});
