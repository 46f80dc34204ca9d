// The renderer contract: what the CLI's session drives and every renderer implements (the headless line and JSON
// renderers here, the Ink TUI in tui/), plus the end-of-run texts they share. Depends on the engine only, so the
// TUI and the CLI both import it without importing each other.
import type { ExecuteOutcome } from '../engine/executor.js';
import type { RunMachine, RunSnapshot } from '../engine/run-machine.js';
import type { Approver } from '../engine/types.js';

export interface Renderer {
  /** Starts rendering the machine; may supply its own approver (the TUI asks a person). */
  attach(machine: RunMachine, controller: AbortController): { approver?: Approver };
  notice(message: string): void;
  error(message: string): void;
  /** Final output; for --json the last line is the summary. */
  done(outcome: ExecuteOutcome, machine: RunMachine, exitCode: number, extra: Record<string, unknown>): Promise<void>;
}

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** The summary every renderer ends with (the `--json` last line). */
export function buildSummary(outcome: ExecuteOutcome, snap: RunSnapshot, exitCode: number, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'summary',
    ok: exitCode === 0,
    runId: snap.runId,
    status: outcome.status,
    exitCode,
    ...(outcome.status === 'failed' ? { error: outcome.error } : {}),
    ...(outcome.status === 'awaiting_approval' ? { gate: outcome.request.id, declined: outcome.declined } : {}),
    steps: snap.steps.map((s) => ({
      id: s.id,
      status: s.status.kind,
      ...(s.status.kind === 'succeeded' ? { durationMs: s.status.durationMs, resumed: s.status.resumed } : {}),
    })),
    ...extra,
  };
}

/** What to tell the user to do next, for a stopped run. */
export function nextStep(outcome: ExecuteOutcome, runId: string, stateDirArg: string): string | undefined {
  switch (outcome.status) {
    case 'succeeded':
      return undefined;
    case 'awaiting_approval':
      return `approve and continue: rekey resume ${runId}${stateDirArg} --approve ${outcome.request.id}`;
    case 'failed':
      if (outcome.error.kind === 'preflight') return 'fix the problems above and run again';
      if (!outcome.madeSafe) return `the source may still be fenced (see the error above): run rekey rollback ${runId}${stateDirArg} again, or the statements printed above`;
      return `the source is writable; continue with: rekey resume ${runId}${stateDirArg}   or undo with: rekey rollback ${runId}${stateDirArg}`;
    case 'interrupted':
      if (outcome.madeSafe === false) return `the source may still be fenced (see the error above): rekey rollback ${runId}${stateDirArg} lifts it; or continue with: rekey resume ${runId}${stateDirArg}`;
      return `continue with: rekey resume ${runId}${stateDirArg}`;
  }
}
