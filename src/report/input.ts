// What a run report is written from (Markdown, HTML and the change board's sections all read it); types only, so
// the report's modules share it without importing each other in a circle.
import type { ExecuteOutcome } from '../engine/executor.js';
import type { ReplayState } from '../engine/journal.js';
import type { Runbook } from '../runbook/schema.js';

export interface ReportInput {
  runId: string;
  runbook: Runbook;
  /** How the last runner ended; absent when the report is rewritten by `rekey rollback`. */
  outcome?: ExecuteOutcome;
  state: ReplayState;
  summary: Record<string, unknown>;
  steps: { id: string; title: string }[];
}
