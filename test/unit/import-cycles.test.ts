// No import circle between files: every static, dynamic and type-only relative import of src/ and tui/ is read,
// and the strongly connected components of that graph are the circles. Folders listed in CHECKED must have none.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, test } from '@jest/globals';

/**
 * Folders that must stay free of circles. src/db has one (types.ts <-> native.ts, type-only, from the native
 * strategy): add it back once native's interfaces live where types.ts can import them without a loop.
 */
const CHECKED = ['src/cli', 'src/steps', 'src/present', 'src/engine', 'src/flows', 'src/runbook', 'src/state', 'src/report', 'src/aws', 'src/rehearsal', 'src/estate', 'src/topology', 'tui'];

const ROOT = process.cwd();
const IMPORT = /(?:import|export)\s[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return /\.tsx?$/.test(f) && !f.endsWith('.d.ts') ? [p] : [];
  });
}

/** file -> the files it imports (relative specifiers only, `.js` mapped back to the .ts/.tsx source). */
function importGraph(roots: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of roots.flatMap((r) => sources(join(ROOT, r)))) {
    const deps = new Set<string>();
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (!spec?.startsWith('.')) continue;
      const base = resolve(dirname(file), spec).replace(/\.js$/, '');
      const hit = [`${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((p) => existsSync(p));
      if (hit) deps.add(relative(ROOT, hit));
    }
    graph.set(relative(ROOT, file), [...deps]);
  }
  return graph;
}

/** Tarjan's strongly connected components with more than one file: each is a circle (or several sharing files). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import circles', () => {
  const all = circles(importGraph(['src', 'tui']));

  test('the reader finds a circle when there is one', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(circles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  test('the graph covers the CLI, including its dynamic imports of commands and the TUI', () => {
    const graph = importGraph(['src', 'tui']);
    expect(graph.get('src/cli/main.ts')).toEqual(expect.arrayContaining(['src/cli/run.ts', 'src/cli/plan.ts']));
    expect(graph.get('src/cli/common.ts')).toContain('tui/ink-renderer.tsx');
  });

  test.each(CHECKED)('no circle touches %s', (folder) => {
    expect(all.filter((c) => c.some((f) => f.startsWith(`${folder}/`)))).toEqual([]);
  });
});
