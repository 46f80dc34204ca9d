// Least-privilege IAM policy for one runbook: the actions its strategy and engine send, scoped to the resource ARNs
// the run touches. Run-scoped names are deterministic (src/steps/names.ts) except for the random run id, so each is
// matched by its name with the run id replaced by `*`. Pure; `isAllowed` is the evaluator the coverage test uses.
import { usesDms } from '../runbook/schema.js';
import type { Runbook, SecretRef } from '../runbook/schema.js';
import { resourceNames, topologyNames } from '../steps/names.js';
import { profile } from '../steps/engine.js';

/** One IAM policy statement. */
export interface PolicyStatement {
  /** Statement id (what it is for). */
  Sid: string;
  /** Always Allow: the policy grants, it never denies. */
  Effect: 'Allow';
  /** IAM actions (`service:Action`, `*` as a wildcard inside a name). */
  Action: string[];
  /** Resource ARNs or patterns; `*` only for read-only actions that have no resource-level permissions. */
  Resource: string[] | '*';
  /** IAM condition block. */
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
}

/** An IAM policy document. */
export interface PolicyDocument {
  /** Policy language version. */
  Version: '2012-10-17';
  /** Its statements. */
  Statement: PolicyStatement[];
}

/** What `rekey iam-policy` returns. */
export interface IamPolicyResult {
  /** The policy document to attach to the role that runs rekey. */
  policy: PolicyDocument;
  /** Strategy and engine it was made for. */
  strategy: string;
  engine: string;
  /** What could not be scoped exactly, and how to tighten it. */
  notes: string[];
}

export interface IamPolicyOptions {
  /** ARN of the key the source is encrypted with today (exact KMS scoping of the old key). */
  oldKeyArn?: string;
  /** Destination keys of cross-Region snapshot copies (after.copySnapshotTo) by Region. */
  copyTo?: { region: string; kmsKeyId: string }[];
}

/** A placeholder run id: names are computed with it, then it becomes `*`. */
const RUN_ID_PLACEHOLDER = 'zzzzzzzz';

const READ_RDS = [
  'rds:DescribeDBClusters', 'rds:DescribeDBInstances', 'rds:DescribeDBClusterSnapshots', 'rds:DescribeDBSnapshots', 'rds:DescribeDBClusterParameters',
  'rds:DescribeDBParameters', 'rds:DescribeDBClusterParameterGroups', 'rds:DescribeEvents', 'rds:ListTagsForResource', 'rds:DescribeGlobalClusters',
];

/** What the blue-green flow reads besides: its deployments, and the proxies in front of the source (a B/G blocker). */
const READ_BLUE_GREEN = ['rds:DescribeBlueGreenDeployments', 'rds:DescribeDBProxies', 'rds:DescribeDBProxyTargets'];

/** Read-only actions: the only ones that may have `"Resource": "*"`. */
export function isReadOnlyAction(action: string): boolean {
  const name = action.split(':')[1] ?? '';
  return /^(Describe|List|Get)/.test(name) && action !== 'secretsmanager:GetSecretValue';
}

function keyResource(ref: string, region: string, account: string): { resource: string; condition?: PolicyStatement['Condition'] } {
  if (ref.startsWith('arn:') && ref.includes(':key/')) return { resource: ref };
  const alias = ref.startsWith('arn:') ? ref.slice(ref.indexOf(':alias/') + 1) : ref.startsWith('alias/') ? ref : undefined;
  const keyRegion = ref.startsWith('arn:') ? (ref.split(':')[3] ?? region) : region;
  if (alias !== undefined) {
    // Key operations are authorized on the key, never on its alias: select the key by the aliases it has.
    return { resource: `arn:aws:kms:${keyRegion}:${account}:key/*`, condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [alias] } } };
  }
  return { resource: `arn:aws:kms:${keyRegion}:${account}:key/${ref}` };
}

function secretArns(refs: (SecretRef | undefined)[]): string[] {
  return [...new Set(refs.flatMap((r) => (r && 'secretArn' in r ? [r.secretArn] : [])))];
}

/**
 * strategy blue-green: the deployment actions on the deployment resource type (its identifier is AWS's, `bgd-...`),
 * and the actions AWS checks along with them (IAM Service Authorization Reference, Amazon RDS: CreateBlueGreenDeployment
 * needs the source db/cluster and its parameter groups, and creates green with CreateDBCluster/CreateDBInstance/
 * CreateDBInstanceReadReplica and AddTagsToResource; SwitchoverBlueGreenDeployment renames and promotes with
 * ModifyDBCluster/ModifyDBInstance/PromoteReadReplica(DBCluster); DeleteBlueGreenDeployment with DeleteTarget deletes
 * green with DeleteDBCluster/DeleteDBInstance).
 */
function blueGreenStatements(runbook: Runbook, instance: boolean, rds: (kind: string, id: string) => string): PolicyStatement[] {
  const deployments = [rds('deployment', '*')];
  // Green is named by AWS (`<source>-green-<random>`) and switchover moves names across: the resource type, never `*`.
  const dbs = instance ? [rds('db', '*')] : [rds('cluster', '*'), rds('db', '*')];
  const bg = runbook.blueGreen;
  const targetGroups = [
    ...(bg?.targetDBParameterGroupName ? [rds('pg', bg.targetDBParameterGroupName)] : []),
    ...(bg?.targetDBClusterParameterGroupName ? [rds('cluster-pg', bg.targetDBClusterParameterGroupName)] : []),
  ];
  const groups = instance ? [rds('pg', '*'), rds('og', '*'), rds('subgrp', '*'), rds('secgrp', '*')] : [rds('cluster-pg', '*'), rds('pg', '*'), rds('subgrp', '*'), rds('secgrp', '*')];
  return [
    {
      Sid: 'RdsBlueGreenCreate', Effect: 'Allow', Action: ['rds:CreateBlueGreenDeployment', 'rds:AddTagsToResource'],
      Resource: [...deployments, rds(instance ? 'db' : 'cluster', runbook.source.identifier), ...(instance ? [] : [rds('db', '*')]), ...targetGroups, ...groups],
    },
    {
      Sid: 'RdsBlueGreenBuildGreen', Effect: 'Allow',
      Action: instance ? ['rds:CreateDBInstanceReadReplica', 'rds:CreateDBInstance', 'rds:AddTagsToResource'] : ['rds:CreateDBCluster', 'rds:CreateDBInstance', 'rds:AddTagsToResource'],
      Resource: [...dbs, ...groups],
    },
    {
      Sid: 'RdsBlueGreenSwitchover', Effect: 'Allow',
      Action: ['rds:SwitchoverBlueGreenDeployment', ...(instance ? ['rds:ModifyDBInstance', 'rds:PromoteReadReplica'] : ['rds:ModifyDBCluster', 'rds:ModifyDBInstance', 'rds:PromoteReadReplicaDBCluster'])],
      Resource: [...deployments, ...dbs],
    },
    {
      Sid: 'RdsBlueGreenDelete', Effect: 'Allow',
      Action: ['rds:DeleteBlueGreenDeployment', ...(instance ? ['rds:DeleteDBInstance'] : ['rds:DeleteDBCluster', 'rds:DeleteDBInstance'])],
      Resource: [...deployments, ...dbs],
    },
  ];
}

/** The least-privilege policy for the runbook's strategy and engine. */
export function iamPolicy(runbook: Runbook, opts: IamPolicyOptions = {}): IamPolicyResult {
  const notes: string[] = [];
  const region = runbook.region;
  const account = runbook.account ?? '*';
  if (runbook.account === undefined) notes.push('the runbook names no account: ARNs use * for the account; set runbook.account to pin it');
  const p = profile(runbook);
  const n = resourceNames(runbook, RUN_ID_PLACEHOLDER);
  const wild = (s: string): string => s.replace(RUN_ID_PLACEHOLDER, '*');
  const rds = (kind: string, id: string, r = region): string => `arn:aws:rds:${r}:${account}:${kind}:${id}`;
  const src = runbook.source.identifier;
  const copyTo = opts.copyTo ?? runbook.after?.copySnapshotTo ?? [];

  const statements: PolicyStatement[] = [];
  statements.push({ Sid: 'RdsRead', Effect: 'Allow', Action: runbook.strategy === 'blue-green' ? [...READ_RDS, ...READ_BLUE_GREEN] : READ_RDS, Resource: '*' });

  // The databases the run changes: the source (renamed away), the new one (restored, renamed in), and their parked names.
  const dbKind = p.instance ? 'db' : 'cluster';
  const databases = [rds(dbKind, src), rds(dbKind, wild(n.targetCluster)), rds(dbKind, wild(n.oldName))];
  const snapshots = p.instance ? [rds('snapshot', wild(n.snapshot)), rds('snapshot', wild(n.snapshotCopy))] : [rds('cluster-snapshot', wild(n.snapshot))];
  // Groups named in restore requests are copied from the source at run time: scoped to their resource type.
  const groups = p.instance ? [rds('pg', '*'), rds('og', '*'), rds('subgrp', '*'), rds('secgrp', '*')] : [rds('cluster-pg', '*'), rds('pg', '*'), rds('subgrp', '*'), rds('secgrp', '*')];
  if (runbook.strategy !== 'blue-green') {
    // dms-cdc, native and snapshot restore a snapshot under the new key and rename it in; they differ in what replicates
    // (DMS, the engine, nothing while fenced). clone makes the new cluster with a point-in-time restore of the source instead.
    const clone = runbook.strategy === 'clone';
    if (!clone) {
      statements.push({
        Sid: 'RdsSnapshotTheSource', Effect: 'Allow',
        Action: [p.instance ? 'rds:CreateDBSnapshot' : 'rds:CreateDBClusterSnapshot', 'rds:AddTagsToResource'],
        Resource: [rds(dbKind, src), ...(p.instance && p.family === 'mysql' && runbook.strategy !== 'snapshot' ? [rds('db', wild(n.readReplica))] : []), ...snapshots],
      });
    }
    if (p.instance) {
      statements.push({ Sid: 'RdsCopySnapshotUnderTheNewKey', Effect: 'Allow', Action: ['rds:CopyDBSnapshot', 'rds:AddTagsToResource'], Resource: snapshots });
      if (p.family === 'mysql') {
        statements.push({
          Sid: 'RdsPositionReplica', Effect: 'Allow', Action: ['rds:CreateDBInstanceReadReplica', 'rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:AddTagsToResource'],
          Resource: [rds('db', src), rds('db', wild(n.readReplica)), ...groups],
        });
      }
    }
    statements.push({
      Sid: 'RdsRestoreUnderTheNewKey', Effect: 'Allow',
      Action: p.instance
        ? ['rds:RestoreDBInstanceFromDBSnapshot', 'rds:AddTagsToResource']
        : [clone ? 'rds:RestoreDBClusterToPointInTime' : 'rds:RestoreDBClusterFromSnapshot', 'rds:CreateDBInstance', 'rds:AddTagsToResource'],
      Resource: [
        rds(dbKind, wild(n.targetCluster)), ...(p.instance ? [] : [rds('db', wild(n.targetWriter)), rds('cluster', wild(n.targetCluster))]),
        ...(clone ? [rds('cluster', src)] : snapshots), ...groups,
      ],
    });
    if (!p.instance) {
      // Aurora topology: readers `<new cluster>-r<n>`; custom endpoints keep the source's own names (not known offline)
      // and get pre-switch names `<name>-rekey-<run id>`, so they are scoped to the resource type; Auto Scaling of the readers.
      const readers = rds('db', `${wild(topologyNames(runbook, RUN_ID_PLACEHOLDER).reader(1)).replace(/1$/, '')}*`);
      statements.push({ Sid: 'RdsReadTopology', Effect: 'Allow', Action: ['rds:DescribeDBClusterEndpoints', 'application-autoscaling:DescribeScalableTargets', 'application-autoscaling:DescribeScalingPolicies'], Resource: '*' });
      statements.push({
        Sid: 'RdsRecreateTheReaders', Effect: 'Allow', Action: ['rds:CreateDBInstance', 'rds:DeleteDBInstance', 'rds:AddTagsToResource'],
        Resource: [readers, rds('cluster', wild(n.targetCluster)), rds('cluster', src), ...groups],
      });
      statements.push({
        Sid: 'RdsMoveTheCustomEndpoints', Effect: 'Allow', Action: ['rds:CreateDBClusterEndpoint', 'rds:ModifyDBClusterEndpoint', 'rds:DeleteDBClusterEndpoint', 'rds:AddTagsToResource'],
        Resource: [rds('cluster-endpoint', '*'), ...databases, rds('db', wild(n.targetWriter)), readers],
      });
      statements.push({
        Sid: 'AuroraAutoScalingOfTheReaders', Effect: 'Allow', Action: ['application-autoscaling:RegisterScalableTarget', 'application-autoscaling:PutScalingPolicy'],
        Resource: [`arn:aws:application-autoscaling:${region}:${account}:scalable-target/*`],
      });
      notes.push('Aurora topology: custom endpoint names are the source\'s own (read at run time), so the endpoint actions are scoped to cluster-endpoint:* in the account and Region; RegisterScalableTarget may need iam:CreateServiceLinkedRole for AWSServiceRoleForApplicationAutoScaling_RDSCluster when the account has none yet');
      if (runbook.cutover.renameInstances && runbook.cutover.switch === 'rename') {
        // cutover.renameInstances: the old instances go to `<name>-old-<run id>` and the new ones take the source
        // instances' names, both read at run time; custom endpoint members follow the kept names.
        statements.push({
          Sid: 'RdsKeepTheInstanceNames', Effect: 'Allow', Action: ['rds:ModifyDBInstance', 'rds:ModifyDBClusterEndpoint'],
          Resource: [rds('db', '*'), rds('cluster-endpoint', '*')],
        });
        notes.push('cutover.renameInstances: the source instance names are read at run time, so renaming the old instances away and the new ones into their names is scoped to db:* in the account and Region');
      }
      const secondaryRegions = Object.keys(runbook.target.regionKeys).filter((r) => r !== region);
      if (secondaryRegions.length > 0) {
        // Aurora Global Database (topology-global): the global cluster's own name is the source's (read at run time) and
        // its secondaries' names too, so the global cluster and each secondary Region's clusters are scoped to their
        // resource types; the new cluster heads the new global cluster (CreateGlobalCluster / RemoveFromGlobalCluster on it).
        const globals = `arn:aws:rds::${account}:global-cluster:*`;
        statements.push({
          Sid: 'RdsGlobalDatabase', Effect: 'Allow', Action: ['rds:CreateGlobalCluster', 'rds:ModifyGlobalCluster', 'rds:RemoveFromGlobalCluster', 'rds:DeleteGlobalCluster', 'rds:AddTagsToResource'],
          Resource: [globals, ...databases, ...secondaryRegions.map((r) => rds('cluster', '*', r))],
        });
        statements.push({
          Sid: 'RdsGlobalSecondaries', Effect: 'Allow',
          Action: ['rds:CreateDBCluster', 'rds:CreateDBInstance', 'rds:ModifyDBCluster', 'rds:DeleteDBCluster', 'rds:DeleteDBInstance', 'rds:AddTagsToResource'],
          Resource: [globals, ...secondaryRegions.flatMap((r) => [rds('cluster', '*', r), rds('db', '*', r), rds('cluster-pg', '*', r), rds('pg', '*', r), rds('subgrp', '*', r), rds('secgrp', '*', r)])],
        });
        // GetMetricData has no resource-level permissions; it reads only AWS/RDS AuroraGlobalDBReplicationLag of the new secondaries.
        if (!usesDms(runbook)) statements.push({ Sid: 'CloudWatchGlobalReplicationLag', Effect: 'Allow', Action: ['cloudwatch:GetMetricData'], Resource: '*' });
        notes.push(`Aurora global database: the global cluster and its secondaries keep the source's names (read at run time), so they are scoped to global-cluster:* and to cluster:*/db:* in ${secondaryRegions.join(', ')}`);
      }
    }
    statements.push({
      Sid: 'RdsRenameAndSettings', Effect: 'Allow', Action: [p.instance ? 'rds:ModifyDBInstance' : 'rds:ModifyDBCluster'],
      Resource: [...databases, ...groups],
    });
    if (p.instance) {
      // The source's read replicas are found at run time (names unknown offline): the old ones are renamed away and
      // recreated from the new primary, in the source's Region and in each Region of target.regionKeys.
      const replicaRegions = [region, ...Object.keys(runbook.target.regionKeys).filter((r) => r !== region)];
      statements.push({
        Sid: 'RdsRecreateReadReplicas', Effect: 'Allow', Action: ['rds:CreateDBInstanceReadReplica', 'rds:ModifyDBInstance', 'rds:DeleteDBInstance', 'rds:AddTagsToResource'],
        Resource: replicaRegions.flatMap((r) => [rds('db', '*', r), rds('pg', '*', r), rds('og', '*', r), rds('subgrp', '*', r), rds('secgrp', '*', r)]),
      });
      // GetMetricData has no resource-level permissions; it reads only AWS/RDS ReplicaLag of the new replicas.
      statements.push({ Sid: 'CloudWatchReplicaLag', Effect: 'Allow', Action: ['cloudwatch:GetMetricData'], Resource: '*' });
      notes.push(`read replicas are found at run time: renaming the old ones, creating the new ones and deleting them on rollback are scoped to db:* in ${replicaRegions.join(', ')}`);
    }
    // The restore carries the source's Enhanced Monitoring role over: passing it needs iam:PassRole, to RDS monitoring only.
    statements.push({
      Sid: 'PassTheMonitoringRole', Effect: 'Allow', Action: ['iam:PassRole'], Resource: [`arn:aws:iam::${account}:role/*`],
      Condition: { StringEquals: { 'iam:PassedToService': 'monitoring.rds.amazonaws.com' } },
    });
    // Rollback and abandoned attempts remove only what the run created, never the source; `rollback --discard` also
    // its snapshots (and first lifts the deletion protection the new database copied: ModifyDB*, RdsRenameAndSettings).
    const deleteSnapshots = clone ? [] : [p.instance ? 'rds:DeleteDBSnapshot' : 'rds:DeleteDBClusterSnapshot'];
    statements.push({
      Sid: 'RdsDeleteWhatTheRunCreated', Effect: 'Allow', Action: p.instance ? ['rds:DeleteDBInstance', ...deleteSnapshots] : ['rds:DeleteDBInstance', 'rds:DeleteDBCluster', ...deleteSnapshots],
      Resource: [...(p.instance ? [rds('db', wild(n.targetCluster))] : [rds('cluster', wild(n.targetCluster)), rds('db', wild(n.targetWriter))]), ...(clone ? [] : snapshots)],
    });
  } else if (runbook.strategy === 'blue-green') {
    statements.push(...blueGreenStatements(runbook, p.instance, rds));
    notes.push(
      'blue-green: AWS names the green resources itself and switchover renames both sides, and IAM policies for Blue/Green '
      + 'deployments cannot use partial name patterns (AWS, "Authorizing access to Amazon RDS blue/green deployment operations"): '
      + 'the actions RDS performs on the green and renamed resources are scoped to the resource type (db:*, cluster:*) in the account and Region',
    );
  }
  if (copyTo.length > 0) {
    const kind = p.instance ? 'snapshot' : 'cluster-snapshot';
    statements.push({
      Sid: 'RdsCopySnapshotAcrossRegions', Effect: 'Allow', Action: [p.instance ? 'rds:CopyDBSnapshot' : 'rds:CopyDBClusterSnapshot', 'rds:AddTagsToResource', 'rds:DescribeDBSnapshots', 'rds:DescribeDBClusterSnapshots'],
      Resource: [rds(kind, wild(n.snapshot)), rds(kind, wild(n.snapshotCopy)), ...copyTo.map((c) => rds(kind, `${wild(n.snapshot)}*`, c.region)), ...copyTo.map((c) => rds(kind, `${src}-*`, c.region))],
    });
  }

  // KMS: exactly the old and the new key (and the destination keys of cross-Region copies).
  const keys = [keyResource(runbook.target.kmsKeyId, region, account)];
  if (opts.oldKeyArn !== undefined) keys.push(keyResource(opts.oldKeyArn, region, account));
  else notes.push('the old key is not known offline: it is matched through RDS only (kms:ViaService); pass --old-key ARN to name it exactly');
  for (const c of copyTo) keys.push(keyResource(c.kmsKeyId, c.region, account));
  // The keys of secondary Regions (cross-Region read replicas), checked by preflight and used by RDS there.
  const regionKeys = Object.entries(runbook.target.regionKeys);
  for (const [r, k] of regionKeys) keys.push(keyResource(k, r, account));
  const viaRds = (r: string) => `rds.${r}.amazonaws.com`;
  const regions = [...new Set([region, ...copyTo.map((c) => c.region), ...regionKeys.map(([r]) => r)])];
  const withCondition = (base: PolicyStatement['Condition'], extra?: PolicyStatement['Condition']): PolicyStatement['Condition'] | undefined => {
    const merged = { ...base };
    for (const [op, kv] of Object.entries(extra ?? {})) merged[op] = { ...merged[op], ...kv };
    return Object.keys(merged).length > 0 ? merged : undefined;
  };
  keys.forEach((k, i) => {
    const cond = k.condition;
    statements.push({ Sid: `KmsReadKey${i}`, Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:GetKeyPolicy', 'kms:ListGrants'], Resource: [k.resource], ...(cond ? { Condition: cond } : {}) });
    statements.push({
      Sid: `KmsGrantForRds${i}`, Effect: 'Allow', Action: ['kms:CreateGrant'], Resource: [k.resource],
      Condition: withCondition({ Bool: { 'kms:GrantIsForAWSResource': true } }, cond)!,
    });
    statements.push({
      Sid: `KmsUseThroughRds${i}`, Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'], Resource: [k.resource],
      Condition: withCondition({ StringEquals: { 'kms:ViaService': regions.map(viaRds) } }, cond)!,
    });
  });
  if (opts.oldKeyArn === undefined) {
    statements.push({
      Sid: 'KmsOldKeyThroughRds', Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:CreateGrant', 'kms:Decrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*'],
      Resource: [`arn:aws:kms:${region}:${account}:key/*`],
      Condition: { StringEquals: { 'kms:ViaService': viaRds(region) }, Bool: { 'kms:GrantIsForAWSResource': true } },
    });
  }
  statements.push({ Sid: 'KmsListAliases', Effect: 'Allow', Action: ['kms:ListAliases'], Resource: '*' });

  if (usesDms(runbook)) {
    const dms = (kind: string) => `arn:aws:dms:${region}:${account}:${kind}:*`;
    statements.push({
      Sid: 'DmsRead', Effect: 'Allow', Action: ['dms:DescribeReplicationInstances', 'dms:DescribeEndpoints', 'dms:DescribeReplicationTasks', 'dms:DescribeTableStatistics', 'dms:DescribeConnections'], Resource: '*',
    });
    // DMS ARNs end in random resource ids: scoped to the resource type in the account and Region.
    statements.push({
      Sid: 'DmsCdcTask', Effect: 'Allow',
      Action: [
        ...(runbook.dms?.replicationInstance.create ? ['dms:CreateReplicationInstance'] : []),
        'dms:CreateEndpoint', 'dms:DeleteEndpoint', 'dms:TestConnection', 'dms:CreateReplicationTask', 'dms:StartReplicationTask',
        'dms:StopReplicationTask', 'dms:DeleteReplicationTask', 'dms:AddTagsToResource',
      ],
      Resource: [dms('rep'), dms('endpoint'), dms('task'), ...(runbook.dms?.certificateArn ? [runbook.dms.certificateArn] : [])],
    });
    statements.push({ Sid: 'CloudWatchCdcLatency', Effect: 'Allow', Action: ['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics'], Resource: '*' });
  }
  const secrets = secretArns([runbook.source.password, runbook.dms?.password]);
  if (secrets.length > 0) {
    statements.push({ Sid: 'SecretsNamedInTheRunbook', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: secrets.map((s) => (/-[A-Za-z0-9]{6}$/.test(s) ? s : `${s}-??????`)) });
  }
  return { policy: { Version: '2012-10-17', Statement: statements }, strategy: runbook.strategy, engine: runbook.source.engine, notes };
}

function glob(pattern: string, value: string, ignoreCase: boolean): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, ignoreCase ? 'i' : '');
  return re.test(value);
}

/**
 * Whether some statement allows `action` on every one of `resources` (an empty list: the action with no resource,
 * i.e. a statement with `"Resource": "*"`). Conditions are not evaluated: they narrow further, never widen.
 */
export function isAllowed(policy: PolicyDocument, action: string, resources: string[]): boolean {
  const statements = policy.Statement.filter((s) => s.Action.some((a) => glob(a, action, true)));
  const wanted = resources.length > 0 ? resources : ['*'];
  return wanted.every((r) => statements.some((s) => s.Resource === '*' || (r !== '*' && s.Resource.some((p) => glob(p, r, false)))));
}

/** Checks the acceptance rules: no `Action: "*"`, no `Resource: "*"` on an action that changes something. */
export function policyProblems(policy: PolicyDocument): string[] {
  const problems: string[] = [];
  for (const s of policy.Statement) {
    if (s.Action.some((a) => a === '*' || a.endsWith(':*'))) problems.push(`${s.Sid}: an action wildcard for a whole service`);
    if (s.Resource === '*') for (const a of s.Action.filter((x) => !isReadOnlyAction(x))) problems.push(`${s.Sid}: ${a} on Resource "*"`);
  }
  return problems;
}

/** The IAM action and the resource ARNs a command sends (for the coverage test and the recorder). */
export function commandResources(service: string, name: string, input: Record<string, unknown>, region: string, account: string): string[] {
  const str = (k: string): string | undefined => (typeof input[k] === 'string' ? (input[k]) : undefined);
  const asArn = (kind: string, id: string | undefined): string[] => (id === undefined ? [] : id.startsWith('arn:') ? [id] : [`arn:aws:rds:${region}:${account}:${kind}:${id}`]);
  if (service === 'rds') {
    if (/^Describe/.test(name)) return [];
    if (/BlueGreenDeployment$/.test(name)) {
      // The deployment's identifier is AWS's (`bgd-...`); a new one is authorized on the deployment ARN it will get.
      const targets = Array.isArray(input.TargetResourceConfigurations) ? (input.TargetResourceConfigurations as { SourceArn?: string }[]).flatMap((t) => (t.SourceArn ? [t.SourceArn] : [])) : [];
      return [
        ...asArn('deployment', str('BlueGreenDeploymentIdentifier') ?? (name === 'CreateBlueGreenDeployment' ? `bgd-${str('BlueGreenDeploymentName') ?? ''}` : undefined)),
        ...(str('Source') ? [str('Source')!] : []), ...targets,
        ...asArn('pg', str('TargetDBParameterGroupName')), ...asArn('cluster-pg', str('TargetDBClusterParameterGroupName')),
      ];
    }
    const snapKind = /Cluster/.test(name) ? 'cluster-snapshot' : 'snapshot';
    return [
      ...asArn('cluster', str('DBClusterIdentifier')), ...asArn('cluster', str('NewDBClusterIdentifier')),
      ...asArn('db', str('DBInstanceIdentifier')), ...asArn('db', str('NewDBInstanceIdentifier')), ...asArn('db', str('SourceDBInstanceIdentifier')),
      ...asArn('cluster', str('SourceDBClusterIdentifier')), ...asArn('cluster', str('DbClusterIdentifier')),
      ...[str('GlobalClusterIdentifier'), str('NewGlobalClusterIdentifier')].flatMap((g) => (g === undefined ? [] : [`arn:aws:rds::${account}:global-cluster:${g}`])),
      ...asArn('cluster-snapshot', str('DBClusterSnapshotIdentifier')), ...asArn('snapshot', str('DBSnapshotIdentifier')),
      ...asArn(snapKind, str('SourceDBSnapshotIdentifier')), ...asArn(snapKind, str('TargetDBSnapshotIdentifier')),
      ...asArn(snapKind, str('SourceDBClusterSnapshotIdentifier')), ...asArn(snapKind, str('TargetDBClusterSnapshotIdentifier')),
      ...asArn(name === 'RestoreDBClusterFromSnapshot' ? 'cluster-snapshot' : 'snapshot', str('SnapshotIdentifier')),
      ...asArn('cluster-pg', str('DBClusterParameterGroupName')), ...asArn('pg', str('DBParameterGroupName')), ...asArn('cluster-endpoint', str('DBClusterEndpointIdentifier')),
      ...asArn('subgrp', str('DBSubnetGroupName')), ...asArn('og', str('OptionGroupName')), ...(str('ResourceName') ? [str('ResourceName')!] : []),
    ];
  }
  if (service === 'kms') {
    const id = str('KeyId');
    if (name === 'ListAliases' || id === undefined) return [];
    return [id.startsWith('arn:') && id.includes(':key/') ? id : `arn:aws:kms:${region}:${account}:key/${id.replace(/^arn:.*:alias\//, 'alias/')}`];
  }
  if (service === 'dms') {
    if (/^Describe/.test(name)) return [];
    const arns = ['ReplicationInstanceArn', 'EndpointArn', 'ReplicationTaskArn', 'SourceEndpointArn', 'TargetEndpointArn', 'CertificateArn'].flatMap((k) => (str(k) ? [str(k)!] : []));
    if (name === 'CreateReplicationInstance') arns.push(`arn:aws:dms:${region}:${account}:rep:${str('ReplicationInstanceIdentifier') ?? ''}`);
    if (name === 'CreateEndpoint') arns.push(`arn:aws:dms:${region}:${account}:endpoint:${str('EndpointIdentifier') ?? ''}`);
    if (name === 'CreateReplicationTask') arns.push(`arn:aws:dms:${region}:${account}:task:${str('ReplicationTaskIdentifier') ?? ''}`);
    return arns;
  }
  if (service === 'secretsmanager') return str('SecretId') ? [str('SecretId')!] : [];
  // A scalable target's ARN carries an id AWS assigns: authorized on the resource type in the account and Region.
  if (service === 'application-autoscaling') return /^Describe/.test(name) ? [] : [`arn:aws:application-autoscaling:${region}:${account}:scalable-target/*`];
  return [];
}
