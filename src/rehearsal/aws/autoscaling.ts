// Fake Application Auto Scaling for Aurora readers (ServiceNamespace rds, `rds:cluster:ReadReplicaCount`): scalable
// targets and scaling policies are registered by ResourceId `cluster:<identifier>`, a name, as AWS keeps them; the
// rehearsal stores and lists them (it does not add or remove readers by load).
import type { Core, Input } from '../core.js';
import { str } from '../core.js';
import { awsFault, UnsupportedCommandError } from './faults.js';

const DIMENSION = 'rds:cluster:ReadReplicaCount';

function state(core: Core): NonNullable<Core['reg']['state']['autoScaling']> {
  return (core.reg.state.autoScaling ??= { targets: {}, policies: {} });
}

function checkRequest(core: Core, input: Input): { resourceId: string; dimension: string } {
  if (str(input, 'ServiceNamespace') !== 'rds') throw awsFault('autoscaling', 'ValidationException', `the rehearsal cloud models ServiceNamespace rds only, not ${str(input, 'ServiceNamespace') ?? '(none)'}`);
  const resourceId = str(input, 'ResourceId') ?? '';
  const dimension = str(input, 'ScalableDimension') ?? '';
  if (dimension !== DIMENSION) throw awsFault('autoscaling', 'ValidationException', `Unsupported scalable dimension ${dimension} for rds (expected ${DIMENSION})`);
  const cluster = /^cluster:(.+)$/.exec(resourceId)?.[1];
  const record = cluster !== undefined ? core.reg.state.clusters[cluster] : undefined;
  if (!record || record.instance) throw awsFault('autoscaling', 'ValidationException', `DB cluster ${cluster ?? resourceId} not found (ResourceId must be cluster:<identifier> of an Aurora cluster)`);
  return { resourceId, dimension };
}

/** The fake Application Auto Scaling `send`. */
export function autoscalingSend(core: Core): (name: string, input: Input) => Promise<unknown> {
  return (name, input) => {
    try {
      return Promise.resolve(handle(core, name, input));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };
}

function handle(core: Core, name: string, input: Input): unknown {
  const st = state(core);
  switch (name) {
    case 'DescribeScalableTargets': {
      const ids = Array.isArray(input.ResourceIds) ? (input.ResourceIds as string[]) : undefined;
      const dimension = str(input, 'ScalableDimension');
      const targets = Object.values(st.targets)
        .filter((t) => (ids === undefined || ids.includes(t.resourceId)) && (dimension === undefined || t.dimension === dimension))
        .map((t) => ({ ServiceNamespace: 'rds', ResourceId: t.resourceId, ScalableDimension: t.dimension, MinCapacity: t.min, MaxCapacity: t.max, RoleARN: `arn:aws:iam::${core.account}:role/aws-service-role/rds.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_RDSCluster`, CreationTime: new Date(), ...(t.suspended ? { SuspendedState: t.suspended } : {}) }));
      return { ScalableTargets: targets };
    }
    case 'DescribeScalingPolicies': {
      const resourceId = str(input, 'ResourceId');
      const policies = Object.values(st.policies)
        .filter((p) => resourceId === undefined || p.resourceId === resourceId)
        .map((p) => ({
          PolicyName: p.name, PolicyARN: `arn:aws:autoscaling:${core.region}:${core.account}:scalingPolicy:rehearsal:resource/rds/${p.resourceId}:policyName/${p.name}`, ServiceNamespace: 'rds', ResourceId: p.resourceId,
          ScalableDimension: p.dimension, PolicyType: p.type, CreationTime: new Date(),
          ...(p.type === 'StepScaling' ? { StepScalingPolicyConfiguration: p.configuration } : { TargetTrackingScalingPolicyConfiguration: p.configuration }),
        }));
      return { ScalingPolicies: policies };
    }
    case 'RegisterScalableTarget': {
      const { resourceId, dimension } = checkRequest(core, input);
      const key = `${resourceId} ${dimension}`;
      const before = st.targets[key];
      const min = typeof input.MinCapacity === 'number' ? input.MinCapacity : before?.min;
      const max = typeof input.MaxCapacity === 'number' ? input.MaxCapacity : before?.max;
      if (min === undefined || max === undefined) throw awsFault('autoscaling', 'ValidationException', 'MinCapacity and MaxCapacity are required when registering a new scalable target');
      if (min > max || max > 15) throw awsFault('autoscaling', 'ValidationException', `invalid capacity ${min}-${max} (Aurora: at most 15 replicas)`);
      const suspended = typeof input.SuspendedState === 'object' && input.SuspendedState !== null ? (input.SuspendedState as Record<string, boolean>) : before?.suspended;
      st.targets[key] = { resourceId, dimension, min, max, ...(suspended ? { suspended } : {}) };
      core.reg.save();
      return { ScalableTargetARN: `arn:aws:application-autoscaling:${core.region}:${core.account}:scalable-target/rehearsal-${resourceId.replace(/[^a-z0-9]/gi, '')}` };
    }
    case 'PutScalingPolicy': {
      const { resourceId, dimension } = checkRequest(core, input);
      if (!st.targets[`${resourceId} ${dimension}`]) throw awsFault('autoscaling', 'ObjectNotFoundException', `No scalable target registered for service namespace: rds, resource ID: ${resourceId}, scalable dimension: ${dimension}`);
      const policyName = str(input, 'PolicyName') ?? '';
      const type = str(input, 'PolicyType') ?? 'TargetTrackingScaling';
      const configuration = (type === 'StepScaling' ? input.StepScalingPolicyConfiguration : input.TargetTrackingScalingPolicyConfiguration) as Record<string, unknown> | undefined;
      if (!policyName || !configuration) throw awsFault('autoscaling', 'ValidationException', 'PolicyName and the policy configuration of its PolicyType are required');
      st.policies[`${resourceId} ${dimension} ${policyName}`] = { name: policyName, resourceId, dimension, type, configuration: structuredClone(configuration) };
      core.reg.save();
      return { PolicyARN: `arn:aws:autoscaling:${core.region}:${core.account}:scalingPolicy:rehearsal:resource/rds/${resourceId}:policyName/${policyName}`, Alarms: [] };
    }
    default:
      throw new UnsupportedCommandError('autoscaling', name);
  }
}
