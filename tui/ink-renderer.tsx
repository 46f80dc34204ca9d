// The interactive renderer: mounts the Ink app over the run, answers gates through the person at the
// terminal, and on exit leaves the last screen in place followed by the outcome and the exact next command.
import './production.js';
import { render } from 'ink';
import { userInfo } from 'node:os';
import { createElement, type ReactElement } from 'react';
import type { ExecuteOutcome } from '../src/engine/executor.js';
import type { LogLine, RunMachine } from '../src/engine/run-machine.js';
import type { ApprovalDecision, ApprovalRequest, Approver } from '../src/engine/types.js';
import { buildSummary, nextStep, type Renderer } from '../src/present/renderer.js';
import { summaryLines } from '../src/present/summary-text.js';
import { App } from './App.js';
import { clearOnNarrowing } from './resize.js';
import { ThemeContext, colorFromEnv } from './use-theme.js';

/** What the renderer mounts into; Ink's `render` by default, ink-testing-library's in tests. */
export interface Mounted {
  rerender(tree: ReactElement): void;
  unmount(): void;
}

export interface InkRendererOptions {
  /** ` --state-dir DIR` when not the default, appended to the printed resume command. */
  stateDirArg?: string;
  /** Mounts the tree (default: Ink's render on the process's terminal). */
  mount?: (tree: ReactElement) => Mounted;
  /** Prints one line after the app is gone (default: stdout). */
  out?: (line: string) => void;
  /** Prints one line when the app is not mounted (default: stderr). */
  err?: (line: string) => void;
  /** Who approves (default: the OS user). */
  user?: () => string;
  /** Ctrl-C: default raises SIGINT so the session stops the run as for any signal (twice forces). */
  interrupt?: () => void;
  /** Whether to use colours (default: unless NO_COLOR is set). */
  color?: boolean;
}

function defaultMount(tree: ReactElement): Mounted {
  // Ctrl-C is a key in raw mode: the App turns it into a safe stop instead of Ink tearing down mid-step.
  const instance = render(tree, { exitOnCtrlC: false, maxFps: 15 });
  // After Ink subscribed to resizes: this one is prepended, so it clears before Ink redraws.
  const stopClearing = clearOnNarrowing(process.stdout);
  return {
    rerender: (t) => instance.rerender(t),
    unmount: () => {
      stopClearing();
      instance.unmount();
    },
  };
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'unknown';
  }
}

export class InkRenderer implements Renderer {
  private machine: RunMachine | undefined;
  private controller: AbortController | undefined;
  private mounted: Mounted | undefined;
  private notices: LogLine[] = [];
  /** The person aborted (`a`, confirmed): the end says how to undo, not only how to resume. */
  private aborted = false;
  private pending: { request: ApprovalRequest; resolve: (d: ApprovalDecision | undefined) => void } | undefined;
  private readonly opts: InkRendererOptions;

  constructor(opts: InkRendererOptions = {}) {
    this.opts = opts;
  }

  attach(machine: RunMachine, controller: AbortController): { approver?: Approver } {
    this.machine = machine;
    this.controller = controller;
    this.mounted = (this.opts.mount ?? defaultMount)(this.tree());
    return { approver: { decide: (request, signal) => this.decide(request, signal) } };
  }

  /** Waits for the GatePanel's answer; undefined when the run is aborted first. */
  private decide(request: ApprovalRequest, signal: AbortSignal): Promise<ApprovalDecision | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.pending = undefined;
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending = {
        request,
        resolve: (d) => {
          signal.removeEventListener('abort', onAbort);
          this.pending = undefined;
          resolve(d);
        },
      };
    });
  }

  private answer(requestId: string, decision: 'approved' | 'declined'): void {
    const p = this.pending;
    if (!p || p.request.id !== requestId) return;
    p.resolve({ id: requestId, decision, by: (this.opts.user ?? osUser)(), at: new Date().toISOString() });
  }

  private tree(): ReactElement {
    const machine = this.machine!;
    // createElement rather than JSX: JSX would make this module import react/jsx-runtime before production.js.
    const app = createElement(App, {
      run: machine,
      notices: this.notices,
      onAnswer: (id, d) => this.answer(id, d),
      onAbort: () => {
        this.aborted = true;
        this.controller?.abort(new Error('abort requested from the terminal'));
      },
      onQuit: () => this.controller?.abort(new Error('quit requested from the terminal')),
      onInterrupt: this.opts.interrupt ?? (() => process.kill(process.pid, 'SIGINT')),
    });
    return createElement(ThemeContext.Provider, { value: { color: this.opts.color ?? colorFromEnv() } }, app);
  }

  private say(level: LogLine['level'], message: string): void {
    if (!this.mounted) {
      (this.opts.err ?? ((l: string) => process.stderr.write(`${l}\n`)))(`rekey: ${level === 'error' ? 'error: ' : ''}${message}`);
      return;
    }
    this.notices = [...this.notices, { at: new Date().toISOString(), level, message }].slice(-100);
    this.mounted.rerender(this.tree());
  }

  notice(message: string): void {
    this.say('info', message);
  }

  error(message: string): void {
    this.say('error', message);
  }

  done(outcome: ExecuteOutcome, machine: RunMachine, exitCode: number, extra: Record<string, unknown>): Promise<void> {
    this.pending?.resolve(undefined);
    this.mounted?.unmount();
    this.mounted = undefined;
    const out = this.opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
    const snap = machine.getSnapshot();
    out('');
    // The same summary as line mode: one module renders it for both.
    const next = nextStep(outcome, snap.runId, this.opts.stateDirArg ?? '');
    for (const l of summaryLines(buildSummary(outcome, snap, exitCode, extra), { ...(next ? { next } : {}), ...(snap.message ? { message: snap.message } : {}) })) out(l);
    if (this.aborted && outcome.status !== 'succeeded') out(`or undo what the run did: rekey rollback ${snap.runId}${this.opts.stateDirArg ?? ''}`);
    return Promise.resolve();
  }
}
