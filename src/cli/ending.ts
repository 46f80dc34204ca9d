// The truthful ending of a run against AWS: after a failure (exit 5), an interrupt (130) or a rollback, probe the
// source's name for the writer principals the journal recorded, and say what is still fenced and how to undo it.
// (A rehearsal proves it by logging in as the application through the endpoint: see rehearse.ts and rollback.ts.)
import type { ExecuteOutcome } from '../engine/executor.js';
import { replay, type ReplayState } from '../engine/journal.js';
import type { Renderer } from '../present/renderer.js';
import type { RunStore } from '../state/run-store.js';
import { withSource } from '../steps/common.js';
import { family } from '../steps/engine.js';
import { fenceOfJournal, probeWritability, type WritabilityProbe } from '../steps/fence.js';
import { journaledOutputs, stepContext, type RunContext } from './run-context.js';

/** The probe through the source's name (the application's path) as the runbook's user, for the journal's writers. */
export function probeSource(run: RunContext, state: ReplayState): Promise<WritabilityProbe> {
  const ctx = stepContext(run, journaledOutputs(state));
  return withSource(ctx, (db) => probeWritability(db, fenceOfJournal(state), family(run.runbook)));
}

/** The summary fields of a probe that found the source unwritable, and the line that says so. */
export function unwritableFields(probe: WritabilityProbe, runId: string): { line: string; fields: Record<string, unknown> } {
  const fenced = probe.stillFenced.length > 0 ? `; still fenced by this run: ${probe.stillFenced.join(', ')}. To undo by hand, on the source as the master user: ${probe.undo.join(' ')}` : '';
  return {
    line: `the source refuses the application's writes (${probe.problems.join('; ')})${fenced}`,
    fields: { endpointWritable: false, stillFenced: probe.stillFenced, undo: probe.undo, next: `the source refuses writes: rekey rollback ${runId} lifts the fence (or run the undo statements)` },
  };
}

/**
 * runSession's `finish` for AWS runs: after a failure or an interrupt of a run that fenced (its journal holds a fence
 * record), probe the source and add endpointWritable (and, when it refuses writes, who is still fenced and the undo
 * statements) to the summary. The exit code stays the engine's (5 or 130: non-zero, ok:false either way).
 */
export function awsEnding(run: RunContext, store: RunStore, renderer: Renderer): (outcome: ExecuteOutcome) => Promise<{ summary?: Record<string, unknown> } | void> {
  return async (outcome) => {
    if (outcome.status !== 'failed' && outcome.status !== 'interrupted') return;
    const state = replay(await store.journal(run.runId).readAll(), run.flow.steps.map((s) => s.id));
    if (!fenceOfJournal(state)) return;
    let probe: WritabilityProbe;
    try {
      probe = await probeSource(run, state);
    } catch (error) {
      const message = run.redact(error instanceof Error ? error.message : String(error));
      renderer.error(`could not check that the source takes writes again: ${message}`);
      return { summary: { endpointProbeError: message } };
    }
    if (probe.writable) {
      renderer.notice(`the source takes writes: ${probe.checked.join(', ') || 'its writers'} can log in`);
      return { summary: { endpointWritable: true } };
    }
    const { line, fields } = unwritableFields(probe, run.runId);
    renderer.error(line);
    return { summary: fields };
  };
}
