// strategy clone (Aurora only): the restore step of the native flow made from an Aurora clone instead of a snapshot:
// RestoreDBClusterToPointInTime of the source at its latest restorable time under the new key, RestoreType
// copy-on-write first. AWS's API reference lets this call take another KMS key but does not say whether a
// copy-on-write clone honours it; rekey reads AWS's answer: a refusal of copy-on-write (InvalidParameterCombination
// or InvalidParameterValue) is retried as full-copy, and the restore type used is the step's output and in the log.
// Then the writer, the key check and the slot copy are the restore step's (src/steps/restore.ts).
import { RestoreDBClusterToPointInTimeCommand } from '@aws-sdk/client-rds';
import type { RestoreDBClusterToPointInTimeCommandInput } from '@aws-sdk/client-rds';
import { awsErrorName, awsStepError, call } from '../aws/errors.js';
import { findCluster } from '../aws/rds.js';
import { crashPoint } from '../engine/crash.js';
import { StepError } from '../engine/types.js';
import type { Step } from '../engine/types.js';
import { mustFindCluster, newKeyArn, rekeyTags } from './common.js';
import type { Ctx } from './common.js';
import { profile } from './engine.js';
import { restore, restoreRequest } from './restore.js';
import type { RekeyServices } from './services.js';
import type { CloneRestoreOutput } from './outputs.js';

/** The clone request: the restore's explicit settings, pointed at the source cluster instead of a snapshot. */
export function cloneRequest(restoreInput: ReturnType<typeof restoreRequest>, sourceId: string, restoreType: 'copy-on-write' | 'full-copy'): RestoreDBClusterToPointInTimeCommandInput {
  const { SnapshotIdentifier: _snapshot, Engine: _engine, EngineVersion: _version, ...settings } = restoreInput;
  void _snapshot;
  void _engine;
  void _version;
  return { ...settings, SourceDBClusterIdentifier: sourceId, RestoreType: restoreType, UseLatestRestorableTime: true };
}

/** Error names with which AWS refuses a parameter combination (the copy-on-write + key question). */
const REFUSALS = new Set(['InvalidParameterCombination', 'InvalidParameterCombinationException', 'InvalidParameterValue', 'InvalidParameterValueException']);

/**
 * Asks for a copy-on-write clone; when AWS refuses that combination (with the new key), asks again as full-copy.
 * Returns what AWS accepted and, after a refusal, AWS's answer.
 */
export async function cloneWithFallback(
  ctx: Pick<Ctx, 'services' | 'report'>,
  base: ReturnType<typeof restoreRequest>,
  sourceId: string,
): Promise<{ restoreType: CloneRestoreOutput['restoreType']; fallbackReason?: string }> {
  const send = (input: RestoreDBClusterToPointInTimeCommandInput) => ctx.services.cloud.rds.send(new RestoreDBClusterToPointInTimeCommand(input));
  try {
    await send(cloneRequest(base, sourceId, 'copy-on-write'));
    return { restoreType: 'copy-on-write' };
  } catch (error) {
    if (!REFUSALS.has(awsErrorName(error))) throw awsStepError('rds:RestoreDBClusterToPointInTime', error);
    const fallbackReason = `${awsErrorName(error)}: ${error instanceof Error ? error.message : String(error)}`;
    ctx.report.log('warn', `AWS refused a copy-on-write clone under the new key (${fallbackReason}); cloning as full-copy (slower: the data is copied)`);
    await call('rds:RestoreDBClusterToPointInTime', () => send(cloneRequest(base, sourceId, 'full-copy')));
    return { restoreType: 'full-copy', fallbackReason };
  }
}

export const cloneRestore: Step<RekeyServices, CloneRestoreOutput> = {
  ...restore,
  title: 'Clone the source under the new key (Aurora)',
  describe(ctx) {
    const { names, runbook } = ctx.services;
    return [
      { kind: 'aws', target: 'rds:ListTagsForResource', summary: `tags of ${runbook.source.identifier}` },
      {
        kind: 'aws',
        target: 'rds:RestoreDBClusterToPointInTime',
        summary: `clone ${runbook.source.identifier} as ${names.targetCluster} under ${runbook.target.kmsKeyId}`,
        detail: 'RestoreType=copy-on-write UseLatestRestorableTime=true KmsKeyId; if AWS refuses copy-on-write with another key: RestoreType=full-copy (reported). DBSubnetGroupName, VpcSecurityGroupIds, DBClusterParameterGroupName, Port, DeletionProtection, EnableIAMDatabaseAuthentication, EnableCloudwatchLogsExports, CopyTagsToSnapshot, BackupRetentionPeriod, Tags copied from the source',
      },
      ...restore.describe(ctx).filter((a) => a.target !== 'rds:RestoreDBClusterFromSnapshot' && a.target !== 'rds:ListTagsForResource'),
    ];
  },
  async run(ctx) {
    const { cloud, names, runbook } = ctx.services;
    if (profile(runbook).instance) throw new StepError('strategy clone needs an Aurora cluster: RDS DB instances cannot be cloned', 'rejected');
    let restoreType: CloneRestoreOutput['restoreType'];
    let fallbackReason: string | undefined;
    const existing = await findCluster(cloud, names.targetCluster);
    if (existing) {
      ctx.report.log('info', `cluster ${names.targetCluster} already exists; not cloning again`);
      restoreType = existing.CloneGroupId ? 'copy-on-write' : 'full-copy';
    } else {
      const keyArn = await newKeyArn(ctx);
      const source = await mustFindCluster(ctx, runbook.source.identifier, 'source');
      const base = restoreRequest(source, names.targetCluster, '', keyArn, rekeyTags(ctx), profile(runbook).clusterEngine);
      ({ restoreType, fallbackReason } = await cloneWithFallback(ctx, base, runbook.source.identifier));
      crashPoint('clone:after-clone-call');
    }
    // The writer, the wait, the key check and the slot copy: the restore step's, which finds the cluster made above.
    const restored = await restore.run({ ...ctx, outputs: { ...ctx.outputs, snapshot: { snapshotId: `(clone of ${runbook.source.identifier})` } } });
    return { ...restored, restoreType, ...(fallbackReason ? { fallbackReason } : {}) };
  },
};
