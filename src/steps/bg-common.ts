// What the blue-green steps share: the deployment's deterministic name, reading it back from AWS, the source's
// members that get a TargetResourceConfigurations entry, and the green members as AWS reports them.
import { DeleteBlueGreenDeploymentCommand, DescribeBlueGreenDeploymentsCommand } from '@aws-sdk/client-rds';
import type { BlueGreenDeployment, Filter } from '@aws-sdk/client-rds';
import { call } from '../aws/errors.js';
import { findCluster, findInstance } from '../aws/rds.js';
import { StepError } from '../engine/types.js';
import type { Ctx } from './common.js';
import { isInstance } from './engine.js';

/** AWS's longest BlueGreenDeploymentName. */
const MAX_NAME = 60;

/** Deterministic from (source, run id): a resumed run finds its deployment and never creates a second one. */
export function deploymentName(source: string, runId: string): string {
  const suffix = `-rekey-${runId}`;
  return `${source.toLowerCase().slice(0, MAX_NAME - suffix.length).replace(/-+$/, '')}${suffix}`;
}

/** The name blue gets at the switchover: AWS appends -old1 (for the cluster, its instances and replicas). */
export function oldName(identifier: string): string {
  return `${identifier}-old1`;
}

/** The identifier in an RDS ARN (`arn:aws:rds:region:acct:cluster:name` → name). */
export function idOfArn(arn: string): string {
  return arn.split(':').at(-1) ?? arn;
}

/** Whether an RDS ARN names a cluster (else a DB instance). */
export function isClusterArn(arn: string): boolean {
  return arn.split(':')[5] === 'cluster';
}

/** Deployments matching one filter (blue-green-deployment-name, source, ...), all pages. */
export async function listDeployments(ctx: Ctx, filter: Filter): Promise<BlueGreenDeployment[]> {
  const found: BlueGreenDeployment[] = [];
  let marker: string | undefined;
  do {
    const out = await call('rds:DescribeBlueGreenDeployments', () =>
      ctx.services.cloud.rds.send(new DescribeBlueGreenDeploymentsCommand({ Filters: [filter], ...(marker ? { Marker: marker } : {}) })),
    );
    found.push(...(out.BlueGreenDeployments ?? []));
    marker = out.Marker;
  } while (marker);
  return found;
}

/** This run's deployment (by its deterministic name), if it exists. */
export async function findOwnDeployment(ctx: Ctx): Promise<BlueGreenDeployment | undefined> {
  const name = deploymentName(ctx.services.runbook.source.identifier, ctx.runId);
  const list = await listDeployments(ctx, { Name: 'blue-green-deployment-name', Values: [name] });
  return list.find((d) => d.BlueGreenDeploymentName === name && d.Status !== 'DELETING');
}

/** The source's ARN and the ARNs that get a target key: Aurora the cluster; RDS the instance and every read replica. */
export async function sourceMembers(ctx: Ctx): Promise<{ sourceArn: string; keyed: string[]; replicas: string[] }> {
  const rb = ctx.services.runbook;
  const cloud = ctx.services.cloud;
  if (!isInstance(rb)) {
    const c = await findCluster(cloud, rb.source.identifier);
    if (!c?.DBClusterArn) throw new StepError(`source cluster ${rb.source.identifier} not found`, 'fatal');
    return { sourceArn: c.DBClusterArn, keyed: [c.DBClusterArn], replicas: [] };
  }
  const i = await findInstance(cloud, rb.source.identifier);
  if (!i?.DBInstanceArn) throw new StepError(`source instance ${rb.source.identifier} not found`, 'fatal');
  const replicas: string[] = [];
  for (const r of i.ReadReplicaDBInstanceIdentifiers ?? []) {
    // A cross-Region replica is listed by ARN; preflight refuses those, so here every entry is local.
    const replica = r.startsWith('arn:') ? undefined : await findInstance(cloud, r);
    replicas.push(replica?.DBInstanceArn ?? r);
  }
  return { sourceArn: i.DBInstanceArn, keyed: [i.DBInstanceArn, ...replicas], replicas };
}

/** Statuses of a deployment AWS reports. */
export type DeploymentStatus = 'PROVISIONING' | 'AVAILABLE' | 'SWITCHOVER_IN_PROGRESS' | 'SWITCHOVER_COMPLETED' | 'INVALID_CONFIGURATION' | 'SWITCHOVER_FAILED' | 'DELETING';

/** One line of progress from a deployment: its status, its members' and its tasks'. */
export function deploymentProgress(d: BlueGreenDeployment): { message: string; percent?: number } {
  const details = d.SwitchoverDetails ?? [];
  const tasks = d.Tasks ?? [];
  const doneTasks = tasks.filter((t) => t.Status === 'COMPLETED').length;
  const members = details.map((s) => `${idOfArn(s.SourceMember ?? '?')}→${idOfArn(s.TargetMember ?? '?')} ${s.Status ?? '?'}`).join(', ');
  const running = tasks.filter((t) => t.Status === 'IN_PROGRESS').map((t) => t.Name).join(', ');
  return {
    message: `deployment ${d.BlueGreenDeploymentName ?? '?'}: ${d.Status ?? '?'}${d.StatusDetails ? ` (${d.StatusDetails})` : ''}; ${members || 'no members yet'}${running ? `; running: ${running}` : ''}`,
    ...(tasks.length > 0 ? { percent: Math.round((doneTasks / tasks.length) * 100) } : {}),
  };
}

/** Delete the deployment; `withGreen` deletes the green resources too (only ever before a switchover). */
export async function deleteDeployment(ctx: Ctx, d: BlueGreenDeployment, withGreen: boolean): Promise<void> {
  if (withGreen && d.Status === 'SWITCHOVER_COMPLETED') {
    throw new StepError(`deployment ${d.BlueGreenDeploymentName ?? '?'} has switched over: its green resources now serve ${ctx.services.runbook.source.identifier} and are never deleted by rekey`, 'fatal');
  }
  await call('rds:DeleteBlueGreenDeployment', () =>
    ctx.services.cloud.rds.send(
      new DeleteBlueGreenDeploymentCommand({ BlueGreenDeploymentIdentifier: d.BlueGreenDeploymentIdentifier, ...(withGreen ? { DeleteTarget: true } : {}) }),
    ),
  );
}

/** The green members as AWS reports them after creation: ARNs of clusters and instances. */
export function greenMembers(d: BlueGreenDeployment): { source: string; target: string }[] {
  return (d.SwitchoverDetails ?? []).flatMap((s) => (s.SourceMember && s.TargetMember ? [{ source: s.SourceMember, target: s.TargetMember }] : []));
}
