// The Cloud seam: steps talk to AWS only through SDK v3 clients' `send(command)`.
// Real mode hands in the SDK clients; rehearsal mode hands in src/rehearsal's implementations.
import type { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DatabaseMigrationServiceClient } from '@aws-sdk/client-database-migration-service';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { RDSClient } from '@aws-sdk/client-rds';

/** Only the `send` method of an SDK client: what steps and waiters need. */
export type Sender<C extends { send: unknown }> = Pick<C, 'send'>;

export interface Cloud {
  rds: Sender<RDSClient>;
  kms: Sender<KMSClient>;
  dms: Sender<DatabaseMigrationServiceClient>;
  cloudwatch: Sender<CloudWatchClient>;
  /** Application Auto Scaling: Aurora Auto Scaling of readers (`rds:cluster:ReadReplicaCount`). */
  autoscaling: Sender<ApplicationAutoScalingClient>;
  /** `aws` against real AWS, `rehearsal` against the local rehearsal cloud. */
  provider: 'aws' | 'rehearsal';
  region: string;
  /** The same provider in another Region (cross-Region snapshot copies, the estate's reads); absent: one Region only. */
  inRegion?(region: string): Cloud;
}
