// `rekey rehearse` with strategy blue-green end to end, live writes on: the bundled demos switched over by the
// rehearsal cloud's Blue/Green deployment (green under the new key, blue -old1), AWS refusing the target key (exit 5,
// nothing left behind, dms-cdc advised), a switchover that times out (AWS's revert: source writable, exit 5), and a
// runner killed after every step that resumes without a second deployment.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { killAfterEachStep, registryOf, rekey, SECRET, stopServersLeftUnder, summaryOf, tempDir, testRunbook } from '../helpers/rehearse-cli.js';
import type { Registry, RunbookDoc, Summary } from '../helpers/rehearse-cli.js';

type Engine = 'postgres' | 'mysql' | 'rds-postgres' | 'rds-mysql';

/** The bundled rehearsal runbook with `strategy: blue-green` added at the top level, small and without delays. */
function blueGreen(engine: Engine, dir: string, name: string, edit: (doc: RunbookDoc) => void = () => undefined): string {
  return testRunbook(`rehearsal-${engine}.yaml`, dir, name, (doc) => {
    doc.set('strategy', 'blue-green');
    edit(doc);
  });
}

interface BgSummary extends Summary {
  strategy: string;
  evidence: { resources: { kind: string; role: string; identifier: string; kmsKeyId?: string }[] };
}

function newKeyArn(reg: Registry): string {
  const key = Object.values(reg.keys).find((k) => k.aliases.includes('alias/orders-2026'));
  if (!key) throw new Error('no new key in the registry');
  return key.arn;
}

describe.each<Engine>(['postgres', 'mysql'])('rekey rehearse, strategy blue-green, %s', (engine) => {
  it('switches over with live writes: 0 lost, 0 duplicated, 0 mismatched, sequences 0 behind, every green resource on the new key', async () => {
    const cwd = tempDir(`bg-happy-${engine}`);
    const out = await rekey(['rehearse', blueGreen(engine, cwd, 'bg'), '--json'], cwd);
    const s = summaryOf(out) as BgSummary;
    expect(s).toMatchObject({ type: 'summary', ok: true, engine, strategy: 'blue-green', status: 'succeeded', switched: true, endpointWritable: true });
    expect(out.code).toBe(0);
    expect(s.writes.acknowledged).toBeGreaterThan(20);
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.tables).toBeGreaterThanOrEqual(6);
    expect(s.validation.mismatched).toBe(0);
    expect(s.sequences.checked).toBeGreaterThanOrEqual(4);
    expect(s.sequences.behind).toBe(0);
    const reg = registryOf(cwd, s.runId);
    const key = newKeyArn(reg);
    const switched = s.evidence.resources.filter((r) => r.role.startsWith('switched'));
    const old = s.evidence.resources.filter((r) => r.identifier.endsWith('-old1'));
    // The cluster and its writer now carry the source's names, on the new key; blue is -old1, on the old one.
    expect(switched.map((r) => r.identifier).sort()).toEqual(['orders-db', 'orders-db-instance-1']);
    for (const r of switched) expect(r.kmsKeyId).toBe(key);
    expect(old.map((r) => r.identifier).sort()).toEqual(['orders-db-instance-1-old1', 'orders-db-old1']);
    for (const r of old) expect(r.kmsKeyId).not.toBe(key);
    expect(reg.clusters['orders-db']?.kmsKeyArn).toBe(key);
    expect(reg.created.filter((c) => c.action === 'CreateBlueGreenDeployment')).toHaveLength(1);
    const runDir = join(cwd, '.rekey', 'runs', s.runId);
    for (const t of [out.stdout, out.stderr, readFileSync(join(runDir, 'journal.jsonl'), 'utf8')]) expect(t).not.toContain(SECRET);
  }, 300_000);
});

describe.each<Engine>(['rds-postgres', 'rds-mysql'])('rekey rehearse, strategy blue-green, RDS DB instance (%s)', (engine) => {
  it('switches the instance over: new key at the name, the old instance -old1 on the old key, nothing lost', async () => {
    const cwd = tempDir(`bg-${engine}`);
    const out = await rekey(['rehearse', blueGreen(engine, cwd, 'bg'), '--json'], cwd);
    const s = summaryOf(out) as BgSummary;
    expect(s).toMatchObject({ ok: true, strategy: 'blue-green', status: 'succeeded', switched: true, endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.validation.mismatched).toBe(0);
    expect(s.sequences.behind).toBe(0);
    const reg = registryOf(cwd, s.runId);
    const alias = String(parseDocument(readFileSync(resolve(`runbooks/rehearsal-${engine}.yaml`), 'utf8')).getIn(['target', 'kmsKeyId']));
    const key = Object.values(reg.keys).find((k) => k.aliases.includes(alias));
    expect(key).toBeDefined();
    const instances = s.evidence.resources.filter((r) => r.kind === 'instance');
    expect(instances.map((r) => r.identifier.endsWith('-old1'))).toEqual([false, true]);
    expect(instances[0]?.kmsKeyId).toBe(key?.arn);
    expect(instances[1]?.kmsKeyId).not.toBe(key?.arn);
  }, 300_000);
});

describe('rekey rehearse, strategy blue-green, the unhappy paths (postgres)', () => {
  it('AWS refusing the target key stops with exit 5, nothing left behind, and advises strategy dms-cdc', async () => {
    const cwd = tempDir('bg-refused');
    const path = blueGreen('postgres', cwd, 'refused', (doc) => doc.setIn(['rehearsal', 'failures', 'blueGreenRefusesTargetKey'], true));
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect(out.code).toBe(5);
    expect(s).toMatchObject({ ok: false, status: 'failed', switched: false, endpointWritable: true, error: { stepId: 'bg-create' } });
    expect(s.error.message).toContain('SourceDatabaseNotSupportedFault');
    expect((s.error.details ?? []).join('\n')).toContain('strategy: dms-cdc');
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    const reg = registryOf(cwd, s.runId);
    expect(Object.keys(reg.blueGreen ?? {})).toHaveLength(0);
    expect(Object.keys(reg.clusters)).toEqual(['orders-db']);
  }, 300_000);

  it('a switchover past its timeout is reverted: source writable and unswitched, exit 5, resumable', async () => {
    const cwd = tempDir('bg-timeout');
    const path = blueGreen('postgres', cwd, 'timeout', (doc) => {
      doc.setIn(['rehearsal', 'failures', 'blueGreenSwitchoverStalls'], true);
      doc.setIn(['blueGreen', 'switchoverTimeoutSeconds'], 30);
    });
    const out = await rekey(['rehearse', path, '--json'], cwd);
    const s = summaryOf(out);
    expect(out.code).toBe(5);
    expect(s).toMatchObject({ ok: false, status: 'failed', switched: false, endpointWritable: true, error: { stepId: 'bg-switchover', kind: 'fatal' } });
    expect(s.error.message).toContain('reverted by AWS');
    expect((s.error.details ?? []).join('\n')).toContain('nothing was switched');
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    const reg = registryOf(cwd, s.runId);
    expect(Object.values(reg.blueGreen ?? {}).map((d) => d.status)).toEqual(['SWITCHOVER_FAILED']);
    expect(reg.clusters['orders-db']?.kmsKeyArn).not.toBe(newKeyArn(reg));
    expect(s.next).toContain(`rekey resume ${s.runId}`);
  }, 300_000);

  it('a runner killed with SIGKILL after each step resumes to the end without a second deployment', async () => {
    const cwd = tempDir('bg-kill');
    const path = blueGreen('postgres', cwd, 'kill');
    const { runId, final, killedAfter } = await killAfterEachStep(path, cwd);
    expect(killedAfter).toEqual(expect.arrayContaining(['preflight', 'bg-create', 'bg-attest', 'validate', 'bg-switchover']));
    const s = summaryOf(final);
    expect(final.code).toBe(0);
    expect(s).toMatchObject({ ok: true, switched: true, endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    const reg = registryOf(cwd, runId);
    expect(reg.created.filter((c) => c.action === 'CreateBlueGreenDeployment')).toHaveLength(1);
  }, 600_000);
});

afterAll(stopServersLeftUnder);
