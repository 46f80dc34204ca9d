// Runbook format v1: the zod schema is the single source of the types, the validation and `rekey schema`.
import { z } from 'zod';

export const ENGINES = ['aurora-postgresql', 'aurora-mysql', 'postgres', 'mysql', 'mariadb'] as const;
export type EngineName = (typeof ENGINES)[number];

/** How the data moves onto the new key; each strategy is a flow (src/flows). */
export const STRATEGIES = ['dms-cdc', 'blue-green', 'native', 'clone', 'snapshot'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

/** RDS identifier rules: 1-63 chars, letter first, letters/digits/hyphens, no `--`, no trailing hyphen. */
export const rdsIdentifier = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'must be at most 63 characters (RDS identifier rule)')
  .regex(/^[A-Za-z]/, 'must start with a letter (RDS identifier rule)')
  .regex(/^[A-Za-z0-9-]*$/, 'may contain only letters, digits and hyphens (RDS identifier rule)')
  .refine((s) => !s.includes('--'), 'must not contain two consecutive hyphens (RDS identifier rule)')
  .refine((s) => !s.endsWith('-'), 'must not end with a hyphen (RDS identifier rule)');

const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MRK_ID = /^mrk-[0-9a-f]{32}$/;
const ALIAS_NAME = /^[A-Za-z0-9/_-]{1,250}$/;
const KEY_ARN = /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):(key\/(.+)|alias\/(.+))$/;

function isUsableAlias(name: string): boolean {
  return ALIAS_NAME.test(name) && (!name.startsWith('aws/') || name === 'aws/rds');
}

/** Parses a KMS key reference; returns undefined when it is none of id, mrk id, alias, key ARN, alias ARN. */
export function parseKmsKeyRef(
  value: string,
): { kind: 'id' | 'alias' | 'arn' | 'alias-arn'; region?: string; account?: string } | undefined {
  if (KEY_ID.test(value) || MRK_ID.test(value)) return { kind: 'id' };
  // AWS managed keys (alias/aws/*) cannot be chosen, except the RDS default key a source may use today.
  if (value.startsWith('alias/')) return isUsableAlias(value.slice('alias/'.length)) ? { kind: 'alias' } : undefined;
  const m = KEY_ARN.exec(value);
  if (!m) return undefined;
  const keyPart = m[5];
  if (keyPart !== undefined && !(KEY_ID.test(keyPart) || MRK_ID.test(keyPart))) return undefined;
  if (m[6] !== undefined && !isUsableAlias(m[6])) return undefined;
  return { kind: m[6] !== undefined ? 'alias-arn' : 'arn', region: m[2], account: m[3] };
}

export const kmsKeyRef = z
  .string()
  .refine(
    (v) => parseKmsKeyRef(v) !== undefined,
    'is not a KMS key id, multi-Region key id (mrk-...), alias (alias/name), key ARN or alias ARN',
  );

/**
 * An AWS Region name: a known geography (us, eu, ap, sa, ca, me, af, il, mx, cn; GovCloud and ISO partitions), a
 * compass direction and a number. Made-up names like zz-nowhere-9 are input errors, not a failure deep in a run.
 */
export const AWS_REGION = /^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-\d{1,2}$/;

/** A secret is referenced, never inlined. */
export const secretRef = z.union(
  [
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').describe('Name of an environment variable holding the secret.') }),
  z.strictObject({
    secretArn: z
      .string()
      .regex(/^arn:(aws|aws-cn|aws-us-gov):secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN')
      .describe('ARN of a Secrets Manager secret, read in the ARN\'s region: a plain string is used as is; from a JSON object (as RDS-managed secrets, with username/password) the field named by key is used.'),
    key: z
      .string()
      .min(1, 'must not be empty')
      .optional()
      .describe('Field of a JSON secret holding the value; default: password (the field of RDS-managed secrets). Must not be set for a plain-string secret.'),
  }),
  ],
  { error: 'must be {env: NAME} or {secretArn: arn:aws:secretsmanager:...}' },
);
export type SecretRef = z.infer<typeof secretRef>;

const seconds = (min: number, max: number, def: number, what: string) =>
  z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).default(def).describe(what);

export const sourceSchema = z
  .strictObject({
    engine: z.enum(ENGINES).describe('Engine family: aurora-postgresql, aurora-mysql (clusters) or postgres, mysql, mariadb (RDS instances).'),
    identifier: rdsIdentifier.describe('DB cluster identifier (Aurora) or DB instance identifier (RDS) of the database to move. Kept by the cutover rename.'),
    database: z.string().min(1).max(63).describe('Database (PostgreSQL) or schema (MySQL) to replicate.'),
    username: z.string().min(1).max(63).describe('User rekey connects as (needs rds_superuser/rds_replication on PostgreSQL, REPLICATION CLIENT/SLAVE on MySQL).'),
    password: secretRef.describe('Where the password lives: {env: NAME} or {secretArn: ...}. Never inline.'),
    host: z.string().optional().describe('Override of the endpoint host for direct connections (e.g. through a bastion tunnel).'),
    port: z.number().int().min(1).max(65535).optional().describe('Override of the endpoint port.'),
  })
  .describe('The database whose KMS key is being changed.');

export const targetSchema = z
  .strictObject({
    kmsKeyId: kmsKeyRef.describe('The new KMS key: key id, alias/name, key ARN or alias ARN. Must be a symmetric key in the runbook region.'),
    instanceClass: z.string().regex(/^db\.[a-z0-9]+\.[a-z0-9]+$/, 'must look like db.r6g.large').optional().describe('Writer instance class; default: the source writer class.'),
    tags: z.record(z.string(), z.string()).default({}).describe('Extra tags on everything rekey creates (rekey:run-id is always added).'),
    regionKeys: z
      .record(z.string().regex(AWS_REGION, 'must be an AWS region like eu-west-1'), kmsKeyRef)
      .default({})
      .describe(
        'The key of each secondary Region: {eu-west-1: alias/...}. A cross-Region read replica (RDS) or Aurora Global Database secondary is recreated in its Region under that Region\'s key (KMS keys are regional; a multi-Region key is allowed and reported as such). Preflight checks each key in its own Region, and a Region with a replica but no entry here is a preflight problem. Same-Region replicas need no entry: they inherit the new primary\'s key.',
      ),
  })
  .describe('What the new database gets.');

export const tableMappingSchema = z
  .strictObject({
    include: z.array(z.string().regex(/^[^.]+\.[^.]+$/, 'must be schema.table (% is a wildcard)')).min(1).default(['%.%']).describe('schema.table patterns to replicate (% wildcard).'),
    exclude: z.array(z.string().regex(/^[^.]+\.[^.]+$/, 'must be schema.table (% is a wildcard)')).default([]).describe('schema.table patterns to leave out.'),
  })
  .describe('DMS selection rules; the sentinel table is always added.');

export const dmsSchema = z
  .strictObject({
    replicationInstance: z
      .strictObject({
        identifier: rdsIdentifier.describe('DMS replication instance identifier.'),
        create: z.boolean().default(false).describe('Create it if it does not exist (and delete it at the end).'),
        class: z.string().regex(/^dms\.[a-z0-9]+\.[a-z0-9]+$/, 'must look like dms.r6i.large').default('dms.r6i.large').describe('Instance class when created.'),
        subnetGroup: z.string().optional().describe('Replication subnet group when created.'),
        securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group id (sg-...)')).default([]).describe('VPC security groups when created.'),
      })
      .describe('Where the CDC task runs.'),
    sslMode: z
      .enum(['require', 'verify-ca', 'verify-full'])
      .optional()
      .describe('Endpoint TLS mode; default verify-full. DMS does not support require for MySQL-family engines (aurora-mysql, mysql, mariadb).'),
    certificateArn: z
      .string()
      .regex(/^arn:(aws|aws-cn|aws-us-gov):dms:[a-z0-9-]+:\d{12}:cert:.+$/, 'must be a DMS certificate ARN (arn:aws:dms:REGION:ACCOUNT:cert:...)')
      .optional()
      .describe(
        'CA certificate imported into DMS (ImportCertificate). Required when sslMode is verify-ca or verify-full (the default), unless the runbook has a rehearsal section: the loader then accepts it missing, and the AWS preflight still needs it.',
      ),
    slotName: z.string().regex(/^[a-z0-9_]{1,63}$/, 'must be lower-case letters, digits and _ (PostgreSQL slot name rule)').optional().describe('Logical slot name on the source; default rekey_<runid>.'),
    allowSlotPositionFallback: z
      .boolean()
      .default(false)
      .describe(
        'RDS for PostgreSQL only: when rds_tools.logical_seed_lsn() is unavailable on the restored instance, start CDC at the slot\'s confirmed_flush_lsn instead. Changes between slot creation and the snapshot are replayed (the task then upserts on duplicate inserts and inserts on missing updates); the overlap is reported.',
      ),
    tables: tableMappingSchema.default({ include: ['%.%'], exclude: [] }).describe('DMS selection rules; the sentinel table is always added.'),
    username: z.string().min(1).optional().describe('User DMS connects as; default: source.username.'),
    password: secretRef.optional().describe('Password of the DMS user; default: source.password.'),
    secretsManagerAccessRoleArn: z
      .string()
      .regex(/^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role\/.+$/, 'must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/...)')
      .optional()
      .describe(
        'IAM role DMS assumes to read the password secret. With it, and a {secretArn} password, the DMS endpoints name the secret (SecretsManagerSecretId) instead of carrying the password, so a rotation does not break the task.',
      ),
  })
  .describe('AWS DMS settings for the CDC task.');

export const cutoverSchema = z
  .strictObject({
    maxLatencySeconds: seconds(0, 3600, 5, 'CDC latency (source + target) that counts as caught up.'),
    sustainSeconds: seconds(0, 86400, 60, 'How long latency must stay under the threshold before the cutover gate.'),
    catchUpTimeoutSeconds: seconds(10, 7 * 86400, 3600, 'Give up catching up after this long (the run stops safely, resumable).'),
    fenceTimeoutSeconds: seconds(1, 3600, 60, 'Longest the source may stay fenced; past it rekey unfences and stops.'),
    drainTimeoutSeconds: seconds(1, 3600, 30, 'How long to wait for the sentinel row on the target before unfencing and returning to catch-up.'),
    writerRoles: z.array(z.string().min(1)).optional().describe('Roles/accounts to fence; default: every login role except the DMS and rekey users.'),
    openSessions: z
      .enum(['refuse', 'warn'])
      .default('refuse')
      .describe(
        'Sessions the fence cannot close, because they log in as the user rekey (or DMS) connects as, from clients other than rekey and the DMS replication instance: refuse (default: unfence and stop before the drain; their writes after it would be lost) or warn (go on and report them; only for sessions known to be read-only, such as monitoring).',
      ),
    switch: z.enum(['rename', 'none']).default('rename').describe('rename: old -> <id>-old-<runid>, new -> <id>. none: leave both names; you repoint clients.'),
    renameInstances: z
      .boolean()
      .default(false)
      .describe(
        'Aurora, with switch: rename: also keep the instance names (instance endpoints). Right after the switch every old instance is renamed to <name>-old-<runid>, and once the custom endpoints are back each new instance takes the name of the source instance it stands for (the writer the old writer\'s, each reader its source reader\'s); rollback renames them back. Outside the fence, but AWS reboots an instance it renames: the new writer\'s rename briefly interrupts writes once more. Off (default): the new instances keep their rekey names (<new cluster>-w1, -r<n>). RDS DB instances: no effect (the switch renames the instance itself).',
      ),
    sentinelTable: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain table name').default('rekey_sentinel').describe('Small table rekey creates on the source to prove the last change arrived.'),
  })
  .describe('How the cutover is gated, fenced, drained and switched.');

export const validationSchema = z
  .strictObject({
    rowCounts: z.boolean().default(true).describe('Compare exact row counts of every replicated table.'),
    checksums: z
      .union([z.boolean(), z.array(z.string())], { error: 'must be true, false or a list of schema.table names' })
      .default(false).describe('Also compare content checksums: true for all tables, or a list of schema.table.'),
    concurrency: z.number().int().min(1).max(64).default(4).describe('Connections per side: tables (and, at the consistent point, primary-key ranges) compared at once on each side.'),
    cpuShare: z
      .number()
      .gt(0)
      .max(1)
      .default(0.5)
      .describe('Comparisons while writes go on (validate, the consistent point) open at most this share of the smaller writer\'s vCPUs as connections per side (at least 1), whatever concurrency says: more scans than cores only slow the application. 1 lets them use every vCPU. Fenced comparisons use concurrency as it is.'),
    chunkRows: z
      .number()
      .int()
      .min(1000)
      .max(100_000_000)
      .default(100_000)
      .describe('Consistent-point validation cuts each table with a primary key into ranges of about this many rows (a difference is reported per range, with sample keys); tables without a primary key are compared whole.'),
    final: z
      .enum(['none', 'counts'])
      .default('none')
      .describe(
        'What the cutover itself checks while writes are fenced. none (default): only what changed since the consistent-point validation (the sentinel, the DMS task\'s apply errors and table statistics), so the window does not grow with the data. counts: also exact row counts of every table inside the fence (the plan shows the predicted cost).',
      ),
  })
  .describe('Checks before the gate (full, at a consistent point outside the fence) and inside the cutover fence.');

/** Options of `strategy: blue-green` (an RDS Blue/Green deployment whose green side is built under the new key). */
export const blueGreenSchema = z
  .strictObject({
    switchoverTimeoutSeconds: seconds(30, 3600, 300, 'SwitchoverTimeout of SwitchoverBlueGreenDeployment (AWS accepts 30-3600 s, default 300); past it AWS reverts the switchover and nothing is switched.'),
    deleteDeploymentAfter: z.boolean().default(false).describe('Delete the Blue/Green deployment object after a verified switchover (never its resources: the old -old1 databases stay, on the old key).'),
    targetEngineVersion: z.string().min(1).optional().describe('TargetEngineVersion of the green side; unset (the default) keeps the source version: a key change only.'),
    targetDBParameterGroupName: z.string().min(1).optional().describe('TargetDBParameterGroupName of the green instances; unset keeps the source group.'),
    targetDBClusterParameterGroupName: z.string().min(1).optional().describe('Aurora: TargetDBClusterParameterGroupName of the green cluster; unset keeps the source group.'),
  })
  .describe('strategy blue-green: an RDS Blue/Green deployment with TargetResourceConfigurations naming the new key; AWS replicates, switches over and renames (the old side becomes <id>-old1).');

const hookSchema = z
  .strictObject({
  run: z.string().min(1).describe('Command run by /bin/sh; receives REKEY_RUN_ID, REKEY_SOURCE, REKEY_STEP in its environment.'),
  timeoutSeconds: seconds(1, 3600, 60, 'Kill the hook after this long (counts as failure).'),
  })
  .describe('A local command.');

export const hooksSchema = z
  .strictObject({
    beforeFence: z.array(hookSchema).default([]).describe('Run right before writes are fenced (pause workers, drain queues).'),
    afterSwitch: z.array(hookSchema).default([]).describe('Run after the switch is verified (flush connection pools, notify).'),
  })
  .describe('Local commands around the cutover.');

export const afterSchema = z
  .strictObject({
    copySnapshotTo: z
      .array(
        z.strictObject({
          region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region like us-west-2').describe('Destination Region of the copy.'),
          kmsKeyId: kmsKeyRef.describe('Key in the destination Region the copy is encrypted with (key ARN, alias or alias ARN of that Region).'),
        }),
      )
      .default([])
      .describe('After the switch: copy the run\'s snapshot to these Regions under their keys (CopyDBSnapshot / CopyDBClusterSnapshot in the destination Region, the source by ARN). RDS instances copy the snapshot already re-encrypted under the new key; Aurora the run\'s cluster snapshot.'),
  })
  .describe('What happens after the switch is verified.');

export const rehearsalKeySchema = z.strictObject({
  id: kmsKeyRef.describe('Key id, alias or ARN as the runbook names it.'),
  state: z
    .enum(['Enabled', 'Disabled', 'PendingDeletion', 'PendingImport', 'Unavailable'])
    .default('Enabled')
    .describe('KMS key state; anything but Enabled makes preflight fail, as it would against AWS.'),
  keySpec: z
    .enum(['SYMMETRIC_DEFAULT', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'HMAC_256'])
    .default('SYMMETRIC_DEFAULT')
    .describe('KMS key spec; RDS accepts only SYMMETRIC_DEFAULT.'),
  region: z.string().optional().describe('Region the key lives in; default: the runbook region.'),
  grantsRds: z.boolean().default(true).describe('Whether the key policy lets RDS use it (kms:CreateGrant via RDS).'),
}).describe('A KMS key of the rehearsal cloud.');

export const rehearsalSchema = z
  .strictObject({
    source: z
      .strictObject({
        url: z
          .string()
          .optional()
          .describe(
            'Adopt an existing local database as the source: postgres://user@host:port/db (PostgreSQL engines) or mysql://user@host:port/db (MySQL engines), the user a superuser. No password in the URL; use urlPasswordEnv. The rehearsal adds an `app` login and a `rehearsal_writes` table for its write load; source.username must exist there; set cutover.writerRoles (e.g. [app]) so the fence touches only your application roles on a shared server. The rehearsal\'s own servers ignore the runbook\'s passwords, but this server and the copies made of it keep its accounts: source.username logs in with source.password (leave its variable unset for an account without one), the DMS user with dms.password.',
          ),
        urlPasswordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').optional().describe('Environment variable holding the password of source.url\'s user (only that user: source.username logs in with source.password). An `app` login the rehearsal creates on PostgreSQL gets this password too.'),
        seedRows: z.number().int().min(0).max(50_000_000).default(300_000).describe('Rows seeded into the demo database when no url is given.'),
        readers: z
          .number().int().min(0).max(15).default(0)
          .describe('Aurora: reader instances of the source cluster (`<identifier>-reader-<n>`), each a read-only route to the writer server (no server of its own). The rehearsal then reads through the reader endpoint (and custom endpoints) for the whole run and reports reads that failed or reached the old cluster after the switch.'),
        customEndpoints: z
          .array(
            z.strictObject({
              name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a DB cluster endpoint identifier: lower-case letters, digits and hyphens, starting with a letter').describe('DBClusterEndpointIdentifier.'),
              type: z.enum(['READER', 'ANY']).default('READER').describe('CustomEndpointType.'),
              staticMembers: z.array(z.string()).default([]).describe('Instances of the source cluster in the endpoint (e.g. orders-db-reader-1); empty: every eligible one, but excludedMembers.'),
              excludedMembers: z.array(z.string()).default([]).describe('Instances left out when staticMembers is empty.'),
            }),
          )
          .default([])
          .describe('Aurora: custom endpoints of the source cluster (DescribeDBClusterEndpoints type CUSTOM); each is a proxy to the cluster\'s server.'),
        autoScaling: z
          .strictObject({
            minCapacity: z.number().int().min(0).max(15).default(1).describe('MinCapacity of the scalable target.'),
            maxCapacity: z.number().int().min(1).max(15).default(4).describe('MaxCapacity of the scalable target.'),
            targetCpu: z.number().min(10).max(90).default(60).describe('Target of a target-tracking policy on RDSReaderAverageCPUUtilization.'),
          })
          .optional()
          .describe('Aurora: Aurora Auto Scaling registered for the source cluster (Application Auto Scaling on rds:cluster:ReadReplicaCount); it is stored and listed, readers are not added by load.'),
        replicas: z
          .array(
            z.strictObject({
              region: z.string().regex(AWS_REGION, 'must be an AWS region like eu-west-1').optional().describe('Region of the replica; default: the runbook region (a same-Region replica). Another Region is a cross-Region replica, encrypted with a key of that Region (declare it in rehearsal.keys with this region).'),
              identifier: rdsIdentifier.optional().describe('Its DB instance identifier; default <source>-replica-N. Identifiers are unique across the rehearsal\'s Regions.'),
            }),
          )
          .default([])
          .describe('RDS instance engines: read replicas the source has at the start (read-only routes to the primary; MySQL/MariaDB same-Region replicas are real replica servers). After the switch rekey recreates them from the new primary under the right keys.'),
        globalSecondaries: z
          .array(
            z.strictObject({
              region: z.string().regex(AWS_REGION, 'must be an AWS region like eu-west-1').describe('Region of the secondary cluster (not the runbook region: a global database has one cluster per Region). It is encrypted with a key of that Region; name the key rekey should use there in target.regionKeys (and declare it in rehearsal.keys with this region).'),
              identifier: rdsIdentifier.optional().describe('Its DB cluster identifier; default <source>-<region>. Identifiers are unique across the rehearsal\'s Regions.'),
              instances: z.number().int().min(0).max(16).default(1).describe('Its instances (`<identifier>-instance-<n>`, db.r6g.large): the new secondary gets as many of the same class.'),
            }),
          )
          .default([])
          .describe('Aurora: the source is the primary of a global database `<source>-global` with a secondary cluster in each Region listed (a read-only route to the source\'s server in the second rehearsal Region, under that Region\'s current key). After the switch rekey makes the new cluster the primary of a global database of the same name and adds each Region again under its key from target.regionKeys.'),
      })
      .default({ seedRows: 300_000, readers: 0, customEndpoints: [], replicas: [], globalSecondaries: [] })
      .describe('Where the rehearsal source database comes from.'),
    load: z
      .strictObject({
        writesPerSecond: z.number().min(0).max(10_000).default(100).describe('Live writes per second through the source endpoint during the whole rehearsal.'),
      })
      .default({ writesPerSecond: 100 })
      .describe('The live write load that measures the write-unavailable window.'),
    delays: z
      .strictObject({
        snapshotSeconds: z.number().min(0).max(3600).default(1).describe('How long a snapshot takes to become available.'),
        restoreSeconds: z.number().min(0).max(3600).default(1).describe('How long a restore takes to become available.'),
        renameSeconds: z.number().min(0).max(3600).default(1).describe('How long a rename keeps the endpoint unreachable.'),
        availableSeconds: z.number().min(0).max(3600).default(0).describe('Extra wait before a modified resource reports available again.'),
      })
      .default({ snapshotSeconds: 1, restoreSeconds: 1, renameSeconds: 1, availableSeconds: 0 })
      .describe('Simulated AWS timings.'),
    keys: z.array(rehearsalKeySchema).default([]).describe('KMS keys that exist in the rehearsal cloud; the source key and target.kmsKeyId are created Enabled if not listed.'),
    failures: z
      .strictObject({
        dmsTaskFailsAfterSeconds: z.number().min(0).optional().describe('Make the CDC task fail this long after it starts.'),
        drainNeverArrives: z.boolean().default(false).describe('Hold back the sentinel row so the drain times out.'),
        corruptTargetRow: z
          .boolean()
          .default(false)
          .describe('Test-only: once the target is restored, change one row of the largest table there (outside replication), so the consistent-point validation must find it (with validation.checksums: a changed value keeps the row counts) and refuse the cutover, naming the table and key range.'),
        blueGreenRefusesTargetKey: z
          .boolean()
          .default(false)
          .describe('CreateBlueGreenDeployment refuses TargetResourceConfigurations (as where AWS does not support a target key for the engine, version or Region), to practise the fallback to strategy dms-cdc.'),
        blueGreenSwitchoverStalls: z
          .boolean()
          .default(false)
          .describe('During a Blue/Green switchover green never catches up (as with replica lag or a long-running write on blue), so AWS\'s SwitchoverTimeout passes and the switchover is reverted.'),
        seedFunctionMissing: z
          .boolean()
          .default(false)
          .describe(
            'RDS for PostgreSQL: the restored instance has no rds_tools.logical_seed_lsn() (as on engine versions without it), to practise the stop it causes or, with dms.allowSlotPositionFallback, the replayed overlap.',
          ),
      })
      .default({ drainNeverArrives: false, seedFunctionMissing: false, corruptTargetRow: false, blueGreenRefusesTargetKey: false, blueGreenSwitchoverStalls: false })
      .describe('Faults to inject, to practise the unhappy paths.'),
  })
  .describe('The local rehearsal cloud (used by `rekey rehearse`; ignored against AWS).');

export const runbookSchema = z
  .strictObject({
    version: z.literal(1, { error: 'must be 1 (the only runbook format version)' }).describe('Runbook format version.'),
    name: z.string().min(1).max(100).describe('A name for people and reports.'),
    region: z.string().regex(AWS_REGION, 'must be an AWS region like us-east-1').describe('AWS region of the source, the key and DMS.'),
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional().describe('Expected AWS account; ARNs must agree with it.'),
    strategy: z
      .enum(STRATEGIES)
      .default('dms-cdc')
      .describe(
        'How the data moves onto the new key: dms-cdc (snapshot, restore under the new key, AWS DMS CDC, fenced rename), blue-green (an RDS Blue/Green deployment with a target key), native (the engine\'s own logical/binlog replication instead of DMS), clone (Aurora: a clone under the new key, then CDC), snapshot (offline: writes fenced for the whole copy).',
      ),
    cdc: z
      .enum(['native', 'dms'])
      .default('native')
      .describe('strategy clone only: how changes made after the clone reach it: native (the engine\'s own replication) or dms (an AWS DMS task; needs the dms section).'),
    source: sourceSchema,
    target: targetSchema,
    dms: dmsSchema.optional().describe('AWS DMS settings: required for strategy dms-cdc; not used by native and snapshot.'),
    cutover: cutoverSchema.default(cutoverSchema.parse({})),
    validation: validationSchema.default(validationSchema.parse({})),
    hooks: hooksSchema.default({ beforeFence: [], afterSwitch: [] }),
    blueGreen: blueGreenSchema.default(blueGreenSchema.parse({})),
    after: afterSchema.optional(),
    rehearsal: rehearsalSchema.optional(),
  })
  .superRefine((rb, issue) => {
    // Runs even when other keys are wrong (`when`), so every problem is reported at once: rb may be partial here.
    if (typeof rb.strategy === 'string' && usesDms(rb) && rb.dms === undefined) {
      issue.addIssue({
        code: 'custom',
        path: ['dms'],
        message: `is required for strategy ${rb.strategy} (its CDC runs as an AWS DMS task): add a dms section with replicationInstance.identifier, or choose strategy native, which needs none`,
      });
    }
  }, { when: (payload) => typeof payload.value === 'object' && payload.value !== null })
  .describe('A rekey runbook: move one RDS/Aurora database onto a new KMS key.');

export type Runbook = z.infer<typeof runbookSchema>;

/** Whether a strategy moves changes with an AWS DMS task (and so needs the runbook's dms section). */
export function usesDms(rb: { strategy: StrategyName; cdc?: 'native' | 'dms' }): boolean {
  return rb.strategy === 'dms-cdc' || (rb.strategy === 'clone' && rb.cdc === 'dms');
}

/** The tables replicated and validated: dms.tables when given, else every table. */
export function tableSelection(rb: Runbook): { include: string[]; exclude: string[] } {
  return rb.dms?.tables ?? { include: ['%.%'], exclude: [] };
}
export type RunbookInput = z.input<typeof runbookSchema>;
export type BlueGreenSettings = z.infer<typeof blueGreenSchema>;
export type RehearsalSettings = z.infer<typeof rehearsalSchema>;
