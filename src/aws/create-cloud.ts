// Real mode: the SDK v3 clients with the default credential chain, adaptive retries.
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DatabaseMigrationServiceClient } from '@aws-sdk/client-database-migration-service';
import { KMSClient } from '@aws-sdk/client-kms';
import { RDSClient } from '@aws-sdk/client-rds';
import type { Cloud } from './cloud.js';

/** How rekey reaches AWS. */
export interface AwsCloudOptions {
  /** AWS region of the source, key and DMS. */
  region: string;
  /** Named profile from the shared config files (otherwise the default chain: env, SSO, instance role...). */
  profile?: string;
}

/** The configuration every rekey SDK client gets: region, adaptive retries, the optional named profile. */
export function awsClientConfig(options: AwsCloudOptions): { region: string; retryMode: string; maxAttempts: number; profile?: string } {
  return {
    region: options.region,
    retryMode: 'adaptive',
    maxAttempts: 10,
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
  };
}

export function createAwsCloud(options: AwsCloudOptions): Cloud {
  const config = awsClientConfig(options);
  return {
    rds: new RDSClient(config),
    kms: new KMSClient(config),
    dms: new DatabaseMigrationServiceClient(config),
    cloudwatch: new CloudWatchClient(config),
    autoscaling: new ApplicationAutoScalingClient(config),
    provider: 'aws',
    region: options.region,
    inRegion: (region: string) => createAwsCloud({ ...options, region }),
  };
}
