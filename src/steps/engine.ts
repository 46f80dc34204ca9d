// What differs between the engine families, in one place: the steps ask `profile(runbook)` instead of
// testing the engine name themselves.
import type { Runbook } from '../runbook/schema.js';

/** The database family a runbook's engine belongs to (which adapter, which replication mechanism). */
export type Family = 'postgres' | 'mysql';

export function family(rb: Runbook): Family {
  switch (rb.source.engine) {
    case 'aurora-postgresql':
    case 'postgres':
      return 'postgres';
    case 'aurora-mysql':
    case 'mysql':
    case 'mariadb':
      return 'mysql';
  }
}

/** A cluster parameter the source needs for DMS CDC. */
export interface ParameterRequirement {
  /** Parameter name in the DB cluster parameter group. */
  name: string;
  /** Check id in the preflight report. */
  checkId: string;
  /** Values that pass (upper-cased comparison). */
  accepted: string[];
  /** What an unset parameter means (the engine default), or undefined when unset fails. */
  defaultValue?: string;
  /** `error` fails preflight; `warning` (UNCERTAIN requirements) is reported only. */
  severity: 'error' | 'warning';
  /** Why it is needed, for the failure message. */
  why: string;
}

/** Per-family facts the steps need. */
export interface EngineProfile {
  family: Family;
  /** Whether the source is a single RDS DB instance (postgres, mysql, mariadb) rather than an Aurora cluster. */
  instance: boolean;
  /** RDS Engine of the Aurora cluster. */
  clusterEngine: string;
  /** RDS Engine the source must report (the cluster's or, for instances, the instance's). */
  rdsEngine: string;
  /** DMS CreateEndpoint EngineName. */
  dmsEngineName: string;
  /** Check id prefix of database-level findings (`pg`, `mysql`). */
  checkPrefix: string;
  /** Schema holding the sentinel table (and the DMS selection schema for MySQL). */
  sentinelSchema: string;
  /** What the CDC start position is called, for people. */
  positionName: string;
  /** Whether the flow uses a logical replication slot on the source. */
  usesSlot: boolean;
  /** How the fence stops a principal, for people. */
  fenceVerb: string;
  /** Parameter group requirements (the cluster's parameter group, or the instance's DB parameter group). */
  parameters: ParameterRequirement[];
}

/** Whether a runbook's source is a single RDS DB instance. */
export function isInstance(rb: Runbook): boolean {
  const e = rb.source.engine;
  return e === 'postgres' || e === 'mysql' || e === 'mariadb';
}

const POSTGRES_PARAMETERS: ParameterRequirement[] = [
  { name: 'rds.logical_replication', checkId: 'source.logical_replication', accepted: ['1'], severity: 'error', why: 'DMS CDC reads logical replication' },
];

// DMS MySQL source requirements (DMS user guide, MySQL source); Aurora MySQL leaves binlog OFF unless set.
const MYSQL_PARAMETERS: ParameterRequirement[] = [
  { name: 'binlog_format', checkId: 'source.binlog_format', accepted: ['ROW'], severity: 'error', why: 'DMS CDC needs row-based binary logging (unset means OFF on Aurora MySQL; changing it needs a reboot)' },
  { name: 'binlog_row_image', checkId: 'source.binlog_row_image', accepted: ['FULL'], defaultValue: 'FULL', severity: 'error', why: 'DMS CDC needs full row images' },
  {
    name: 'binlog_checksum',
    checkId: 'source.binlog_checksum',
    accepted: ['NONE'],
    defaultValue: 'CRC32',
    severity: 'warning',
    why: 'UNCERTAIN: the DMS MySQL source page asks for NONE; newer DMS versions may read CRC32 (check your DMS engine version)',
  },
];

export function profile(rb: Runbook): EngineProfile {
  const instance = isInstance(rb);
  if (family(rb) === 'postgres') {
    return {
      family: 'postgres',
      instance,
      clusterEngine: 'aurora-postgresql',
      rdsEngine: rb.source.engine,
      dmsEngineName: instance ? 'postgres' : 'aurora-postgresql',
      checkPrefix: 'pg',
      sentinelSchema: 'public',
      positionName: 'LSN',
      usesSlot: true,
      fenceVerb: 'NOLOGIN and terminate their sessions',
      parameters: POSTGRES_PARAMETERS,
    };
  }
  return {
    family: 'mysql',
    instance,
    clusterEngine: 'aurora-mysql',
    rdsEngine: rb.source.engine,
    // DMS calls Aurora MySQL `aurora`; RDS MySQL and MariaDB are `mysql` and `mariadb`.
    dmsEngineName: instance ? rb.source.engine : 'aurora',
    checkPrefix: 'mysql',
    sentinelSchema: rb.source.database,
    positionName: 'binlog position',
    usesSlot: false,
    fenceVerb: 'ACCOUNT LOCK and kill their sessions',
    parameters: MYSQL_PARAMETERS,
  };
}
