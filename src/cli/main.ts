#!/usr/bin/env node
// rekey's command line: parses, loads the runbook once, calls one command function, renders what it returns,
// prints its errors once, exits with the contract's code.
import { Command, CommanderError, Option } from 'commander';
// Commands are imported when chosen, so `--help` and input errors never load the AWS SDK or database drivers.
import { RunLockedError } from '../engine/lock.js';
import { CliError, collect, headlessRenderer, loadRunbookOrExit } from './common.js';
import { processOutput } from '../present/renderer.js';

const EXIT_CODES = `
Exit codes:
  0    done
  1    internal error (or another runner holds the run)
  2    invalid input (each problem as file:line:col: message)
  3    stopped at an approval gate (resumable: rekey resume RUN_ID --approve GATE)
  4    preflight failed (nothing was changed); estate commands: a check failed (unreadable Region, key not safe to retire, invalid signature)
  5    a step failed and the run stopped safely (source writable; resume or rollback)
  130  interrupted (resumable)`;

function program(): Command {
  const cmd = new Command();
  cmd
    .name('rekey')
    .description('Move an Amazon RDS or Aurora database onto a new AWS KMS key with near-zero downtime.\nRehearse the whole cutover locally first: rekey rehearse')
    .version('0.1.0')
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODES)
    .exitOverride();

  const stateDir = (): Option => new Option('--state-dir <dir>', 'where runs are journaled').default('.rekey');

  cmd
    .command('rehearse')
    .description('rehearse a runbook against the local rehearsal cloud (real PostgreSQL/MariaDB, live writes), measuring downtime and lost writes')
    .argument('[runbook]', 'runbook file (default: the bundled rehearsal runbook for --engine)')
    .addOption(new Option('--engine <engine>', 'bundled demo to rehearse when no runbook is given').choices(['postgres', 'mysql']).default('postgres'))
    .option('--load <writesPerSecond>', 'live writes per second during the rehearsal (overrides the runbook)', parseNumber)
    .addOption(stateDir())
    .option('--json', 'print JSON lines; the last one is the summary')
    .option('--headless', 'line output even in a terminal (gates approve themselves)')
    .option('--keep', 'keep the rehearsal servers and data after the run')
    .action(async (runbook: string | undefined, o: { engine: 'postgres' | 'mysql'; load?: number; stateDir: string; json?: boolean; headless?: boolean; keep?: boolean }) => {
      const { rehearseCommand } = await import('./rehearse.js');
      process.exitCode = await rehearseCommand(runbook, o);
    });

  cmd
    .command('plan')
    .description('validate the runbook, run the read-only preflight and print every action the run would take')
    .argument('<runbook>', 'runbook file')
    .option('--json', 'print JSON lines; the last one is the summary')
    .option('--rehearsal', 'plan against the local rehearsal cloud instead of AWS')
    .option('--profile <name>', 'AWS profile')
    .addOption(stateDir())
    .action(async (runbook: string, o: { json?: boolean; rehearsal?: boolean; profile?: string; stateDir: string }) => {
      const loaded = loadRunbookOrExit(runbook); // invalid input is reported before the AWS SDK is even loaded
      const { planCommand, printPlan } = await import('./plan.js');
      const result = await planCommand(loaded, o, headlessRenderer(o), (m) => processOutput.err(`rekey: ${m}`));
      process.exitCode = printPlan(result, o, processOutput.out);
    });

  cmd
    .command('run')
    .description('run the runbook: interactive in a terminal, headless in CI (gates need --approve or --yes)')
    .argument('<runbook>', 'runbook file')
    .option('--headless', 'line output, no TUI')
    .option('--approve <gate>', 'approve this gate in advance (repeatable), e.g. --approve cutover', collect, [])
    .option('--yes', 'approve every gate')
    .option('--json', 'print JSON lines; the last one is the summary')
    .option('--rehearsal', 'run against the local rehearsal cloud instead of AWS')
    .option('--profile <name>', 'AWS profile')
    .addOption(stateDir())
    .action(async (runbook: string, o: { headless?: boolean; approve: string[]; yes?: boolean; json?: boolean; rehearsal?: boolean; profile?: string; stateDir: string }) => {
      // Against AWS every {env: NAME} secret must be set now, not discovered missing mid-run.
      const loaded = loadRunbookOrExit(runbook, o.rehearsal ? {} : { env: process.env });
      const { runCommand } = await import('./run.js');
      process.exitCode = await runCommand(runbook, loaded, o);
    });

  cmd
    .command('resume')
    .description('continue a stopped run: finished steps are skipped, the interrupted one finds what it created')
    .argument('<runId>', 'run id (see rekey status)')
    .option('--approve <gate>', 'approve this gate (repeatable)', collect, [])
    .option('--yes', 'approve every gate')
    .option('--headless', 'line output, no TUI')
    .option('--json', 'print JSON lines; the last one is the summary')
    .option('--profile <name>', 'AWS profile')
    .addOption(stateDir())
    .action(async (runId: string, o: { approve: string[]; yes?: boolean; headless?: boolean; json?: boolean; profile?: string; stateDir: string }) => {
      const { resumeCommand } = await import('./resume.js');
      process.exitCode = await resumeCommand(runId, o);
    });

  cmd
    .command('status')
    .description('list runs, or show one run: steps, gate, last failure, what to do next')
    .argument('[runId]', 'run id')
    .option('--json', 'print JSON')
    .addOption(stateDir())
    .action(async (runId: string | undefined, o: { json?: boolean; stateDir: string }) => {
      const { printStatus, statusCommand } = await import('./status.js');
      process.exitCode = printStatus(statusCommand(runId, o), o, (text) => process.stdout.write(text));
    });

  cmd
    .command('rollback')
    .description('undo a run: before the switch unfence and stop the task; after it rename back and unfence the old source')
    .argument('<runId>', 'run id')
    .option('--json', 'print JSON lines')
    .option('--discard', 'also delete what a rollback keeps by default (snapshots, the restored database, DMS resources); never the source')
    .option('--profile <name>', 'AWS profile')
    .addOption(stateDir())
    .action(async (runId: string, o: { json?: boolean; discard?: boolean; profile?: string; stateDir: string }) => {
      const { rollbackCommand } = await import('./rollback.js');
      process.exitCode = await rollbackCommand(runId, o);
    });

  cmd
    .command('inventory')
    .description('read-only: every database, snapshot, automated backup, Blue/Green deployment and global cluster, grouped by KMS key')
    .option('--key <key>', 'only what this key encrypts (id, alias or ARN)')
    .option('--region <region>', 'Region to read (repeatable; default AWS_REGION)', collect, [])
    .option('--retire-check', 'with --key: is the key safe to retire? every blocker and when it stops blocking (exit 0 only when safe)')
    .option('--rehearsal <runId>', 'read a kept rehearsal\'s cloud instead of AWS')
    .option('--json', 'print JSON; the last line is the result')
    .option('--profile <name>', 'AWS profile')
    .addOption(stateDir())
    .action(async (o: { key?: string; region: string[]; retireCheck?: boolean; rehearsal?: string; json?: boolean; profile?: string; stateDir: string }) => {
      const { inventoryCommand } = await import('./estate.js');
      process.exitCode = await inventoryCommand(o);
    });

  cmd
    .command('attest')
    .description('attest a run: each resource\'s key before and after (read back now), approvals, validation, runbook hash; or --verify a signed file')
    .argument('[runId]', 'run id')
    .option('--sign-key <key>', 'sign with this KMS asymmetric key (KMS Sign over the SHA-256 digest of the canonical JSON)')
    .option('--verify <file>', 'check a signed attestation with KMS Verify (exit 0 only when valid)')
    .option('--rehearsal <runId>', 'with --verify: verify against that rehearsal\'s KMS')
    .option('--json', 'print JSON; the last line is the result')
    .option('--profile <name>', 'AWS profile')
    .addOption(stateDir())
    .action(async (runId: string | undefined, o: { signKey?: string; verify?: string; rehearsal?: string; json?: boolean; profile?: string; stateDir: string }) => {
      const { attestCommand } = await import('./estate.js');
      process.exitCode = await attestCommand(runId, o);
    });

  cmd
    .command('copy-snapshot')
    .description('copy a DB or cluster snapshot to another Region under a key of that Region, wait for it, copy its tags')
    .argument('<snapshot>', 'snapshot identifier or ARN')
    .requiredOption('--to-region <region>', 'destination Region')
    .requiredOption('--kms-key <key>', 'key in the destination Region')
    .option('--region <region>', 'Region of the snapshot (default: from its ARN, or AWS_REGION)')
    .option('--target-id <id>', 'name of the copy (default: the snapshot\'s name)')
    .option('--attest-out <file>', 'write the copy\'s attestation (keys before/after read back, tags) to this file')
    .option('--sign-key <key>', 'sign that attestation with this KMS asymmetric key (check with rekey attest --verify)')
    .option('--rehearsal <runId>', 'copy within a kept rehearsal\'s cloud (into its second Region)')
    .option('--json', 'print JSON lines; the last one is the result')
    .option('--profile <name>', 'AWS profile')
    .addOption(stateDir())
    .action(async (snapshot: string, o: { toRegion: string; kmsKey: string; region?: string; targetId?: string; attestOut?: string; signKey?: string; rehearsal?: string; json?: boolean; profile?: string; stateDir: string }) => {
      const { copySnapshotCommand } = await import('./estate.js');
      process.exitCode = await copySnapshotCommand(snapshot, o);
    });

  cmd
    .command('iam-policy')
    .description('the least-privilege IAM policy for the runbook\'s strategy and engine')
    .argument('<runbook>', 'runbook file')
    .option('--old-key <arn>', 'ARN of the key the source uses today (scopes KMS to exactly it)')
    .option('--json', 'print the policy document as one JSON line')
    .action(async (runbook: string, o: { oldKey?: string; json?: boolean }) => {
      const { iamPolicyCommand } = await import('./estate.js');
      process.exitCode = iamPolicyCommand(runbook, o);
    });

  cmd
    .command('schema')
    .description('print the JSON Schema of runbooks')
    .action(async () => {
      const { schemaCommand } = await import('./schema.js');
      processOutput.out(JSON.stringify(schemaCommand(), null, 2));
      process.exitCode = 0;
    });
  return cmd;
}

function parseNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new CliError(`--load must be a number >= 0, got ${JSON.stringify(v)}`, 2);
  return n;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; usage errors are invalid input.
      return err.exitCode === 0 ? 0 : 2;
    }
    // Another runner holds the run: documented exit 1, not an internal error.
    if (err instanceof RunLockedError) {
      process.stderr.write(`rekey: ${err.message}\n`);
      return 1;
    }
    if (err instanceof CliError) {
      for (const line of err.lines) process.stderr.write(`${line}\n`);
      if (err.exitCode === 2 && process.env.GITHUB_ACTIONS === 'true') {
        // Each runbook problem as an annotation on its file, line and column.
        const { problemAnnotation } = await import('../present/github.js');
        for (const line of err.lines) {
          const a = problemAnnotation(line);
          if (a) process.stdout.write(`${a}\n`);
        }
      }
      process.stderr.write(`rekey: ${err.message}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    process.stderr.write(`rekey: internal error: ${e?.message ?? String(err)}\n`);
    if (process.env.REKEY_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return 1;
  }
}

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// `rekey status | head`: a reader that went away is not an error worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});
main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // Whatever handle is still open (a pool, a proxy), the command is over: leave once output is flushed.
    setTimeout(() => process.exit(code), 250).unref();
  },
  () => {
    process.exitCode = 1;
  },
);
