// AWS service errors as the SDK raises them: the modelled exception class when the SDK has one (so
// `instanceof DBClusterNotFoundFault` works), else the service's base exception carrying the fault name.
import * as autoscaling from '@aws-sdk/client-application-auto-scaling';
import * as cloudwatch from '@aws-sdk/client-cloudwatch';
import * as dms from '@aws-sdk/client-database-migration-service';
import * as kms from '@aws-sdk/client-kms';
import * as rds from '@aws-sdk/client-rds';

/** Which fake service raises the fault. */
export type ServiceName = 'rds' | 'kms' | 'dms' | 'cloudwatch' | 'autoscaling';

type ExceptionClass = new (opts: Record<string, unknown>) => Error;

const modules: Record<ServiceName, Record<string, unknown>> = { rds, kms, dms, cloudwatch, autoscaling };
const bases: Record<ServiceName, ExceptionClass> = {
  rds: rds.RDSServiceException as unknown as ExceptionClass,
  kms: kms.KMSServiceException as unknown as ExceptionClass,
  dms: dms.DatabaseMigrationServiceServiceException as unknown as ExceptionClass,
  cloudwatch: cloudwatch.CloudWatchServiceException as unknown as ExceptionClass,
  autoscaling: autoscaling.ApplicationAutoScalingServiceException as unknown as ExceptionClass,
};

let requestCounter = 0;

/** An Error shaped like the SDK's ServiceException: `name` is the AWS fault name, with `$fault` and `$metadata`. */
export function awsFault(service: ServiceName, name: string, message: string, httpStatusCode = 400): Error {
  requestCounter += 1;
  const $metadata = { httpStatusCode, requestId: `rehearsal-${Date.now().toString(36)}-${requestCounter}`, attempts: 1, totalRetryDelay: 0 };
  const modelled = modules[service][name];
  const Base = bases[service];
  if (typeof modelled === 'function' && modelled.prototype instanceof Base) {
    return new (modelled as ExceptionClass)({ message, $metadata });
  }
  return new Base({ name, $fault: httpStatusCode >= 500 ? 'server' : 'client', message, $metadata });
}

/** Raised for a command the rehearsal cloud does not implement: loud, naming service and command. */
export class UnsupportedCommandError extends Error {
  override readonly name = 'RehearsalUnsupportedCommand';
  constructor(service: ServiceName, command: string) {
    super(`the rehearsal cloud does not implement ${service}:${command}; the flow must not send it (or it must be added to src/rehearsal)`);
  }
}
