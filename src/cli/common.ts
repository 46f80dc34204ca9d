// Shared by the commands: runbook loading with exit 2, renderer choice, the package root, exit-code errors.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { formatProblem, loadRunbook, type LoadOptions } from '../runbook/load.js';
import type { Runbook } from '../runbook/schema.js';
import { JsonRenderer, LineRenderer } from '../present/headless.js';
import { processOutput, type Output, type Renderer } from '../present/renderer.js';

/** An error that carries its exit code; printed once by main. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    readonly lines: string[] = [],
  ) {
    super(message);
  }
}

/** The installed package's root (holds runbooks/), wherever rekey is run from. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'runbooks'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** A valid runbook and its absolute path. */
export interface LoadedRunbook {
  runbook: Runbook;
  path: string;
}

/**
 * Loads and validates, or throws CliError(2) listing every problem as file:line:col. With `env`, every
 * {env: NAME} secret must be set in it (a run against AWS must not discover a missing one mid-run).
 */
export function loadRunbookOrExit(path: string, opts: LoadOptions = {}): LoadedRunbook {
  const result = loadRunbook(path, undefined, opts);
  if (!result.ok) {
    throw new CliError(`${path}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in the runbook`, 2, result.problems.map(formatProblem));
  }
  return { runbook: result.runbook, path: resolve(path) };
}

export interface RenderOptions {
  json?: boolean;
  headless?: boolean;
  stateDir?: string;
}

/** Headless when asked, when stdout is not a terminal, or when CI is set. */
export function isHeadless(opts: RenderOptions): boolean {
  return opts.headless === true || opts.json === true || !process.stdout.isTTY || (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false');
}

export function stateDirArg(stateDir: string | undefined): string {
  return stateDir && stateDir !== '.rekey' ? ` --state-dir ${stateDir}` : '';
}

/** The TUI is loaded only when used, so headless runs never pay for Ink and React. */
export async function pickRenderer(opts: RenderOptions, output: Output = processOutput): Promise<Renderer> {
  const common = { stateDirArg: stateDirArg(opts.stateDir), github: process.env.GITHUB_ACTIONS === 'true' };
  if (opts.json) return new JsonRenderer(output, common);
  if (isHeadless(opts)) return new LineRenderer(output, common);
  const { InkRenderer } = await import('../../tui/ink-renderer.js');
  return new InkRenderer({ stateDirArg: common.stateDirArg });
}

/** The renderer of a command that runs no flow of its own (plan's preflight): JSON lines, or lines (read-only: no run to name, no ticker). */
export function headlessRenderer(opts: { json?: boolean }): Renderer {
  return opts.json ? new JsonRenderer() : new LineRenderer(processOutput, { readOnly: true });
}

/** Repeatable option collector for commander. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
