import { describe, expect, it } from '@jest/globals';
import { bucketize, formatClock, formatDuration, latencyChart, progressBar, readPreflight, readValidation, sortValidation, truncate } from '../../tui/format.js';
import { throttleSubscribe } from '../../tui/use-run.js';

describe('tui format helpers', () => {
  it('formats durations and clocks', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(4200)).toBe('4.2s');
    expect(formatDuration(187_000)).toBe('3m07s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(formatClock(65_000)).toBe('01:05');
    expect(formatClock(3_725_000)).toBe('1:02:05');
  });

  it('draws bars and truncates', () => {
    expect(progressBar(50, 10)).toBe('█████░░░░░');
    expect(progressBar(140, 4)).toBe('████');
    expect(truncate('orders-database', 7)).toBe('orders…');
    expect(truncate('abc', 7)).toBe('abc');
  });

  it('puts the last point of each time bucket in its column', () => {
    const now = 100_000;
    const b = bucketize([{ at: 0, value: 9 }, { at: 50_000, value: 1 }, { at: 99_999, value: 2 }, { at: 100_000, value: 3 }], now, 100_000, 4);
    expect(b).toEqual([9, 9, 1, 3]);
    expect(bucketize([{ at: 60_000, value: 5 }], now, 100_000, 4)).toEqual([undefined, undefined, 5, undefined]);
  });

  it('plots source above target when it is higher, and the threshold as a dashed row', () => {
    const now = 60_000;
    const source = [{ at: 59_000, value: 12 }];
    const target = [{ at: 59_000, value: 0 }];
    const chart = latencyChart({ source, target, threshold: 10, now, windowMs: 60_000, width: 10, height: 5 });
    expect(chart.max).toBe(15);
    const last = chart.rows.map((r) => r[9]!.kind);
    // 12 of 15 is round(3.2) = 3 rows up of 4 (row 1 from the top); 0 is the bottom row.
    expect(last).toEqual(['empty', 'source', 'empty', 'empty', 'target']);
    // 10 of 15 is round(2.67) = 3 rows up as well: the point is drawn over the threshold line.
    expect(chart.thresholdRow).toBe(1);
    expect(chart.rows[1]!.slice(0, 9).every((c) => c.kind === 'threshold')).toBe(true);
  });

  it('reads validation leniently and orders mismatches first', () => {
    const v = readValidation({
      at: '2026-01-01T00:00:00Z',
      phase: 'final',
      tables: [
        { table: 'public.a', sourceRows: 1, targetRows: 1, status: 'match' },
        { table: 'public.b', sourceRows: 2, targetRows: 1, matches: false },
        { table: 'public.c', sourceRows: null, targetRows: null, status: 'error' },
        { nope: true },
      ],
    });
    expect(v?.tables).toHaveLength(3);
    expect(sortValidation(v!.tables).map((t) => t.table)).toEqual(['public.b', 'public.c', 'public.a']);
    expect(readValidation('x')).toBeUndefined();
  });

  it('reads the preflight report as the preflight step publishes it', () => {
    expect(readPreflight({ tablesWithoutPk: ['public.audit'], estimate: { totalSeconds: 6.4 } })).toEqual({ tablesWithoutPrimaryKey: ['public.audit'], estimateSeconds: 6.4 });
    expect(readPreflight({ tablesWithoutPrimaryKey: [], estimateSeconds: 3 })).toEqual({ tablesWithoutPrimaryKey: [], estimateSeconds: 3 });
  });

  it('throttles notifications to one per interval, delivering the last change', async () => {
    const listeners = new Set<() => void>();
    const sub = throttleSubscribe((l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    }, 50);
    let calls = 0;
    const unsubscribe = sub(() => calls++);
    for (let i = 0; i < 100; i++) for (const l of listeners) l();
    expect(calls).toBe(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(calls).toBe(2);
    unsubscribe();
    expect(listeners.size).toBe(0);
  });
});
