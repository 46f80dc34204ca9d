// The rehearsal cloud's map (src/rehearsal/README.md) holds: no import circle between its files, and the
// sub-folders depend downwards only (workload and engines never reach into the fake AWS APIs).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'rehearsal');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.tsx?$/.test(n) ? [p] : [];
  });
}

/** Relative imports (type-only ones included) of each file, resolved to files under ROOT. */
function importGraph(): Map<string, string[]> {
  const files = sources(ROOT);
  const known = new Set(files);
  return new Map(
    files.map((f) => {
      const specs = [...readFileSync(f, 'utf8').matchAll(/(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gs)].map((m) => m[1] ?? '');
      const targets = specs.map((s) => resolve(dirname(f), s).replace(/\.js$/, '.ts')).filter((t) => known.has(t));
      return [relative(ROOT, f), targets.map((t) => relative(ROOT, t))];
    }),
  );
}

/** One import cycle, as a list of files, or undefined when there is none. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      const cycle = visit(t);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of graph.keys()) {
    const cycle = visit(f);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('src/rehearsal layout', () => {
  const graph = importGraph();

  test('the graph is read (the files the map names are there)', () => {
    for (const f of ['session.ts', 'world.ts', 'aws/dms.ts', 'aws/rds.ts', 'engines/pg-ops.ts', 'workload/write-load.ts', 'servers/index.ts']) expect(graph.has(f)).toBe(true);
    expect(graph.get('aws/rds.ts')).toContain('aws/rds-records.ts');
  });

  test('finds a cycle when there is one (the check can fail)', () => {
    expect(findCycle(new Map([['a.ts', ['b.ts']], ['b.ts', ['a.ts']]]))).toEqual(['a.ts', 'b.ts', 'a.ts']);
  });

  test('no import circle between its files', () => {
    expect(findCycle(graph)).toBeUndefined();
  });

  test('workload, engines and servers never import the fake AWS APIs or the world', () => {
    const upward = [...graph].flatMap(([f, ts]) =>
      /^(workload|engines|servers)\//.test(f) ? ts.filter((t) => /^(aws\/|world\.ts|session\.ts)/.test(t)).map((t) => `${f} -> ${t}`) : [],
    );
    expect(upward).toEqual([]);
  });
});
