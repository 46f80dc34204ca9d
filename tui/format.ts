// Pure text helpers for the TUI: durations, numbers, bars, the latency chart, and reading published results.
// Everything here is plain data in, plain data out, so it is tested without rendering.
import type { StepStatus } from '../src/engine/types.js';

/** `850ms`, `4.2s`, `3m07s`, `1h02m`. */
export function formatDuration(ms: number): string {
  const v = Math.max(0, ms);
  if (v < 1000) return `${Math.round(v)}ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(1)}s`;
  const totalSeconds = Math.floor(v / 1000);
  const s = totalSeconds % 60;
  const m = Math.floor(totalSeconds / 60) % 60;
  const h = Math.floor(totalSeconds / 3600);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

/** Elapsed wall clock as `mm:ss` or `h:mm:ss`. */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = String(total % 60).padStart(2, '0');
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${String(m).padStart(2, '0')}:${s}`;
}

/** Thousands separators, `–` for a missing value. */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return Math.round(n).toLocaleString('en-US');
}

/** Seconds with one decimal below 10, whole seconds above. */
export function formatSeconds(s: number): string {
  return s < 10 ? `${s.toFixed(1)}s` : `${Math.round(s)}s`;
}

/** Cuts text to width, ending with `…` when cut. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

/** A bar of `width` cells, `█` for done and `░` for the rest. */
export function progressBar(percent: number, width: number): string {
  const p = Math.min(100, Math.max(0, percent));
  const filled = Math.round((p / 100) * width);
  return '█'.repeat(filled) + '░'.repeat(Math.max(0, width - filled));
}

/** The one-character symbol of a step status (running steps show a spinner instead). */
export function statusSymbol(kind: StepStatus['kind']): string {
  switch (kind) {
    case 'pending':
      return '○';
    case 'running':
      return '▶';
    case 'awaiting_approval':
      return '?';
    case 'succeeded':
      return '✔';
    case 'failed':
      return '✖';
    case 'skipped':
      return '–';
    case 'rolled_back':
      return '↶';
  }
}

export const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'] as const;

/** What kind of mark a chart cell holds. */
export type CellKind = 'empty' | 'source' | 'target' | 'both' | 'threshold';

/** One rendered chart: rows top to bottom, each a list of cells, and the value at the top row. */
export interface Chart {
  /** Cells, `rows[0]` is the top. */
  rows: { ch: string; kind: CellKind }[][];
  /** The value the top row stands for. */
  max: number;
  /** The row index of the threshold line, when it fits. */
  thresholdRow?: number;
}

export const CHART_MARK: Record<CellKind, string> = { empty: ' ', source: '•', target: '×', both: '◆', threshold: '┄' };

type Point = { at: number; value: number };

/** The last value of the series within each of `width` time buckets ending at `now` (undefined before the first reading and after the last). */
export function bucketize(points: readonly Point[], now: number, windowMs: number, width: number): (number | undefined)[] {
  const out: (number | undefined)[] = new Array<number | undefined>(width).fill(undefined);
  const start = now - windowMs;
  for (const p of points) {
    if (p.at < start || p.at > now) continue;
    const i = Math.min(width - 1, Math.floor(((p.at - start) / windowMs) * width));
    out[i] = p.value;
  }
  // Between two readings the line holds its last value, so a sparse series still reads as a line.
  let last: number | undefined;
  const lastIndex = out.findLastIndex((v) => v !== undefined);
  for (let i = 0; i < lastIndex; i++) {
    if (out[i] === undefined) out[i] = last;
    else last = out[i];
  }
  return out;
}

/**
 * Draws source and target latency over the last `windowMs` into a `width` x `height` grid, with the threshold
 * as a dashed row. The scale starts at 0 and reaches at least 1.5 x the threshold, so the line is always visible.
 */
export function latencyChart(opts: {
  source: readonly Point[];
  target: readonly Point[];
  threshold: number | undefined;
  now: number;
  windowMs: number;
  width: number;
  height: number;
}): Chart {
  const { width, height, threshold } = opts;
  const src = bucketize(opts.source, opts.now, opts.windowMs, width);
  const tgt = bucketize(opts.target, opts.now, opts.windowMs, width);
  const seen = [...src, ...tgt].filter((v): v is number => v !== undefined);
  const max = Math.max(1, threshold !== undefined ? threshold * 1.5 : 0, ...seen);
  const rowOf = (v: number): number => height - 1 - Math.min(height - 1, Math.round((Math.max(0, v) / max) * (height - 1)));
  const thresholdRow = threshold !== undefined ? rowOf(threshold) : undefined;
  const blank = (r: number): Chart['rows'][number][number] => (r === thresholdRow ? { ch: CHART_MARK.threshold, kind: 'threshold' } : { ch: ' ', kind: 'empty' });
  const rows = Array.from({ length: height }, (_, r) => Array.from({ length: width }, () => blank(r)));
  for (let x = 0; x < width; x++) {
    const s = src[x];
    const t = tgt[x];
    const sr = s === undefined ? undefined : rowOf(s);
    const tr = t === undefined ? undefined : rowOf(t);
    const put = (r: number, kind: CellKind): void => {
      const row = rows[r];
      if (row) row[x] = { ch: CHART_MARK[kind], kind };
    };
    if (sr !== undefined && sr === tr) put(sr, 'both');
    else {
      if (sr !== undefined) put(sr, 'source');
      if (tr !== undefined) put(tr, 'target');
    }
  }
  return { rows, max, ...(thresholdRow !== undefined ? { thresholdRow } : {}) };
}

/** One table in a validation pass, as the table shows it. */
export interface ValidationRow {
  /** `schema.name`. */
  table: string;
  /** Rows on the source, null when not counted. */
  sourceRows: number | null;
  /** Rows on the target, null when not counted. */
  targetRows: number | null;
  /** Whether the two sides agree. */
  status: 'match' | 'mismatch' | 'error';
}

/** A validation pass as published by the validate steps. */
export interface ValidationView {
  /** ISO time of the pass. */
  at?: string;
  /** `pre-fence` or `final`. */
  phase?: string;
  /** Every table compared. */
  tables: ValidationRow[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Reads `published.validation` leniently (steps may publish `status` or a `matches` flag). */
export function readValidation(value: unknown): ValidationView | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as { at?: unknown; phase?: unknown; tables?: unknown; results?: unknown };
  const list = Array.isArray(v.tables) ? v.tables : Array.isArray(v.results) ? v.results : undefined;
  if (!list) return undefined;
  const tables: ValidationRow[] = [];
  for (const item of list as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const t = item as { table?: unknown; sourceRows?: unknown; targetRows?: unknown; status?: unknown; matches?: unknown };
    if (typeof t.table !== 'string') continue;
    const status = t.status === 'match' || t.status === 'mismatch' || t.status === 'error' ? t.status : t.matches === true ? 'match' : t.matches === false ? 'mismatch' : 'error';
    tables.push({ table: t.table, sourceRows: num(t.sourceRows), targetRows: num(t.targetRows), status });
  }
  return { tables, ...(typeof v.at === 'string' ? { at: v.at } : {}), ...(typeof v.phase === 'string' ? { phase: v.phase } : {}) };
}

const ORDER: Record<ValidationRow['status'], number> = { mismatch: 0, error: 1, match: 2 };

/** Mismatches first, then errors, then matches; by table name within each. */
export function sortValidation(rows: readonly ValidationRow[]): ValidationRow[] {
  return [...rows].sort((a, b) => ORDER[a.status] - ORDER[b.status] || a.table.localeCompare(b.table));
}

/** Reads `published.preflight` leniently (`tablesWithoutPk` / `estimate.totalSeconds`, or the short names). */
export function readPreflight(value: unknown): { tablesWithoutPrimaryKey: string[]; estimateSeconds?: number } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as { tablesWithoutPrimaryKey?: unknown; tablesWithoutPk?: unknown; estimateSeconds?: unknown; estimate?: { totalSeconds?: unknown } };
  const list = v.tablesWithoutPrimaryKey ?? v.tablesWithoutPk;
  const tables = Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
  const est = num(v.estimateSeconds) ?? num(v.estimate?.totalSeconds);
  return { tablesWithoutPrimaryKey: tables, ...(est !== null ? { estimateSeconds: est } : {}) };
}
