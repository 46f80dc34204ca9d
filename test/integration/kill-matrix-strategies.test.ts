// The kill matrix of the other strategies (blue-green, snapshot, clone): a rehearsal runner killed with SIGKILL
// inside a step, after its AWS call was accepted and before the wait for it completed, then resumed, or, separately,
// rolled back. Crash points (REKEY_CRASH_AT, src/engine/crash.ts):
//   bg-create:after-create-call          CreateBlueGreenDeployment accepted, green still PROVISIONING
//   bg-switchover:after-switchover-call  SwitchoverBlueGreenDeployment accepted, SWITCHOVER_IN_PROGRESS
//   snapshot:after-create-call           the snapshot asked for, still creating (offline: inside the fence)
//   copy-snapshot:after-copy-call        the copy under the new key asked for (RDS instances)
//   restore:after-restore-call           the restore asked for, the database still creating
//   clone:after-clone-call               RestoreDBClusterToPointInTime accepted, the clone still creating
//   native-setup:after-create            PostgreSQL: subscription created disabled; MySQL: external source set
//   native-setup:after-advance           PostgreSQL: its origin advanced to the captured position, still disabled
// The AWS delay of the resource being waited on is 10 s, so the kill lands while it is still in progress (each cell
// checks the registry says so; the rehearsal counts its own copying work into that delay, which on a loaded machine
// took over 4 s for 500 rows); every other delay is 0, and the data is small (500 rows).
//
// A resumed run must adopt what the killed one created (the rehearsal cloud's registry lists every create, restore
// and copy call: none twice; Blue/Green: one deployment, one switchover started) and finish: 0 acknowledged writes
// lost or duplicated. A rollback after a kill leaves the source writable, and with --discard nothing behind but a
// clone killed before its writer existed: it copied the source's deletion protection, and a cluster without an instance
// is not modified (the rehearsal, conservatively, keeps it `creating`), so the log names it with the command to lift it.
// (A snapshot still being created is waited for: AWS refuses to delete it before it is available.)
//
// Every cell is a whole rehearsal (seven rehearsals, chains where one rehearsal can carry several kills, each waiting
// out a 10 s AWS delay), so they run only in the full matrix: `REKEY_CHAOS=full npm run jest -- test/integration/kill-matrix`.
// CI's test:chaos (REKEY_CHAOS=extra) leaves them out to keep the whole CI run under its time limit.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { crashAt, expectNoDoubleCreate, expectNoSecret, onlyRun } from '../helpers/kill-matrix.js';
import { rekey, stopServersLeftUnder, summaryOf, tempDir } from '../helpers/rehearse-cli.js';
import type { Done, Summary } from '../helpers/rehearse-cli.js';

afterAll(stopServersLeftUnder);

type Flavour = 'postgres' | 'mysql' | 'rds-postgres';
type Strategy = 'blue-green' | 'snapshot' | 'clone' | 'native';
type Delay = 'snapshotSeconds' | 'restoreSeconds';
/** The simulated AWS time of the resource a kill lands in. */
const SLOW_SECONDS = 10;

/** The bundled runbook with `strategy` at the top level, small, every delay 0 but `slow` (the one a kill lands in). */
function variant(flavour: Flavour, strategy: Strategy, dir: string, slow: Delay[]): string {
  const doc = parseDocument(readFileSync(resolve(`runbooks/rehearsal-${flavour}.yaml`), 'utf8'));
  doc.set('strategy', strategy);
  if (strategy !== 'blue-green') doc.delete('dms');
  doc.setIn(['rehearsal', 'source', 'seedRows'], 500);
  doc.setIn(['rehearsal', 'load', 'writesPerSecond'], 50);
  const delays: Record<string, number> = { snapshotSeconds: 0, restoreSeconds: 0, renameSeconds: 0, availableSeconds: 0 };
  for (const d of slow) delays[d] = SLOW_SECONDS;
  doc.setIn(['rehearsal', 'delays'], delays);
  doc.setIn(['cutover', 'sustainSeconds'], 1);
  doc.setIn(['cutover', 'fenceTimeoutSeconds'], 600);
  const path = join(dir, `${flavour}-${strategy}.yaml`);
  writeFileSync(path, doc.toString());
  return path;
}

interface Registry {
  created: { action: string; identifier: string }[];
  clusters: Record<string, { kmsKeyArn: string; readyAt: number }>;
  instances: Record<string, { clusterIdentifier: string }>;
  snapshots: Record<string, { internal?: boolean; readyAt: number }>;
  blueGreen?: Record<string, { status: string; readyAt: number }>;
  events: { message: string }[];
  keys: Record<string, { arn: string; aliases: string[] }>;
}

const registryOf = (cwd: string, runId: string): Registry =>
  JSON.parse(readFileSync(join(cwd, '.rekey', 'runs', runId, 'rehearsal', 'cloud', 'registry.json'), 'utf8')) as Registry;

const calls = (reg: Registry, action: string): string[] => reg.created.filter((c) => c.action === action).map((c) => c.identifier);

/** The snapshots rekey made (the rehearsal's own seed snapshots are internal). */
const ownSnapshots = (reg: Registry): string[] => Object.entries(reg.snapshots).filter(([, s]) => !s.internal).map(([id]) => id);

function newKey(reg: Registry, flavour: Flavour): string {
  const alias = String(parseDocument(readFileSync(resolve(`runbooks/rehearsal-${flavour}.yaml`), 'utf8')).getIn(['target', 'kmsKeyId']));
  const key = Object.values(reg.keys).find((k) => k.aliases.includes(alias));
  if (!key) throw new Error(`no ${alias} in the registry`);
  return key.arn;
}

/** The runner's end: exit 0, switched, writable, nothing acknowledged lost or doubled, the tables equal. */
function expectFinished(out: Done): Summary {
  const s = summaryOf(out);
  expect({ code: out.code, ok: s.ok, status: s.status, switched: s.switched, endpointWritable: s.endpointWritable }).toEqual({ code: 0, ok: true, status: 'succeeded', switched: true, endpointWritable: true });
  expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
  expect(s.writes.acknowledged).toBeGreaterThan(0);
  expect(s.validation.mismatched).toBe(0);
  expectNoSecret(out);
  return s;
}

/** `rekey rollback` (keeping what rollback keeps), then `--discard`: both exit 0 with the source writable. */
async function rollBack(cwd: string, runId: string, discard: boolean): Promise<Summary & { kept: string[]; undone: string[] }> {
  const out = await rekey(['rollback', runId, '--json', ...(discard ? ['--discard'] : [])], cwd);
  const s = summaryOf(out) as Summary & { kept: string[]; undone: string[] };
  expect({ code: out.code, ok: s.ok, status: s.status, endpointWritable: s.endpointWritable }).toEqual({ code: 0, ok: true, status: 'rolled_back', endpointWritable: true });
  // Nothing was switched: every acknowledged write is on the source, once.
  expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
  expectNoSecret(out);
  return s;
}

const full = process.env.REKEY_CHAOS === 'full' ? it : it.skip;

describe('strategy blue-green: killed inside create and inside switchover', () => {
  full('resumed after each kill: one deployment, one switchover, green serves the name on the new key, 0 lost', async () => {
    const cwd = tempDir('kms-bg');
    // restoreSeconds: green stays PROVISIONING that long after the create call.
    const path = variant('postgres', 'blue-green', cwd, ['restoreSeconds']);
    await crashAt('bg-create:after-create-call', ['rehearse', path, '--json'], cwd);
    const runId = onlyRun(cwd);
    const afterCreate = registryOf(cwd, runId);
    const deployments = Object.values(afterCreate.blueGreen ?? {});
    expect(deployments.map((d) => d.status)).toEqual(['PROVISIONING']);
    expect(deployments[0]!.readyAt).toBeGreaterThan(Date.now());

    await crashAt('bg-switchover:after-switchover-call', ['resume', runId, '--json'], cwd);
    const afterSwitchover = registryOf(cwd, runId);
    expect(Object.values(afterSwitchover.blueGreen ?? {}).map((d) => d.status)).toEqual(['SWITCHOVER_IN_PROGRESS']);

    const last = await rekey(['resume', runId, '--json'], cwd);
    expectFinished(last);
    // The switchover the killed runner asked for is the one that completed: the resumed run did not ask again.
    expect(last.stdout).not.toMatch(/switchover of \S+ requested/);
    const reg = registryOf(cwd, runId);
    expect(calls(reg, 'CreateBlueGreenDeployment')).toHaveLength(1);
    expect(reg.events.filter((e) => /switchover started/.test(e.message))).toHaveLength(1);
    expect(reg.events.filter((e) => /switchover completed/.test(e.message))).toHaveLength(1);
    expect(Object.values(reg.blueGreen ?? {}).map((d) => d.status)).toEqual(['SWITCHOVER_COMPLETED']);
    // The source's name is served by green, on the new key; blue is -old1.
    expect(reg.clusters['orders-db']?.kmsKeyArn).toBe(newKey(reg, 'postgres'));
    expect(reg.clusters['orders-db-old1']?.kmsKeyArn).not.toBe(newKey(reg, 'postgres'));
    expectNoDoubleCreate(cwd, runId);
  }, 600_000);

  full('rolled back after a kill inside create: the deployment and green are deleted, the source writable', async () => {
    const cwd = tempDir('kms-bg-rb');
    await crashAt('bg-create:after-create-call', ['rehearse', variant('postgres', 'blue-green', cwd, ['restoreSeconds']), '--json'], cwd);
    const runId = onlyRun(cwd);
    expect(Object.keys(registryOf(cwd, runId).blueGreen ?? {})).toHaveLength(1);
    const s = await rollBack(cwd, runId, false);
    expect(s.undone).toContain('bg-create');
    const reg = registryOf(cwd, runId);
    expect(reg.blueGreen ?? {}).toEqual({});
    expect(Object.keys(reg.clusters)).toEqual(['orders-db']);
    expect(Object.values(reg.instances).map((i) => i.clusterIdentifier)).toEqual(['orders-db']);
    expect(reg.clusters['orders-db']?.kmsKeyArn).not.toBe(newKey(reg, 'postgres'));
  }, 600_000);
});

describe('strategy snapshot (offline): killed inside the snapshot, the copy and the restore', () => {
  full('an RDS instance, resumed after each kill: nothing created twice, 0 lost', async () => {
    const cwd = tempDir('kms-snap');
    // snapshotSeconds is also the copy's time; restoreSeconds the restored instance's.
    const path = variant('rds-postgres', 'snapshot', cwd, ['snapshotSeconds', 'restoreSeconds']);
    await crashAt('snapshot:after-create-call', ['rehearse', path, '--json'], cwd);
    const runId = onlyRun(cwd);
    const [snap] = ownSnapshots(registryOf(cwd, runId));
    expect(registryOf(cwd, runId).snapshots[snap!]!.readyAt).toBeGreaterThan(Date.now());
    await crashAt('copy-snapshot:after-copy-call', ['resume', runId, '--json'], cwd);
    const copies = ownSnapshots(registryOf(cwd, runId));
    expect(copies).toHaveLength(2);
    await crashAt('restore:after-restore-call', ['resume', runId, '--json'], cwd);
    const restoring = registryOf(cwd, runId);
    expect(calls(restoring, 'RestoreDBInstanceFromDBSnapshot')).toHaveLength(1);
    const source = String(parseDocument(readFileSync(resolve('runbooks/rehearsal-rds-postgres.yaml'), 'utf8')).getIn(['source', 'identifier']));
    const restored = Object.keys(restoring.clusters).filter((id) => id !== source);
    expect(restored).toHaveLength(1);
    expect(restoring.clusters[restored[0]!]!.readyAt).toBeGreaterThan(Date.now());

    const s = expectFinished(await rekey(['resume', runId, '--json'], cwd));
    expect(s).toMatchObject({ strategy: 'snapshot' });
    const reg = registryOf(cwd, runId);
    expect(calls(reg, 'CreateDBSnapshot')).toHaveLength(1);
    expect(calls(reg, 'CopyDBSnapshot')).toHaveLength(1);
    expect(calls(reg, 'RestoreDBInstanceFromDBSnapshot')).toHaveLength(1);
    expectNoDoubleCreate(cwd, runId);
  }, 600_000);

  full('an Aurora cluster rolled back after a kill inside the snapshot: the source unfenced and writable; --discard leaves nothing', async () => {
    const cwd = tempDir('kms-snap-rb');
    await crashAt('snapshot:after-create-call', ['rehearse', variant('postgres', 'snapshot', cwd, ['snapshotSeconds']), '--json'], cwd);
    const runId = onlyRun(cwd);
    expect(ownSnapshots(registryOf(cwd, runId))).toHaveLength(1);
    // A plain rollback lifts the fence and keeps the snapshot (and says so).
    const kept = await rollBack(cwd, runId, false);
    expect(kept.undone).toContain('fence');
    expect(kept.kept).toEqual(expect.arrayContaining([expect.stringMatching(/^snapshot: /)]));
    expect(ownSnapshots(registryOf(cwd, runId))).toHaveLength(1);
    // --discard takes the snapshot too: only the source is left.
    const discarded = await rollBack(cwd, runId, true);
    expect(discarded.undone).toContain('snapshot');
    const reg = registryOf(cwd, runId);
    expect(ownSnapshots(reg)).toEqual([]);
    expect(Object.keys(reg.clusters)).toEqual(['orders-db']);
    expect(calls(reg, 'CreateDBClusterSnapshot')).toHaveLength(1);
  }, 600_000);
});

describe('strategy clone: killed after RestoreDBClusterToPointInTime, before the clone is available', () => {
  full('MySQL, resumed, killed again inside native-setup, resumed: one clone, replication set once, 0 lost', async () => {
    const cwd = tempDir('kms-clone');
    const path = variant('mysql', 'clone', cwd, ['restoreSeconds']);
    await crashAt('clone:after-clone-call', ['rehearse', path, '--json'], cwd);
    const runId = onlyRun(cwd);
    const cloning = registryOf(cwd, runId);
    expect(calls(cloning, 'RestoreDBClusterToPointInTime')).toHaveLength(1);
    const clones = Object.keys(cloning.clusters).filter((id) => id !== 'orders-db');
    expect(clones).toHaveLength(1);
    expect(cloning.clusters[clones[0]!]!.readyAt).toBeGreaterThan(Date.now());
    // The clone's external source is set, replication not started: the resume must start it, not set it again.
    await crashAt('native-setup:after-create', ['resume', runId, '--json'], cwd);
    const last = await rekey(['resume', runId, '--json'], cwd);
    const s = expectFinished(last);
    expect(s).toMatchObject({ strategy: 'clone' });
    expect(s.sequences.behind).toBe(0);
    expect(last.stdout).not.toMatch(/rds_set_external_(source|master) to /);
    const reg = registryOf(cwd, runId);
    expect(calls(reg, 'RestoreDBClusterToPointInTime')).toHaveLength(1);
    expect(calls(reg, 'CreateDBInstance')).toHaveLength(1);
    expect(reg.clusters['orders-db']?.kmsKeyArn).toBe(newKey(reg, 'mysql'));
    expectNoDoubleCreate(cwd, runId);
  }, 600_000);

  full('rolled back with --discard after the kill: the source writable, nothing behind but the writerless clone deletion protection keeps, named', async () => {
    const cwd = tempDir('kms-clone-rb');
    await crashAt('clone:after-clone-call', ['rehearse', variant('postgres', 'clone', cwd, ['restoreSeconds']), '--json'], cwd);
    const runId = onlyRun(cwd);
    const clones = Object.keys(registryOf(cwd, runId).clusters).filter((id) => id !== 'orders-db');
    expect(clones).toHaveLength(1);
    const out = await rekey(['rollback', runId, '--json', '--discard'], cwd);
    const s = summaryOf(out) as Summary & { undone: string[] };
    expect({ code: out.code, ok: s.ok, status: s.status, endpointWritable: s.endpointWritable }).toEqual({ code: 0, ok: true, status: 'rolled_back', endpointWritable: true });
    expect(s.writes).toMatchObject({ lost: 0, duplicated: 0 });
    expect(s.undone).toEqual(expect.arrayContaining(['restore', 'prepare-source']));
    // The clone copied the source's deletion protection and has no instance yet, so it cannot be modified: named, with the command.
    expect(out.stdout).toContain(`${clones[0]!} has deletion protection (copied from the source) and is creating, so it cannot be changed yet; leaving it for you to delete`);
    const reg = registryOf(cwd, runId);
    expect(Object.keys(reg.clusters).sort()).toEqual(['orders-db', clones[0]!].sort());
    expect(Object.values(reg.instances).map((i) => i.clusterIdentifier)).toEqual(['orders-db']);
    expect(ownSnapshots(reg)).toEqual([]);
    expect(calls(reg, 'RestoreDBClusterToPointInTime')).toHaveLength(1);
  }, 600_000);
});

describe('strategy native: killed inside native-setup (PostgreSQL)', () => {
  full('after the subscription is created, then after its origin is advanced: resumed each time, 0 lost, 0 duplicated', async () => {
    const cwd = tempDir('kms-native');
    const path = variant('postgres', 'native', cwd, []);
    await crashAt('native-setup:after-create', ['rehearse', path, '--json'], cwd);
    const runId = onlyRun(cwd);
    // The resumed runner finds the subscription, advances its origin and is killed before enabling it.
    await crashAt('native-setup:after-advance', ['resume', runId, '--json'], cwd);
    const last = await rekey(['resume', runId, '--json'], cwd);
    const s = expectFinished(last);
    expect(s).toMatchObject({ strategy: 'native' });
    expect(s.sequences.behind).toBe(0);
    // The origin is moved once: the last runner found it already at the captured position.
    expect(last.stdout).not.toMatch(/origin of \S+ advanced to/);
    expectNoDoubleCreate(cwd, runId);
  }, 600_000);
});
