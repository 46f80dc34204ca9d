// preflight: read-only. Every check runs and every failed one is reported at once.
import { DescribeKeyCommand, GetKeyPolicyCommand, ListAliasesCommand, ListGrantsCommand } from '@aws-sdk/client-kms';
import type { KeyMetadata } from '@aws-sdk/client-kms';
import type { DBCluster, DBInstance } from '@aws-sdk/client-rds';
import { credentialsProblem, isCredentialsError } from '../aws/credentials.js';
import { awsErrorName, classifyAwsError, isNotFound } from '../aws/errors.js';
import { findReplicationInstance } from '../aws/dms.js';
import { clusterParameters, findCluster, findInstance, instanceParameters } from '../aws/rds.js';
import type { Check, DbAdapter, TableSize } from '../db/types.js';
import { InterruptedError, StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import type { Runbook, SecretRef } from '../runbook/schema.js';
import { activeDms, withSource } from './common.js';
import type { Ctx } from './common.js';
import { isInstance, profile } from './engine.js';
import { describeSessions, fenceExclusions, foreignSessions } from './fence.js';
import type { ParameterRequirement } from './engine.js';
import { evaluateKeyPolicy } from '../aws/key-policy.js';
import { replicaPreflight } from '../topology/replicas.js';
import { globalClusterPreflight } from '../topology/global.js';
import type { RekeyServices } from './services.js';
import { unfencedCompareConnections, writerClasses } from './capacity.js';
import { keepsInstanceNames } from './topology-instances.js';
import { INSTANCE_RENAME_DNS_SECONDS } from './switch.js';
import { REPLICA_CLUSTER_LEFT, describeTopology, discoverAurora } from '../topology/aurora.js';
import type { AuroraTopology } from '../topology/aurora.js';
import { topologyNames } from './names.js';
import type { BinlogWindow, CutoverEstimate, PreflightReport } from './outputs.js';

export type { CutoverEstimate, BinlogWindow, PreflightReport } from './outputs.js';

const COUNT_ROWS_PER_SECOND = 2_000_000;
const CHECKSUM_ROWS_PER_SECOND = 200_000;

/**
 * AWS: inside the fence topology-release only asks for each old custom endpoint's deletion (one DeleteDBClusterEndpoint
 * call, about a second); how long AWS then takes to delete it is not documented [UNCERTAIN], so nothing waits for it
 * inside the fence: topology-after-switch waits (outside the window) before it makes the name on the new cluster.
 */
export const AWS_CUSTOM_ENDPOINT_DELETE_SECONDS = 1;

export function estimateWindow(sizes: TableSize[], services: RekeyServices, topology?: AuroraTopology, unfencedWorkers = services.runbook.validation.concurrency): CutoverEstimate {
  const rb = services.runbook;
  const rows = sizes.reduce((n, t) => n + Math.max(0, t.estimatedRows), 0);
  const bytes = sizes.reduce((n, t) => n + Math.max(0, t.bytes), 0);
  // Fenced counts use validation.concurrency; the consistent point's compare runs capped (capacity.ts).
  const workers = rb.validation.concurrency;
  const allCountSeconds = rb.validation.rowCounts ? rows / (COUNT_ROWS_PER_SECOND * unfencedWorkers) : 0;
  const countSeconds = rb.validation.final === 'counts' ? rows / (COUNT_ROWS_PER_SECOND * workers) : 0;
  const checked = rb.validation.checksums === true
    ? rows
    : Array.isArray(rb.validation.checksums)
      ? sizes.filter((t) => (rb.validation.checksums as string[]).includes(`${t.schema}.${t.name}`)).reduce((n, t) => n + t.estimatedRows, 0)
      : 0;
  const checksumSeconds = checked / (CHECKSUM_ROWS_PER_SECOND * unfencedWorkers);
  const aws = services.cloud.provider === 'aws';
  // Inside the time box: the sentinel (about the CDC latency, under its threshold at the gate), stopping the task
  // (UNCERTAIN on AWS: assumed 30 s), the DMS statistics and sequences, and row counts when asked for.
  // Aurora with custom endpoints: topology-release asks for the deletion of the old cluster's ones just before the
  // switch, fenced: one call each (the deletion itself finishes after the switch, outside the window).
  const customEndpoints = rb.cutover.switch === 'rename' && !isInstance(rb) ? (topology?.customEndpoints.length ?? 0) : 0;
  const customEndpointSeconds = customEndpoints * (aws ? AWS_CUSTOM_ENDPOINT_DELETE_SECONDS : 0.05);
  const fencedSeconds = rb.cutover.maxLatencySeconds / 2 + (aws ? 30 : 0.2) + (aws ? 2 : 0.2) + countSeconds + customEndpointSeconds;
  // Drain ~ the latency threshold; stopping a DMS task and two cluster renames take about a minute each on AWS.
  const fixedSeconds = rb.cutover.maxLatencySeconds + 1 + (aws ? 60 : 1) + (rb.cutover.switch === 'rename' ? (aws ? 120 : 2) : 0) + customEndpointSeconds;
  const round = (n: number) => Math.round(n * 10) / 10;
  // RDS: "The new DNS name for the renamed DB instance becomes effective in about 10 minutes".
  const awsRenameDnsSeconds = aws && isInstance(rb) && rb.cutover.switch === 'rename' ? INSTANCE_RENAME_DNS_SECONDS : 0;
  return {
    tables: sizes.length,
    rows,
    bytes,
    countSeconds: round(countSeconds),
    checksumSeconds: 0,
    consistentPointSeconds: round(Math.max(allCountSeconds, checksumSeconds)),
    fencedSeconds: round(fencedSeconds),
    fixedSeconds: round(fixedSeconds),
    awsRenameDnsSeconds,
    ...(customEndpointSeconds > 0 ? { customEndpointSeconds: round(customEndpointSeconds) } : {}),
    totalSeconds: round(countSeconds + fixedSeconds + awsRenameDnsSeconds),
    assumptions: `full validation at the consistent point outside the fence (counts at ${COUNT_ROWS_PER_SECOND} rows/s, checksums at ${CHECKSUM_ROWS_PER_SECOND} rows/s per connection x ${unfencedWorkers}); inside the fence ${countSeconds > 0 ? 'row counts (validation.final: counts), ' : ''}drain, task stop${customEndpointSeconds > 0 ? `, asking for the deletion of the old cluster's ${customEndpoints} custom endpoint${customEndpoints === 1 ? '' : 's'} (${round(customEndpointSeconds)} s; AWS finishes it after the switch)` : ''} and renames as fixed costs${awsRenameDnsSeconds > 0 ? `; plus AWS's part: ${awsRenameDnsSeconds / 60} min documented DNS time of the instance rename` : ''}`,
  };
}

export const AWS_SNAPSHOT_BYTES_PER_SECOND = 100e6;
export const AWS_RESTORE_BYTES_PER_SECOND = 100e6;
export const AWS_FIXED_SECONDS = 45 * 60;

/** How long the snapshot's binlog position must survive on the source: until catch-up has read past it. */
export function expectedBinlogWindow(sizes: TableSize[], services: RekeyServices): BinlogWindow {
  const rb = services.runbook;
  const bytes = sizes.reduce((n, t) => n + Math.max(0, t.bytes), 0);
  const catchUp = rb.cutover.catchUpTimeoutSeconds + rb.cutover.sustainSeconds;
  let seconds: number;
  let assumptions: string;
  if (services.cloud.provider === 'aws') {
    seconds = AWS_FIXED_SECONDS + bytes / AWS_SNAPSHOT_BYTES_PER_SECOND + bytes / AWS_RESTORE_BYTES_PER_SECOND + catchUp;
    assumptions = `snapshot and restore at ${AWS_SNAPSHOT_BYTES_PER_SECOND / 1e6} MB/s each, ${AWS_FIXED_SECONDS / 60} min of fixed AWS waits (writer, DMS setup), plus cutover.catchUpTimeoutSeconds + sustainSeconds`;
  } else {
    const d = rb.rehearsal?.delays;
    seconds = (d?.snapshotSeconds ?? 1) + (d?.restoreSeconds ?? 1) + catchUp;
    assumptions = 'rehearsal snapshot and restore delays plus cutover.catchUpTimeoutSeconds + sustainSeconds';
  }
  return { expectedHours: Math.round((seconds / 3600) * 100) / 100, assumptions };
}

class Checks {
  readonly all: Check[] = [];
  /** Set when AWS refused every call for want of credentials: the remaining AWS checks are pointless. */
  noCredentials = false;
  add(id: string, ok: boolean, severity: Check['severity'], message: string): void {
    this.all.push({ id, ok, severity, message });
  }
  error(id: string, ok: boolean, message: string): void {
    this.add(id, ok, 'error', message);
  }
  warn(id: string, ok: boolean, message: string): void {
    this.add(id, ok, 'warning', message);
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? `${awsErrorName(error)}: ${error.message}` : String(error);
}

/** A credentials error is reported once, as `aws.credentials` with the ways to supply them; true when it was one. */
function noCredentials(ctx: Ctx, checks: Checks, error: unknown): boolean {
  if (!isCredentialsError(error)) return false;
  checks.error('aws.credentials', false, credentialsProblem(ctx.services.runbook.region, error));
  checks.noCredentials = true;
  return true;
}

/** The source's key, as checkKey needs it from a cluster or an instance. */
type KeyedSource = Pick<DBCluster, 'KmsKeyId'>;

async function checkInstanceSource(ctx: Ctx, checks: Checks, report: PreflightReport): Promise<KeyedSource | undefined> {
  const rb = ctx.services.runbook;
  const id = rb.source.identifier;
  let instance;
  try {
    instance = await findInstance(ctx.services.cloud, id);
  } catch (error) {
    if (noCredentials(ctx, checks, error)) return undefined;
    checks.error('source.exists', false, `cannot describe source instance ${id}: ${reason(error)}`);
    return undefined;
  }
  if (!instance) {
    checks.error('source.exists', false, `source instance ${id} not found in ${rb.region}`);
    return undefined;
  }
  checks.error('source.exists', true, `source instance ${id} exists`);
  const engine = profile(rb);
  checks.error('source.engine', instance.Engine === engine.rdsEngine, `source engine is ${instance.Engine ?? 'unknown'} (runbook says ${rb.source.engine})`);
  checks.error('source.available', instance.DBInstanceStatus === 'available', `source instance status is ${instance.DBInstanceStatus ?? 'unknown'}`);
  checks.error('source.encrypted', instance.StorageEncrypted === true, instance.StorageEncrypted ? 'storage is encrypted' : 'storage is not encrypted (this flow changes the key of an encrypted instance)');
  const retention = instance.BackupRetentionPeriod ?? 0;
  checks.error('source.backups', retention > 0, retention > 0 ? `backups kept ${retention} days` : 'automated backups are disabled (BackupRetentionPeriod 0)');
  checks.warn('source.multi_az', true, instance.MultiAZ ? 'Multi-AZ: the restored instance is Multi-AZ too' : 'single-AZ: the restore uses the same availability zone');
  if (instance.ReadReplicaSourceDBInstanceIdentifier) {
    checks.error('source.not_replica', false, `source ${id} is itself a read replica of ${instance.ReadReplicaSourceDBInstanceIdentifier}`);
  }
  const group = instance.DBParameterGroups?.[0]?.DBParameterGroupName;
  await checkParameters(ctx, checks, group, engine.parameters, true);
  report.source = {
    identifier: id,
    ...(instance.DBInstanceArn ? { arn: instance.DBInstanceArn } : {}),
    ...(instance.KmsKeyId ? { kmsKeyId: instance.KmsKeyId } : {}),
    ...(instance.EngineVersion ? { engineVersion: instance.EngineVersion } : {}),
    writer: id,
    ...(instance.DBInstanceClass ? { writerClass: instance.DBInstanceClass } : {}),
  };
  await checkReplicas(ctx, checks, report, instance);
  return instance;
}

/** The source's read replicas and their Regions' keys (src/topology/replicas.ts): every problem as a check. */
async function checkReplicas(ctx: Ctx, checks: Checks, report: PreflightReport, instance: DBInstance): Promise<void> {
  const rb = ctx.services.runbook;
  const d = rb.rehearsal?.delays;
  const found = await replicaPreflight(ctx.services.cloud, rb, instance, {
    runId: ctx.runId, newPrimaryName: ctx.services.names.targetCluster,
    ...(ctx.services.cloud.provider === 'rehearsal' ? { replicaSeconds: (d?.renameSeconds ?? 1) + (d?.restoreSeconds ?? 1) } : {}),
  });
  for (const c of found.checks) checks.add(c.id, c.ok, c.severity, c.message);
  if (found.plan) report.replicas = found.plan;
}

async function checkSource(ctx: Ctx, checks: Checks, report: PreflightReport): Promise<KeyedSource | undefined> {
  const rb = ctx.services.runbook;
  if (profile(rb).instance) return checkInstanceSource(ctx, checks, report);
  const id = rb.source.identifier;
  let cluster: DBCluster | undefined;
  try {
    cluster = await findCluster(ctx.services.cloud, id);
  } catch (error) {
    if (noCredentials(ctx, checks, error)) return undefined;
    checks.error('source.exists', false, `cannot describe source cluster ${id}: ${reason(error)}`);
    return undefined;
  }
  if (!cluster) {
    checks.error('source.exists', false, `source cluster ${id} not found in ${rb.region}`);
    return undefined;
  }
  checks.error('source.exists', true, `source cluster ${id} exists`);
  const engine = profile(rb);
  checks.error('source.engine', cluster.Engine === engine.clusterEngine, `source engine is ${cluster.Engine ?? 'unknown'} (runbook says ${rb.source.engine})`);
  checks.error('source.available', cluster.Status === 'available', `source cluster status is ${cluster.Status ?? 'unknown'}`);
  const retention = cluster.BackupRetentionPeriod ?? 0;
  checks.error('source.backups', retention > 0, retention > 0 ? `backups kept ${retention} days` : 'automated backups are disabled (BackupRetentionPeriod 0)');
  await checkParameters(ctx, checks, cluster.DBClusterParameterGroup, engine.parameters);
  const global = await globalClusterPreflight(ctx.services.cloud, rb, cluster, ctx.runId);
  for (const c of global.checks) checks.add(c.id, c.ok, c.severity, c.message);
  if (global.plan) report.globalDatabase = global.plan;
  const writerId = cluster.DBClusterMembers?.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier;
  let writerClass: string | undefined;
  if (!writerId) {
    checks.error('source.writer', false, 'source cluster has no writer instance');
  } else {
    try {
      writerClass = (await findInstance(ctx.services.cloud, writerId))?.DBInstanceClass;
      checks.error('source.writer', writerClass !== undefined, writerClass ? `writer ${writerId} is ${writerClass}` : `writer instance ${writerId} not found`);
    } catch (error) {
      checks.error('source.writer', false, `cannot describe writer ${writerId}: ${reason(error)}`);
    }
  }
  // The topology around the writer, and what happens to each part: preflight, plan and report list it.
  if (rb.strategy === 'blue-green') {
    checks.warn('source.topology', true, 'Blue/Green: AWS makes green\'s readers with the deployment; rekey recreates no reader or custom endpoint itself');
  } else {
    try {
      const found = await discoverAurora(ctx.services.cloud, cluster, topologyNames(rb, ctx.runId), rb.region);
      const plan = describeTopology(found, id, rb.cutover.renameInstances && rb.cutover.switch === 'rename');
      report.topology = { found, plan };
      checks.warn('source.topology', true, `${found.readers.length} reader${found.readers.length === 1 ? '' : 's'} and ${found.customEndpoints.length} custom endpoint${found.customEndpoints.length === 1 ? '' : 's'} move with the cluster: ${plan.join('; ')}`);
      if (found.autoScalingError) checks.warn('source.autoscaling', false, `Aurora Auto Scaling of ${id} cannot be read (${found.autoScalingError}): it is not registered again after the switch`);
      const unmapped = found.customEndpoints.filter((e) => e.unmapped.length > 0);
      if (unmapped.length > 0) checks.warn('source.custom_endpoints', false, `members without a counterpart on the new cluster are left out: ${unmapped.map((e) => `${e.name} (${e.unmapped.join(', ')})`).join('; ')}`);
      const replicaClusters = found.replicaClusters ?? [];
      if (replicaClusters.length > 0) {
        checks.warn('source.replica_clusters', false, `${id} has read replica cluster${replicaClusters.length === 1 ? '' : 's'} ${replicaClusters.map((r) => `${r.identifier} (${r.region})`).join(', ')}: ${REPLICA_CLUSTER_LEFT}`);
      }
    } catch (error) {
      checks.warn('source.topology', false, `cannot read the readers and custom endpoints of ${id}: ${reason(error)}; they would not be recreated`);
    }
  }
  report.source = {
    identifier: id,
    ...(cluster.DBClusterArn ? { arn: cluster.DBClusterArn } : {}),
    ...(cluster.KmsKeyId ? { kmsKeyId: cluster.KmsKeyId } : {}),
    ...(cluster.EngineVersion ? { engineVersion: cluster.EngineVersion } : {}),
    ...(writerId ? { writer: writerId } : {}),
    ...(writerClass ? { writerClass } : {}),
  };
  return cluster;
}

/** One check per required cluster parameter, each named, from one pass over the parameter group. */
async function checkParameters(ctx: Ctx, checks: Checks, group: string | undefined, required: ParameterRequirement[], instance = false): Promise<void> {
  const kind = instance ? 'DB parameter group' : 'cluster parameter group';
  const fail = (message: string) => {
    for (const r of required) checks.add(r.checkId, false, r.severity, message);
  };
  if (!group) return fail(`source has no ${kind}`);
  let values: Map<string, string | undefined>;
  try {
    const names = required.map((r) => r.name);
    values = instance ? await instanceParameters(ctx.services.cloud, group, names) : await clusterParameters(ctx.services.cloud, group, names);
  } catch (error) {
    return fail(`cannot read ${kind} ${group}: ${reason(error)}`);
  }
  for (const r of required) {
    const set = values.get(r.name);
    const value = set ?? r.defaultValue;
    const ok = value !== undefined && r.accepted.includes(value.toUpperCase());
    const shown = set ?? (r.defaultValue !== undefined ? `unset (engine default ${r.defaultValue})` : 'unset');
    const message = `${r.name} is ${shown} in ${kind} ${group}`;
    checks.add(r.checkId, ok, r.severity, ok ? message : `${message} (must be ${r.accepted.join(' or ')}: ${r.why})`);
  }
}

async function checkKey(ctx: Ctx, checks: Checks, report: PreflightReport, source: KeyedSource | undefined): Promise<void> {
  const rb = ctx.services.runbook;
  const kms = ctx.services.cloud.kms;
  const ref = rb.target.kmsKeyId;
  let meta: KeyMetadata | undefined;
  try {
    meta = (await kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata;
  } catch (error) {
    checks.error('key.exists', false, isNotFound(error) ? `new key ${ref} not found in ${rb.region}` : `cannot describe new key ${ref}: ${reason(error)}`);
    return;
  }
  if (!meta?.Arn || !meta.KeyId) {
    checks.error('key.exists', false, `kms:DescribeKey returned no metadata for ${ref}`);
    return;
  }
  checks.error('key.exists', true, `new key ${meta.Arn}`);
  if (meta.KeyState === 'PendingDeletion') {
    const when = meta.DeletionDate ? ` (deletion date ${new Date(meta.DeletionDate).toISOString()})` : '';
    checks.error('key.pending_deletion', false, `new key ${ref} is pending deletion${when}; cancel the deletion first`);
  } else {
    const enabled = meta.Enabled === true && meta.KeyState === 'Enabled';
    checks.error('key.enabled', enabled, enabled ? 'new key is enabled' : `new key ${ref} is ${meta.KeyState ?? 'not enabled'} (disabled keys cannot encrypt); it must be Enabled`);
  }
  const spec = meta.KeySpec ?? meta.CustomerMasterKeySpec;
  checks.error('key.spec', spec === 'SYMMETRIC_DEFAULT', spec === 'SYMMETRIC_DEFAULT' ? 'new key is symmetric' : `new key ${ref} is asymmetric (${spec ?? 'unknown spec'}); RDS needs a SYMMETRIC_DEFAULT key`);
  checks.error('key.usage', meta.KeyUsage === 'ENCRYPT_DECRYPT', `new key usage is ${meta.KeyUsage ?? 'unknown'} (must be ENCRYPT_DECRYPT)`);
  const [, , , region, account] = meta.Arn.split(':');
  checks.error('key.region', region === rb.region, region === rb.region ? `new key is in ${rb.region}` : `new key ${ref} is in region ${region ?? '?'}, but the runbook region is ${rb.region} (wrong region)`);
  if (rb.account !== undefined) checks.warn('key.account', account === rb.account, `new key belongs to account ${account ?? '?'} (runbook account ${rb.account})`);
  if (source) {
    const same = source.KmsKeyId === meta.Arn;
    checks.error('key.differs', !same, same ? `the source is already encrypted with ${meta.Arn}` : 'new key differs from the source key');
  }
  checks.warn('key.customer_managed', meta.KeyManager !== 'AWS', meta.KeyManager === 'AWS' ? 'new key is AWS managed: snapshots encrypted with it cannot be shared' : 'new key is customer managed');
  let aliases: string[] = [];
  try {
    const out = await kms.send(new ListAliasesCommand({ KeyId: meta.KeyId }));
    aliases = (out.Aliases ?? []).flatMap((a) => (a.AliasName ? [a.AliasName] : []));
  } catch {
    // Aliases are for the report only.
  }
  report.key = { arn: meta.Arn, keyId: meta.KeyId, aliases };
  try {
    const policy = await kms.send(new GetKeyPolicyCommand({ KeyId: meta.KeyId, PolicyName: 'default' }));
    const grants = await kms.send(new ListGrantsCommand({ KeyId: meta.KeyId })).then((g) => g.Grants ?? [], () => []);
    const v = evaluateKeyPolicy(policy.Policy ?? '{}', rb.region, grants);
    if (v.verdict === 'denied') checks.error('key.rds_access', false, `new key ${ref}: ${v.reason}`);
    else if (v.verdict === 'uncertain') checks.warn('key.rds_access', false, `UNCERTAIN whether RDS can use the new key: ${v.reason}`);
    else checks.error('key.rds_access', true, v.reason);
  } catch (error) {
    const denied = classifyAwsError(error) === 'access-denied';
    checks.warn('key.rds_access', false, `UNCERTAIN whether RDS can use the new key: ${denied ? 'not allowed to read the key policy' : reason(error)}`);
  }
}

async function checkDms(ctx: Ctx, checks: Checks, report: PreflightReport): Promise<void> {
  const ri = activeDms(ctx.services.runbook)?.replicationInstance;
  if (!ri) return;
  try {
    const found = await findReplicationInstance(ctx.services.cloud, ri.identifier);
    report.dmsInstanceExisted = found !== undefined;
    if (found) {
      report.dmsAddresses = [...(found.ReplicationInstancePrivateIpAddresses ?? []), ...(found.ReplicationInstancePublicIpAddresses ?? [])];
      const subnet = found.ReplicationSubnetGroup?.ReplicationSubnetGroupIdentifier;
      checks.error('dms.instance', true, `replication instance ${ri.identifier} exists (${found.ReplicationInstanceStatus ?? 'unknown'}, subnet group ${subnet ?? 'none'})`);
      checks.warn('dms.instance_available', found.ReplicationInstanceStatus === 'available', `replication instance status is ${found.ReplicationInstanceStatus ?? 'unknown'}`);
    } else if (ri.create) {
      checks.error('dms.instance', true, `replication instance ${ri.identifier} will be created (${ri.class})`);
      checks.warn('dms.subnet_group', ri.subnetGroup !== undefined, ri.subnetGroup ? `created in subnet group ${ri.subnetGroup}` : 'no subnetGroup given: DMS will use the default subnet group');
    } else {
      checks.error('dms.instance', false, `replication instance ${ri.identifier} not found and dms.replicationInstance.create is false`);
    }
  } catch (error) {
    checks.error('dms.instance', false, `cannot describe replication instance ${ri.identifier}: ${reason(error)}`);
  }
}

/**
 * Resolves a password reference now, so an unset variable, a wrong secret ARN or a missing Secrets Manager / KMS
 * permission is a preflight problem before anything is created. Reports only failures; the value is not kept.
 */
async function checkPassword(ctx: Ctx, checks: Checks, who: 'source' | 'dms', ref: SecretRef): Promise<boolean> {
  const where = 'env' in ref ? `environment variable ${ref.env}` : `secret ${ref.secretArn}`;
  try {
    if ((await ctx.services.secrets.resolve(ref)) !== undefined) return true;
    checks.error(`${who}.password`, false, `the ${who} password is not available (${where})`);
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    checks.error(`${who}.password`, false, `the ${who} password cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  return false;
}

async function checkDatabase(ctx: Ctx, checks: Checks, report: PreflightReport, source: KeyedSource | undefined): Promise<TableSize[]> {
  const rb = ctx.services.runbook;
  if (!source) {
    checks.error('source.connect', false, 'database checks skipped: the source cluster was not found');
    return [];
  }
  if (!(await checkPassword(ctx, checks, 'source', rb.source.password))) return [];
  try {
    return await withSource(ctx, async (db) => {
      checks.error('source.connect', true, `connected to ${rb.source.database} as ${rb.source.username}`);
      for (const c of await db.replicationChecks()) checks.all.push(c);
      if (db.binlogRetentionHours) {
        report.binlog = { expectedHours: 0, assumptions: '' };
        try {
          report.binlog.retentionHours = await db.binlogRetentionHours();
        } catch {
          // The adapter's own retention check already reports why it could not be read.
        }
      }
      const prefix = profile(rb).checkPrefix;
      const noPk = await db.tablesWithoutPrimaryKey();
      report.tablesWithoutPk = noPk.map((t) => `${t.schema}.${t.name}`);
      const native = rb.strategy === 'native' || (rb.strategy === 'clone' && rb.cdc !== 'dms');
      const noPkEffect = prefix === 'pg'
        ? native ? 'only their INSERTs are replicated (publishing their updates would make UPDATEs fail on the source)' : 'DMS ignores their UPDATEs and DELETEs'
        : native ? 'row-based replication finds their rows by a full scan, slowly' : 'DMS cannot tell their rows apart for UPDATEs and DELETEs';
      checks.warn(`${prefix}.primary_keys`, noPk.length === 0, noPk.length === 0 ? 'every table has a primary key' : `tables without a primary key (${noPkEffect}): ${report.tablesWithoutPk.join(', ')}`);
      await checkOpenSessions(ctx, checks, report, db);
      const concerns = await db.columnConcerns();
      checks.warn(`${prefix}.column_types`, concerns.length === 0, concerns.length === 0 ? 'no column types DMS handles poorly' : `columns DMS may mishandle: ${concerns.map((c) => `${c.schema}.${c.name}.${c.column} (${c.type}: ${c.reason})`).join('; ')}`);
      return db.tableSizes();
    });
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    checks.error('source.connect', false, `cannot check the source database: ${error instanceof Error ? error.message : String(error)}`);
    return [];
  }
}

/** Who logs in as rekey's (or DMS's) own login now: the fence cannot lock them out at the cutover. */
async function checkOpenSessions(ctx: Ctx, checks: Checks, report: PreflightReport, db: DbAdapter): Promise<void> {
  const users = fenceExclusions(ctx);
  const policy = ctx.services.runbook.cutover.openSessions;
  try {
    const open = await foreignSessions(db, users, report.dmsAddresses ?? []);
    report.openSessions = open.length;
    checks.warn(
      'source.open_sessions',
      open.length === 0,
      open.length === 0
        ? `no other client logs in as ${users.join('/')}`
        : `${open.length} session${open.length === 1 ? '' : 's'} of ${users.join('/')} from other clients now: ${describeSessions(open)}. The fence cannot lock out this login; ${policy === 'refuse' ? 'the cutover stops if any is open when the fence is up or after the final validation (cutover.openSessions: refuse)' : 'the cutover goes on and reports them (cutover.openSessions: warn)'}. Give applications their own login.`,
    );
  } catch (error) {
    checks.warn('source.open_sessions', false, `cannot list the sessions of ${users.join('/')}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The snapshot's binlog position must outlive snapshot + restore + catch-up on the source. */
function checkBinlogWindow(checks: Checks, window: BinlogWindow, expected: BinlogWindow): void {
  Object.assign(window, expected);
  const hours = window.retentionHours;
  // Unreadable or unset retention is the adapter's mysql.binlog_retention problem; not reported twice.
  if (hours === undefined || (hours !== null && hours <= 0)) return;
  if (hours === null) {
    checks.error('source.binlog_retention_window', true, 'binary logs are never purged automatically');
    return;
  }
  const ok = hours >= window.expectedHours;
  const suggest = Math.max(24, Math.ceil(window.expectedHours * 2));
  checks.error(
    'source.binlog_retention_window',
    ok,
    ok
      ? `binlogs are kept ${hours} h; snapshot to caught-up is expected within ${window.expectedHours} h`
      : `binlogs are kept ${hours} h, but snapshot + restore + catch-up may take ${window.expectedHours} h: the start position would be purged. Raise it: CALL mysql.rds_set_configuration('binlog retention hours', ${suggest})`,
  );
}

/** The fenced part of the predicted window must fit in cutover.fenceTimeoutSeconds, or the cutover could never finish. */
function checkFenceTimeBox(checks: Checks, estimate: CutoverEstimate, rb: Runbook): void {
  const limit = rb.cutover.fenceTimeoutSeconds;
  const ok = estimate.fencedSeconds <= limit;
  checks.error(
    'cutover.fence_time_box',
    ok,
    ok
      ? `the fenced part of the cutover is predicted at ${estimate.fencedSeconds} s, within cutover.fenceTimeoutSeconds (${limit} s)`
      : `the fenced part of the cutover is predicted at ${estimate.fencedSeconds} s (drain, task stop, final checks${estimate.countSeconds > 0 ? `, ${estimate.countSeconds} s of row counts (validation.final: counts)` : ''}, sequences${estimate.customEndpointSeconds ? `, ${estimate.customEndpointSeconds} s asking for the old custom endpoints' deletion` : ''}), over cutover.fenceTimeoutSeconds (${limit} s): every attempt would be cut off. Raise the time box${estimate.countSeconds > 0 ? ' or set validation.final: none' : ''}.`,
  );
}

/** Runs every check; never throws for a failed check (the step does). */
export async function runPreflight(ctx: Ctx): Promise<PreflightReport> {
  const checks = new Checks();
  const report: PreflightReport = { checks: checks.all, problems: [], warnings: [], tablesWithoutPk: [], estimate: estimateWindow([], ctx.services) };
  const source = await checkSource(ctx, checks, report);
  if (!checks.noCredentials) {
    await checkKey(ctx, checks, report, source);
    await checkDms(ctx, checks, report);
  }
  // The DMS endpoints' own password is needed only after the restore: read it now all the same.
  const dmsPassword = activeDms(ctx.services.runbook)?.password;
  if (dmsPassword) await checkPassword(ctx, checks, 'dms', dmsPassword);
  // Without credentials nothing was read about the source: no "not found", no window predicted from nothing.
  const sizes = checks.noCredentials ? [] : await checkDatabase(ctx, checks, report, source);
  report.estimated = sizes.length > 0;
  const rb = ctx.services.runbook;
  checks.warn('runbook.dms_unused', rb.dms === undefined || activeDms(rb) !== undefined, `the runbook's dms section is ignored: strategy ${rb.strategy}${rb.strategy === 'clone' ? ` with cdc ${rb.cdc ?? 'native'}` : ''} runs no DMS task (remove the section to silence this)`);
  if (rb.cutover.renameInstances && !keepsInstanceNames(rb)) {
    const why = isInstance(rb) ? 'an RDS DB instance is renamed by the switch itself' : rb.strategy === 'blue-green' ? 'a Blue/Green switchover gives green the instance names itself' : 'cutover.switch is none: nothing is renamed';
    checks.warn('cutover.rename_instances', false, `cutover.renameInstances has no effect here: ${why}`);
  }
  if (ctx.services.runbook.strategy === 'native' || (ctx.services.runbook.strategy === 'clone' && ctx.services.runbook.cdc !== 'dms')) {
    // Passed as a check so the report lists it, not as a finding rekey could verify.
    checks.warn('native.network', true, `not checked: the restored database connects to the source's endpoint (${ctx.services.runbook.source.identifier}); its security groups must allow it. Yours to ensure.`);
  }
  const unfenced = unfencedCompareConnections(ctx, writerClasses(ctx, report.source?.writerClass)).connections;
  report.estimate = estimateWindow(sizes, ctx.services, report.topology?.found, unfenced);
  checkFenceTimeBox(checks, report.estimate, ctx.services.runbook);
  if (report.binlog) checkBinlogWindow(checks, report.binlog, expectedBinlogWindow(sizes, ctx.services));
  report.problems = checks.all.filter((c) => !c.ok && c.severity === 'error').map((c) => `${c.id}: ${c.message}`);
  report.warnings = checks.all.filter((c) => !c.ok && c.severity === 'warning').map((c) => `${c.id}: ${c.message}`);
  return report;
}

/** The plan's DMS look-up, for strategies that run a DMS task. */
function activeDmsInstance(rb: Runbook): { kind: 'aws'; target: string; summary: string }[] {
  const dms = activeDms(rb);
  return dms ? [{ kind: 'aws', target: 'dms:DescribeReplicationInstances', summary: `replication instance ${dms.replicationInstance.identifier}` }] : [];
}

/** Distinct Secrets Manager ARNs the runbook's passwords reference. */
function secretArns(rb: Runbook): string[] {
  const dmsPassword = activeDms(rb)?.password;
  const refs = [rb.source.password, ...(dmsPassword ? [dmsPassword] : [])];
  return [...new Set(refs.flatMap((r) => ('secretArn' in r ? [r.secretArn] : [])))];
}

export const preflight: Step<RekeyServices, PreflightReport> = {
  id: 'preflight',
  title: 'Preflight checks (read-only)',
  describe(ctx) {
    const rb = ctx.services.runbook;
    const engine = profile(rb);
    const actions: PlannedAction[] = [
      ...(engine.instance
        ? [
            { kind: 'aws' as const, target: 'rds:DescribeDBInstances', summary: `source instance ${rb.source.identifier}: state, engine, backups, Multi-AZ, key`, detail: `DBInstanceIdentifier=${rb.source.identifier}` },
            { kind: 'aws' as const, target: 'rds:DescribeDBParameters', summary: `${engine.parameters.map((p) => `${p.name} = ${p.accepted.join('|')}`).join(', ')} in the instance's DB parameter group` },
            { kind: 'aws' as const, target: 'rds:DescribeDBInstances', summary: 'each read replica the source lists (ReadReplicaDBInstanceIdentifiers), cross-Region ones in their own Region: class, AZ, storage, parameter group, key' },
            ...Object.entries(rb.target.regionKeys).map(([region, ref]) => ({
              kind: 'aws' as const, target: 'kms:DescribeKey', summary: `key ${ref} in ${region} (target.regionKeys): Enabled, SYMMETRIC_DEFAULT, in ${region} (multi-Region keys allowed), key policy lets RDS in ${region} use it`,
            })),
          ]
        : [
            { kind: 'aws' as const, target: 'rds:DescribeDBClusters', summary: `source cluster ${rb.source.identifier}: state, engine, backups, key`, detail: `DBClusterIdentifier=${rb.source.identifier}` },
            { kind: 'aws' as const, target: 'rds:DescribeDBClusterParameters', summary: `${engine.parameters.map((p) => `${p.name} = ${p.accepted.join('|')}`).join(', ')} in the cluster parameter group` },
            { kind: 'aws' as const, target: 'rds:DescribeDBInstances', summary: 'source writer instance class; each reader\'s settings' },
            { kind: 'aws' as const, target: 'rds:DescribeDBClusterEndpoints', summary: 'custom endpoints of the source cluster and their members' },
            { kind: 'aws' as const, target: 'application-autoscaling:DescribeScalableTargets', summary: 'Aurora Auto Scaling of the readers and its policies' },
            { kind: 'aws' as const, target: 'rds:DescribeGlobalClusters', summary: 'whether the source is the primary of an Aurora global database; each secondary cluster and its instances read in its Region, each Region\'s key from target.regionKeys checked there' },
          ]),
      { kind: 'aws', target: 'kms:DescribeKey', summary: `new key ${rb.target.kmsKeyId}: Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, region ${rb.region}, not pending deletion` },
      { kind: 'aws', target: 'kms:ListAliases', summary: 'aliases of the new key' },
      { kind: 'aws', target: 'kms:GetKeyPolicy', summary: 'key policy allows kms:CreateGrant for RDS', detail: 'PolicyName=default' },
      { kind: 'aws', target: 'kms:ListGrants', summary: 'grants on the new key' },
      ...activeDmsInstance(rb),
      ...secretArns(rb).map((arn) => ({ kind: 'aws' as const, target: 'secretsmanager:GetSecretValue', summary: `password secret ${arn} (read in its own region)`, detail: `SecretId=${arn}` })),
      {
        kind: 'sql',
        target: 'source',
        summary:
          engine.family === 'mysql'
            ? 'binlog settings, replication grants, binlog retention hours against snapshot + restore + catch-up, tables without primary key, column types, table sizes'
            : 'replication prerequisites, tables without primary key, column types, table sizes',
      },
    ];
    return actions;
  },
  async run(ctx) {
    const report = await runPreflight(ctx);
    ctx.report.publish('preflight', report);
    for (const w of report.warnings) ctx.report.log('warn', w);
    const window = report.estimated === false ? '' : `; predicted cutover window ${report.estimate.totalSeconds} s`;
    ctx.report.progress(`preflight: ${report.checks.length} checks, ${report.problems.length} problems, ${report.warnings.length} warnings${window}`);
    if (report.problems.length > 0) {
      throw new StepError(`preflight failed: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`, 'preflight', report.problems);
    }
    return report;
  },
};

