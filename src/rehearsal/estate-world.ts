// Clouds of the key estate over a rehearsal registry: a second rehearsal Region (snapshot copies land there) for a
// live world, and a read-only opening of a finished rehearsal's registry (no servers started) so `rekey inventory
// --rehearsal RUN_ID` and `rekey attest` can look at what a `rekey rehearse --keep` left behind.
import { autoscalingSend } from './aws/autoscaling.js';
import { join } from 'node:path';
import type { Cloud } from '../aws/cloud.js';
import { rehearsalSchema, type Runbook } from '../runbook/schema.js';
import type { Core, Input } from './core.js';
import { estateKmsSend, estateRdsSend, otherRegionRdsSend } from './aws/estate.js';
import { awsFault, UnsupportedCommandError } from './aws/faults.js';
import { kmsSend } from './aws/kms.js';
import { cloudwatchSend } from './aws/cloudwatch.js';
import { ProxyRegistry } from './aws/proxy.js';
import { rdsSend } from './aws/rds.js';
import { Registry } from './registry.js';

type Send = (name: string, input: Input) => Promise<unknown>;

let requests = 0;

/** A `send` that takes SDK command objects, as the SDK clients' do, and answers with `$metadata`. */
function sdkSend(handler: Send, created?: (name: string, input: Input) => void): (command: unknown) => Promise<unknown> {
  return async (command: unknown) => {
    const cmd = command as { constructor?: { name?: string }; input?: unknown };
    const className = cmd.constructor?.name ?? '';
    const name = className.endsWith('Command') ? className.slice(0, -'Command'.length) : className;
    const output = await handler(name, (cmd.input ?? {}) as Input);
    created?.(name, (cmd.input ?? {}) as Input);
    requests += 1;
    return { $metadata: { httpStatusCode: 200, requestId: `rehearsal-estate-${requests}`, attempts: 1, totalRetryDelay: 0 }, ...structuredClone(output as object) };
  };
}

function refuse(service: 'dms' | 'cloudwatch' | 'autoscaling', region: string): Send {
  return (name) => Promise.reject(new UnsupportedCommandError(service, `${name} (in ${region}: the second rehearsal Region holds snapshot copies, read replicas and global database secondaries only)`));
}

/** The rehearsal cloud of another Region over the same registry: snapshot copies, its keys (declared with that region), Sign/Verify. */
export function rehearsalRegionCloud(core: Core, region: string): Cloud {
  const regional: Core = { ...core, region };
  return {
    provider: 'rehearsal',
    region,
    rds: {
      send: sdkSend(otherRegionRdsSend(core, region), (name, input) => {
        // Like the home Region's: every replica, secondary cluster and instance made here is recorded, so a resumed run
        // is seen never to make two.
        const id = name === 'CreateDBCluster' ? input.DBClusterIdentifier : input.DBInstanceIdentifier;
        if (!['CreateDBInstanceReadReplica', 'CreateDBCluster', 'CreateDBInstance'].includes(name) || typeof id !== 'string') return;
        (core.reg.state.created ??= []).push({ action: `${name} (${region})`, identifier: id, at: new Date().toISOString() });
        core.reg.save();
      }),
    },
    kms: { send: sdkSend(estateKmsSend(core, region, kmsSend(regional))) },
    dms: { send: sdkSend(refuse('dms', region)) },
    // The Region's RDS metrics (ReplicaLag of its read replicas): the shared datapoints, by instance identifier.
    cloudwatch: { send: sdkSend(cloudwatchSend(regional)) },
    autoscaling: { send: sdkSend(refuse('autoscaling', region)) },
  } as unknown as Cloud;
}

/** `cloud` (the home Region) able to reach the other rehearsal Regions. */
export function withRehearsalRegions(core: Core, cloud: Cloud): Cloud {
  const regions = new Map<string, Cloud>();
  const inRegion = (region: string): Cloud => {
    if (region === core.region) return cloud;
    let c = regions.get(region);
    if (!c) {
      c = rehearsalRegionCloud(core, region);
      c.inRegion = inRegion;
      regions.set(region, c);
    }
    return c;
  };
  cloud.inRegion = inRegion;
  return cloud;
}

/** A finished (or paused) rehearsal's registry, opened read-only for the estate commands: no server, no proxy is started. */
export interface RehearsalRegistryCloud {
  /** Home-Region cloud (inRegion reaches the others). */
  cloud: Cloud;
  /** Close (nothing runs; kept for symmetry with openRehearsal). */
  close(): Promise<void>;
}

/** Open the registry under `worldDir` (`.rekey/runs/<run id>/rehearsal`) of a rehearsal of `runbook`. */
export function openRehearsalRegistry(worldDir: string, runbook: Runbook): RehearsalRegistryCloud {
  const cloudDir = join(worldDir, 'cloud');
  const reg = Registry.load(cloudDir);
  if (!reg) throw new Error(`no rehearsal registry in ${cloudDir}: was the rehearsal run with this state dir?`);
  const rehearsal = runbook.rehearsal ?? rehearsalSchema.parse({});
  const noServer = (): never => {
    throw awsFault('rds', 'InvalidDBClusterStateFault', 'the rehearsal servers are not running: estate commands only read the registry');
  };
  const server = { host: '127.0.0.1', port: 0, stop: () => Promise.resolve() } as unknown as Core['servers']['source'];
  const core: Core = {
    reg, runbook, region: reg.state.region, account: reg.state.account, delays: rehearsal.delays, failures: rehearsal.failures,
    servers: { source: server, target: server }, proxies: new ProxyRegistry(), snapshotDir: join(cloudDir, 'snapshots'), log: () => undefined,
    now: () => Date.now(), passwords: new Map(), background: () => undefined, extraServers: new Map(), startExtraServer: () => Promise.resolve(noServer()),
  };
  const cloud = {
    provider: 'rehearsal' as const,
    region: core.region,
    rds: { send: sdkSend(estateRdsSend(core, rdsSend(core))) },
    kms: { send: sdkSend(estateKmsSend(core, core.region, kmsSend(core))) },
    dms: { send: sdkSend(refuse('dms', core.region)) },
    cloudwatch: { send: sdkSend(refuse('cloudwatch', core.region)) },
    autoscaling: { send: sdkSend(autoscalingSend(core)) },
  } as unknown as Cloud;
  return { cloud: withRehearsalRegions(core, cloud), close: () => core.proxies.close() };
}
