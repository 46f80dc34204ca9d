// preflight for strategy blue-green: read-only, every problem at once. The new key and the source as for dms-cdc
// (runPreflight, without its DMS checks), plus what AWS documents as Blue/Green prerequisites and limitations that
// the API shows: logical replication / binlog, tables without a primary key (PostgreSQL), external or cross-Region
// replication, RDS Proxy, a Secrets-Manager-managed master password, and a deployment that already exists.
import { DescribeDBProxiesCommand, DescribeDBProxyTargetsCommand } from '@aws-sdk/client-rds';
import { awsErrorName } from '../aws/errors.js';
import { findCluster, findInstance } from '../aws/rds.js';
import type { Check } from '../db/types.js';
import { StepError } from '../engine/types.js';
import type { PlannedAction, Step } from '../engine/types.js';
import { deploymentName, listDeployments, sourceMembers } from './bg-common.js';
import type { Ctx } from './common.js';
import { family, isInstance } from './engine.js';
import { runPreflight } from './preflight.js';
import type { PreflightReport } from './preflight.js';
import type { RekeyServices } from './services.js';

/** dms-cdc checks that do not apply to a Blue/Green deployment (AWS replicates, no DMS, no start position to keep). */
const NOT_FOR_BLUE_GREEN = /^(dms\.|source\.binlog_checksum|source\.binlog_retention_window)/;

/** AWS's documented switchover: "typically under one minute"; the timeout bounds it. */
const TYPICAL_SWITCHOVER_SECONDS = 60;

/** The blue-green preflight report: the shared one plus the deployment AWS would build. */
export interface BlueGreenPreflightReport extends PreflightReport {
  blueGreen: {
    /** The deterministic deployment name. */
    name: string;
    /** Source ARN (cluster or instance). */
    sourceArn?: string;
    /** ARNs that get TargetKmsKeyId (cluster; or instance and each read replica). */
    keyed: string[];
    /** Predicted switchover: typically under a minute, at most the timeout. */
    switchoverSeconds: { typical: number; max: number };
  };
}

function reason(error: unknown): string {
  return error instanceof Error ? `${awsErrorName(error)}: ${error.message}` : String(error);
}

async function blueGreenChecks(ctx: Ctx, add: (c: Check) => void, report: BlueGreenPreflightReport): Promise<void> {
  const rb = ctx.services.runbook;
  const cloud = ctx.services.cloud;
  const error = (id: string, ok: boolean, message: string): void => add({ id, ok, severity: 'error', message });
  const warn = (id: string, ok: boolean, message: string): void => add({ id, ok, severity: 'warning', message });
  const id = rb.source.identifier;
  const cluster = isInstance(rb) ? undefined : await findCluster(cloud, id).catch(() => undefined);
  const instance = isInstance(rb) ? await findInstance(cloud, id).catch(() => undefined) : undefined;
  const secret = cluster?.MasterUserSecret ?? instance?.MasterUserSecret;
  error('bg.master_password', secret === undefined, secret ? `the master password is managed in Secrets Manager (${secret.SecretArn ?? 'secret'}): AWS does not support Blue/Green deployments for it` : 'master password not managed by Secrets Manager');
  if (cluster) {
    const upstream = cluster.ReplicationSourceIdentifier;
    error('bg.replication_source', upstream === undefined, upstream ? `${id} replicates from ${upstream} (external or cross-Region replication): not supported by Blue/Green` : 'not a replication target');
    const downstream = cluster.ReadReplicaIdentifiers ?? [];
    error('bg.replicas', downstream.length === 0, downstream.length ? `${id} has cross-Region or cross-cluster replicas (${downstream.join(', ')}): not supported by Blue/Green` : 'no cross-cluster replicas');
  }
  if (instance) {
    const replicas = instance.ReadReplicaDBInstanceIdentifiers ?? [];
    const remote = replicas.filter((r) => r.startsWith('arn:'));
    error('bg.replicas', remote.length === 0, remote.length ? `cross-Region read replicas (${remote.join(', ')}): not supported by Blue/Green` : `${replicas.length} read replica(s) in ${rb.region}, each gets the new key`);
    for (const r of replicas.filter((x) => !x.startsWith('arn:'))) {
      const rep = await findInstance(cloud, r).catch(() => undefined);
      const cascading = rep?.ReadReplicaDBInstanceIdentifiers ?? [];
      if (cascading.length) error('bg.cascading_replicas', false, `read replica ${r} has replicas of its own (${cascading.join(', ')}): cascading replicas are not supported by Blue/Green`);
    }
    if (instance.ReplicaMode === 'mounted') error('bg.replica_mode', false, `${id} is a mounted replica`);
  }
  try {
    const proxies = (await cloud.rds.send(new DescribeDBProxiesCommand({}))).DBProxies ?? [];
    const using: string[] = [];
    for (const p of proxies) {
      if (!p.DBProxyName) continue;
      const targets = (await cloud.rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: p.DBProxyName }))).Targets ?? [];
      if (targets.some((t) => t.RdsResourceId === id || t.TrackedClusterId === id)) using.push(p.DBProxyName);
    }
    error('bg.rds_proxy', using.length === 0, using.length ? `RDS Proxy ${using.join(', ')} fronts ${id}: check AWS's current Blue/Green limitations for RDS Proxy before going on` : 'no RDS Proxy fronts the source');
  } catch (e) {
    warn('bg.rds_proxy', false, `UNCERTAIN whether an RDS Proxy fronts ${id}: ${reason(e)}`);
  }
  if (family(rb) === 'postgres') {
    const keyless = report.tablesWithoutPk;
    // AWS asks for a primary key (or REPLICA IDENTITY FULL) on every table: updates and deletes of the others do not reach green.
    warn('bg.tables_without_pk', keyless.length === 0, keyless.length ? `tables without a primary key (${keyless.join(', ')}): their updates and deletes do not reach green unless they get one or REPLICA IDENTITY FULL; validation will show it` : 'every table has a primary key');
  }
  try {
    const { sourceArn, keyed } = await sourceMembers(ctx);
    report.blueGreen.sourceArn = sourceArn;
    report.blueGreen.keyed = keyed;
    const existing = await listDeployments(ctx, { Name: 'source', Values: [sourceArn] });
    const others = existing.filter((d) => d.BlueGreenDeploymentName !== report.blueGreen.name);
    error('bg.existing_deployment', others.length === 0, others.length ? `${id} already has a Blue/Green deployment (${others.map((d) => `${d.BlueGreenDeploymentIdentifier ?? '?'} ${d.Status ?? ''}`).join(', ')}): delete it or let it finish first` : 'no other Blue/Green deployment for the source');
  } catch (e) {
    error('bg.existing_deployment', false, `cannot list Blue/Green deployments of ${id}: ${reason(e)}`);
  }
  warn('bg.target_key_support', false, 'UNCERTAIN whether AWS accepts a target KMS key for this engine, version and Region: CreateBlueGreenDeployment answers; a refusal stops the run with nothing left behind (fallback: strategy dms-cdc)');
}

/** Runs every check; never throws for a failed one. */
export async function runBlueGreenPreflight(ctx: Ctx): Promise<BlueGreenPreflightReport> {
  const base = await runPreflight(ctx);
  const timeout = ctx.services.runbook.blueGreen.switchoverTimeoutSeconds;
  const report: BlueGreenPreflightReport = {
    ...base,
    checks: base.checks.filter((c) => !NOT_FOR_BLUE_GREEN.test(c.id)),
    blueGreen: { name: deploymentName(ctx.services.runbook.source.identifier, ctx.runId), keyed: [], switchoverSeconds: { typical: Math.min(TYPICAL_SWITCHOVER_SECONDS, timeout), max: timeout } },
  };
  delete report.binlog;
  await blueGreenChecks(ctx, (c) => report.checks.push(c), report);
  report.estimate = { ...report.estimate, countSeconds: 0, checksumSeconds: 0, fixedSeconds: report.blueGreen.switchoverSeconds.typical, awsRenameDnsSeconds: 0, totalSeconds: report.blueGreen.switchoverSeconds.typical, assumptions: `AWS's switchover, typically under a minute, at most blueGreen.switchoverTimeoutSeconds (${timeout} s) before AWS reverts it` };
  report.problems = report.checks.filter((c) => !c.ok && c.severity === 'error').map((c) => `${c.id}: ${c.message}`);
  report.warnings = report.checks.filter((c) => !c.ok && c.severity === 'warning').map((c) => `${c.id}: ${c.message}`);
  return report;
}

export const bgPreflight: Step<RekeyServices, BlueGreenPreflightReport> = {
  id: 'preflight',
  title: 'Preflight checks for a Blue/Green deployment (read-only)',
  describe(ctx) {
    const rb = ctx.services.runbook;
    const actions: PlannedAction[] = [
      { kind: 'aws', target: isInstance(rb) ? 'rds:DescribeDBInstances' : 'rds:DescribeDBClusters', summary: `source ${rb.source.identifier}: state, engine, backups, key, replication, read replicas, master password management` },
      { kind: 'aws', target: isInstance(rb) ? 'rds:DescribeDBParameters' : 'rds:DescribeDBClusterParameters', summary: family(rb) === 'postgres' ? 'rds.logical_replication = 1 (green is kept in sync by logical replication)' : 'binlog_format = ROW (green is kept in sync by binlog replication)' },
      { kind: 'aws', target: 'kms:DescribeKey', summary: `new key ${rb.target.kmsKeyId}: Enabled, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, region ${rb.region}, not pending deletion` },
      { kind: 'aws', target: 'kms:GetKeyPolicy', summary: 'key policy allows kms:CreateGrant for RDS', detail: 'PolicyName=default' },
      { kind: 'aws', target: 'rds:DescribeDBProxies', summary: 'no RDS Proxy fronts the source' },
      { kind: 'aws', target: 'rds:DescribeBlueGreenDeployments', summary: 'no other deployment exists for the source', detail: 'Filters=[{Name: source, Values: [<source ARN>]}]' },
      { kind: 'sql', target: 'source', summary: family(rb) === 'postgres' ? 'tables without primary key, table sizes' : 'tables without primary key, table sizes' },
    ];
    return actions;
  },
  async run(ctx) {
    const report = await runBlueGreenPreflight(ctx);
    ctx.report.publish('preflight', report);
    for (const w of report.warnings) ctx.report.log('warn', w);
    ctx.report.progress(`preflight: ${report.checks.length} checks, ${report.problems.length} problems, ${report.warnings.length} warnings; switchover typically ${report.blueGreen.switchoverSeconds.typical} s, at most ${report.blueGreen.switchoverSeconds.max} s`);
    if (report.problems.length > 0) {
      throw new StepError(`preflight failed: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`, 'preflight', report.problems);
    }
    return report;
  },
};
