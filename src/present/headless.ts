// Headless renderers: human lines with timestamps and durations, or JSON lines ending with a summary.
// With GITHUB_ACTIONS=true, failures and gates also become workflow annotations.
import type { ExecuteOutcome } from '../engine/executor.js';
import type { RunMachine } from '../engine/run-machine.js';
import type { Approver, RunEvent } from '../engine/types.js';
import { buildSummary, nextStep, processOutput, type Output, type Renderer } from './renderer.js';
import { watchWindow } from './cutover-window.js';
import { startHeadlessTicker } from './headless-ticker.js';
import { summaryLines } from './summary-text.js';

function fmtDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

function annotation(kind: 'error' | 'notice' | 'warning', title: string, message: string): string {
  const esc = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  return `::${kind} title=${esc(title)}::${esc(message)}`;
}

export class LineRenderer implements Renderer {
  private lastProgress = new Map<string, { at: number; percent?: number }>();
  constructor(
    private readonly output: Output = processOutput,
    private readonly opts: { stateDirArg?: string; github?: boolean; verbose?: boolean; readOnly?: boolean } = {},
  ) {}

  private stopTicker: (() => void) | undefined;

  attach(machine: RunMachine): { approver?: Approver } {
    machine.subscribe((e) => {
      if (e) this.onEvent(e);
    });
    // The cutover window while writes are blocked, and a status line every 30 s (a read-only plan needs neither).
    if (this.opts.readOnly !== true) this.stopTicker = startHeadlessTicker(machine, (text) => this.line(new Date().toISOString(), text));
    return {};
  }

  private line(at: string, text: string): void {
    this.output.out(`${at.slice(11, 23)}  ${text}`);
  }

  private onEvent(e: RunEvent): void {
    switch (e.type) {
      case 'run':
        // A read-only command (plan) starts no run worth naming.
        if (e.status === 'running' && this.opts.readOnly !== true) this.line(e.at, `run ${e.runId} started`);
        break;
      case 'step': {
        const s = e.status;
        switch (s.kind) {
          case 'running':
            this.line(e.at, `▶ ${e.stepId}  ${e.title}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}`);
            break;
          case 'succeeded':
            this.line(e.at, `✔ ${e.stepId}  ${s.resumed ? 'done in an earlier run' : fmtDuration(s.durationMs)}`);
            break;
          case 'failed':
            this.line(e.at, `✖ ${e.stepId}  ${s.error.message}`);
            for (const d of s.error.details ?? []) this.output.out(`              - ${d}`);
            if (this.opts.github) this.output.out(annotation('error', `rekey ${e.stepId}`, [s.error.message, ...(s.error.details ?? [])].join('\n')));
            break;
          case 'awaiting_approval':
            this.line(e.at, `? ${e.stepId}  gate "${s.request.id}": ${s.request.summary}`);
            for (const [k, v] of Object.entries(s.request.facts)) this.output.out(`              ${k}: ${String(v)}`);
            this.output.out('              then, in order:');
            s.request.actions.forEach((a, i) => this.output.out(`              ${i + 1}. [${a.target}] ${a.summary}`));
            {
              const resume = `rekey resume ${e.runId}${this.opts.stateDirArg ?? ''} --approve ${s.request.id}`;
              this.output.out(`              run ${e.runId} waits for approval of gate "${s.request.id}"; unless approved in advance, approve with: ${resume}`);
              if (this.opts.github) this.output.out(annotation('notice', `rekey gate ${s.request.id} (run ${e.runId})`, `${s.request.summary}\nrun ${e.runId}; approve with: ${resume}`));
            }
            break;
          case 'rolled_back':
            this.line(e.at, `↶ ${e.stepId}  undone`);
            break;
          case 'skipped':
            this.line(e.at, `- ${e.stepId}  skipped: ${s.reason}`);
            break;
          case 'pending':
            break;
        }
        break;
      }
      case 'progress': {
        // Throttle: a line when percent moved by 10 or every 5 seconds.
        const prev = this.lastProgress.get(e.stepId);
        const t = Date.parse(e.at);
        const moved = e.percent !== undefined && (prev?.percent === undefined || e.percent - prev.percent >= 10 || e.percent === 100);
        if (!prev || moved || t - prev.at >= 5000) {
          this.lastProgress.set(e.stepId, { at: t, ...(e.percent !== undefined ? { percent: e.percent } : {}) });
          const pct = e.percent !== undefined ? ` ${Math.round(e.percent)}%` : '';
          const eta = e.etaSeconds !== undefined ? ` (eta ${fmtDuration(e.etaSeconds * 1000)})` : '';
          this.line(e.at, `  ${e.stepId}${pct} ${e.message}${eta}`);
        }
        break;
      }
      case 'gate':
        if (e.decision) this.line(e.at, `  gate "${e.request.id}" ${e.decision.decision} by ${e.decision.by}`);
        break;
      case 'log':
        if (e.level !== 'debug' || this.opts.verbose) this.line(e.at, `  ${e.level === 'info' ? '' : `${e.level}: `}${e.stepId ? `[${e.stepId}] ` : ''}${e.message}`);
        if (this.opts.github && e.level === 'warn') this.output.out(annotation('warning', `rekey ${e.stepId ?? 'run'}`, e.message));
        break;
      case 'metric':
      case 'data':
        break;
    }
  }

  notice(message: string): void {
    this.output.err(`rekey: ${message}`);
  }

  error(message: string): void {
    this.output.err(`rekey: error: ${message}`);
    if (this.opts.github) this.output.out(annotation('error', 'rekey', message));
  }

  done(outcome: ExecuteOutcome, machine: RunMachine, exitCode: number, extra: Record<string, unknown>): Promise<void> {
    this.stopTicker?.();
    const snap = machine.getSnapshot();
    this.output.out('');
    const next = typeof extra.next === 'string' ? undefined : nextStep(outcome, snap.runId, this.opts.stateDirArg ?? '');
    for (const l of summaryLines(buildSummary(outcome, snap, exitCode, extra), { ...(next ? { next } : {}), ...(snap.message ? { message: snap.message } : {}) })) this.output.out(l);
    return Promise.resolve();
  }
}

export class JsonRenderer implements Renderer {
  constructor(
    private readonly output: Output = processOutput,
    private readonly opts: { stateDirArg?: string; github?: boolean } = {},
  ) {}

  attach(machine: RunMachine): { approver?: Approver } {
    machine.subscribe((e) => {
      if (e) this.output.out(JSON.stringify(e));
      if (e && this.opts.github && e.type === 'step' && e.status.kind === 'failed') {
        this.output.err(annotation('error', `rekey ${e.stepId}`, e.status.error.message));
      }
    });
    // Subscribed second, so it follows the step event that opens or closes it: writes blocked / flowing again.
    watchWindow(machine, (w) => this.output.out(JSON.stringify(w)));
    return {};
  }

  notice(message: string): void {
    this.output.out(JSON.stringify({ type: 'log', at: new Date().toISOString(), level: 'info', message }));
  }

  error(message: string): void {
    this.output.out(JSON.stringify({ type: 'log', at: new Date().toISOString(), level: 'error', message }));
    this.output.err(`rekey: error: ${message}`);
  }

  done(outcome: ExecuteOutcome, machine: RunMachine, exitCode: number, extra: Record<string, unknown>): Promise<void> {
    const snap = machine.getSnapshot();
    const next = typeof extra.next === 'string' ? undefined : nextStep(outcome, snap.runId, this.opts.stateDirArg ?? '');
    this.output.out(JSON.stringify({ ...buildSummary(outcome, snap, exitCode, extra), ...(next ? { next } : {}) }));
    return Promise.resolve();
  }
}
