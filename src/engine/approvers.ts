// Headless approvers: answer gates from --approve/--yes, or let the run stop at the gate (exit 3).
import type { ApprovalDecision, ApprovalRequest, Approver } from './types.js';

/** Approves the listed gates (or all with `yes`); answers nothing for the others. */
export function headlessApprover(opts: { approve: readonly string[]; yes: boolean; by: string; now?: () => Date }): Approver {
  const now = opts.now ?? (() => new Date());
  return {
    decide(request: ApprovalRequest): Promise<ApprovalDecision | undefined> {
      if (!opts.yes && !opts.approve.includes(request.id)) return Promise.resolve(undefined);
      return Promise.resolve({ id: request.id, decision: 'approved', by: opts.by, at: now().toISOString() });
    },
  };
}

/** Tries approvers in order; the first answer wins. */
export function firstAnswer(...approvers: Approver[]): Approver {
  return {
    async decide(request, signal) {
      for (const a of approvers) {
        const d = await a.decide(request, signal);
        if (d) return d;
      }
      return undefined;
    },
  };
}
