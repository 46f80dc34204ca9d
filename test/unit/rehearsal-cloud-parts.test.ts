// The rehearsal cloud's pure parts: faults shaped like SDK exceptions, table selection, LSNs, the
// registry file, KMS lookups and CloudWatch aggregation over stored datapoints.
import { mkdtempSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { DBClusterNotFoundFault, RDSServiceException } from '@aws-sdk/client-rds';
import { GetMetricDataCommand, ListMetricsCommand } from '@aws-sdk/client-cloudwatch';
import { cloudwatchSend } from '../../src/rehearsal/aws/cloudwatch.js';
import type { Core } from '../../src/rehearsal/core.js';
import { parseSelection, selectTables } from '../../src/rehearsal/aws/dms-tables.js';
import { awsFault } from '../../src/rehearsal/aws/faults.js';
import { declareKey, findKey, kmsSend } from '../../src/rehearsal/aws/kms.js';
import { isLsn, parseLsn as lsnValue } from '../../src/db/position.js';
import { conninfoValue } from '../../src/rehearsal/engines/pg-ops.js';
import { createdIdentifier, Registry } from '../../src/rehearsal/registry.js';

const tempDir = (): string => mkdtempSync(join(process.env.REKEY_TEST_ROOT ?? tmpdir(), 'rehearsal-parts-'));

describe('faults', () => {
  test('a modelled fault is the SDK class with metadata; an unmodelled one keeps its name', () => {
    const e = awsFault('rds', 'DBClusterNotFoundFault', 'DBCluster x not found.', 404);
    expect(e).toBeInstanceOf(DBClusterNotFoundFault);
    expect(e.name).toBe('DBClusterNotFoundFault');
    expect((e as DBClusterNotFoundFault).$metadata.httpStatusCode).toBe(404);
    const other = awsFault('rds', 'InvalidParameterCombination', 'nope');
    expect(other).toBeInstanceOf(RDSServiceException);
    expect(other.name).toBe('InvalidParameterCombination');
    expect(other.message).toBe('nope');
  });
});

describe('table selection', () => {
  const tables = ['public.orders', 'public.order_items', 'public.tmp_x', 'audit.log', 'public.rekey_sentinel'].map((name) => ({ name, hasReplicaIdentity: true }));
  const rules = (...r: [string, string, string][]): string =>
    JSON.stringify({ rules: r.map(([s, t, a], i) => ({ 'rule-type': 'selection', 'rule-id': String(i), 'rule-name': String(i), 'object-locator': { 'schema-name': s, 'table-name': t }, 'rule-action': a })) });

  test('wildcards include, excludes win, the sentinel always rides along', () => {
    const picked = selectTables(rules(['public', 'order%', 'include'], ['public', 'order_items', 'exclude']), tables, 'rekey_sentinel').map((t) => t.name);
    expect(picked).toEqual(['public.orders', 'public.rekey_sentinel']);
    expect(selectTables(rules(['%', '%', 'include']), tables, 'rekey_sentinel')).toHaveLength(5);
  });

  test('invalid mappings raise the DMS fault', () => {
    expect(() => parseSelection('not json')).toThrow(expect.objectContaining({ name: 'InvalidParameterValueException' }));
    expect(() => parseSelection('{"rules":[{"rule-type":"selection","rule-action":"maybe"}]}')).toThrow(/rule-action/);
  });
});

describe('LSNs', () => {
  test('compare numerically across the high word', () => {
    expect(lsnValue('0/16B3748')).toBe(0x16b3748n);
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(isLsn('0/1')).toBe(true);
    expect(isLsn('mysql-bin.000001:4')).toBe(false);
    expect(() => lsnValue('x')).toThrow(/not a PostgreSQL LSN/);
  });
});

describe('registry', () => {
  test('saves atomically, reloads, and skips a torn metrics line', () => {
    const dir = tempDir();
    const reg = Registry.create(dir, '123456789012', 'us-east-1');
    reg.state.proxyPorts.db1 = 41000;
    reg.event('db-cluster', 'db1', 'hello', ['notification']);
    reg.save();
    reg.addDatapoints([{ t: Date.now(), ns: 'AWS/DMS', m: 'CDCLatencySource', d: { A: 'b' }, v: 1.5 }]);
    appendFileSync(reg.metricsFile, '{"t": 1, "torn');
    const again = Registry.load(dir);
    expect(again?.state.proxyPorts.db1).toBe(41000);
    expect(again?.state.events[0]?.message).toBe('hello');
    expect(again?.metrics()).toHaveLength(1);
    expect(readFileSync(reg.file, 'utf8')).not.toMatch(/password/i);
    expect(Registry.load(join(dir, 'missing'))).toBeUndefined();
  });
});

describe('the created list', () => {
  test('names the resource a call makes, not the one it is made from', () => {
    expect(createdIdentifier('RestoreDBInstanceFromDBSnapshot', { DBInstanceIdentifier: 'app-db-rekey-ab12-new', DBSnapshotIdentifier: 'app-db-rekey-ab12-snap-copy' })).toBe('app-db-rekey-ab12-new');
    expect(createdIdentifier('CopyDBSnapshot', { SourceDBSnapshotIdentifier: 's', TargetDBSnapshotIdentifier: 's-copy' })).toBe('s-copy');
    expect(createdIdentifier('CopyDBClusterSnapshot', { SourceDBClusterSnapshotIdentifier: 'c', TargetDBClusterSnapshotIdentifier: 'c-copy' })).toBe('c-copy');
    expect(createdIdentifier('RestoreDBClusterFromSnapshot', { DBClusterIdentifier: 'new', SnapshotIdentifier: 'snap' })).toBe('new');
    expect(createdIdentifier('CreateDBInstance', { DBInstanceIdentifier: 'new-instance-1', DBClusterIdentifier: 'new' })).toBe('new-instance-1');
    expect(createdIdentifier('CreateDBSnapshot', { DBSnapshotIdentifier: 'snap', DBInstanceIdentifier: 'app-db' })).toBe('snap');
    expect(createdIdentifier('CreateReplicationTask', { ReplicationTaskIdentifier: 'task', SourceEndpointArn: 'arn:x' })).toBe('task');
    expect(createdIdentifier('CreateSomething', {})).toBe('?');
  });
});

function fakeCore(reg: Registry, now = Date.now()): Core {
  return { reg, region: reg.state.region, account: reg.state.account, now: () => now } as unknown as Core;
}

describe('KMS', () => {
  test('keys resolve by alias, id and ARN within their region; unknown ones are NotFoundException', async () => {
    const reg = Registry.create(tempDir(), '111122223333', 'us-east-1');
    const key = declareKey(reg.state, 'alias/new', { keySpec: 'RSA_2048' });
    const far = declareKey(reg.state, 'alias/far', { region: 'eu-west-1', state: 'PendingDeletion' });
    expect(key.arn).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\/[0-9a-f-]{36}$/);
    expect(findKey(reg.state, key.keyId, 'us-east-1')).toBe(key);
    expect(findKey(reg.state, key.arn, 'eu-west-1')).toBe(key);
    expect(findKey(reg.state, 'alias/far', 'us-east-1')).toBeUndefined();
    const send = kmsSend(fakeCore(reg));
    const out = (await send('DescribeKey', { KeyId: far.arn })) as { KeyMetadata: Record<string, unknown> };
    expect(out.KeyMetadata).toMatchObject({ KeyState: 'PendingDeletion', Enabled: false, Arn: far.arn });
    expect(((await send('DescribeKey', { KeyId: 'alias/new' })) as { KeyMetadata: Record<string, unknown> }).KeyMetadata.KeyUsage).toBe('ENCRYPT_DECRYPT');
    await expect(send('DescribeKey', { KeyId: 'alias/none' })).rejects.toMatchObject({ name: 'NotFoundException' });
    await expect(send('ScheduleKeyDeletion', {})).rejects.toThrow(/does not implement kms:ScheduleKeyDeletion/);
  });
});

describe('CloudWatch', () => {
  test('aggregates datapoints per period with the asked statistic, newest first, matching dimensions exactly', async () => {
    const reg = Registry.create(tempDir(), '123456789012', 'us-east-1');
    const d = { ReplicationInstanceIdentifier: 'ri', ReplicationTaskIdentifier: 'TASK1' };
    const base = Math.floor(Date.now() / 1000) * 1000 - 5000;
    reg.addDatapoints([
      { t: base + 100, ns: 'AWS/DMS', m: 'CDCLatencySource', d, v: 1 },
      { t: base + 900, ns: 'AWS/DMS', m: 'CDCLatencySource', d, v: 3 },
      { t: base + 1500, ns: 'AWS/DMS', m: 'CDCLatencySource', d, v: 0 },
      { t: base + 1600, ns: 'AWS/DMS', m: 'CDCLatencySource', d: { ReplicationInstanceIdentifier: 'ri' }, v: 99 },
    ]);
    const send = cloudwatchSend(fakeCore(reg, base + 2000));
    const query = (Stat: string) => ({
      StartTime: new Date(base), EndTime: new Date(base + 2000),
      MetricDataQueries: [{ Id: 'q', MetricStat: { Metric: { Namespace: 'AWS/DMS', MetricName: 'CDCLatencySource', Dimensions: Object.entries(d).map(([Name, Value]) => ({ Name, Value })) }, Period: 1, Stat } }],
    });
    const max = (await send('GetMetricData', new GetMetricDataCommand(query('Maximum')).input as never)) as { MetricDataResults: { Values: number[]; Timestamps: Date[] }[] };
    expect(max.MetricDataResults[0]?.Values).toEqual([0, 3]);
    expect(max.MetricDataResults[0]?.Timestamps.map((t) => t.getTime())).toEqual([base + 1000, base]);
    const avg = (await send('GetMetricData', query('Average'))) as { MetricDataResults: { Values: number[] }[] };
    expect(avg.MetricDataResults[0]?.Values).toEqual([0, 2]);
    const listed = (await send('ListMetrics', new ListMetricsCommand({ Namespace: 'AWS/DMS', Dimensions: [{ Name: 'ReplicationTaskIdentifier' }] }).input as never)) as { Metrics: unknown[] };
    expect(listed.Metrics).toEqual([{ Namespace: 'AWS/DMS', MetricName: 'CDCLatencySource', Dimensions: [{ Name: 'ReplicationInstanceIdentifier', Value: 'ri' }, { Name: 'ReplicationTaskIdentifier', Value: 'TASK1' }] }]);
  });
});

describe('conninfoValue (libpq keyword values of the rehearsal subscriptions)', () => {
  test('quotes every value and escapes quotes and backslashes, so spaces and quotes in passwords survive', () => {
    expect(conninfoValue('plain')).toBe("'plain'");
    expect(conninfoValue("it's a \\ pass")).toBe("'it\\'s a \\\\ pass'");
    expect(conninfoValue('')).toBe("''");
  });
});
