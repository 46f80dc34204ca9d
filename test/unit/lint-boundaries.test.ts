// The layer boundaries of eslint.config.js fire: for each arrow that must not exist, a probe file inside the
// restricted folder imports across it and the lint reports no-restricted-imports with the message that says what
// to use instead; allowed imports pass. The probes are real files for the time of the test (typed linting only
// lints files its TypeScript program includes), removed afterwards.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ESLint, type Linter } from 'eslint';

interface Probe {
  /** The boundary, as CONTRIBUTING.md names it. */
  rule: string;
  /** The folder the probe file is written in. */
  folder: string;
  /** What the probe imports (type-only, so the probe is valid TypeScript wherever it sits). */
  from: string;
  /** The restriction's message, or undefined when the import is allowed. */
  message?: RegExp;
}

const CLI = /must not import the CLI: src\/cli is the composition root/;
const TUI = /must not import the TUI: it subscribes to engine events/;
const REHEARSAL = /must not import the rehearsal cloud: it is one implementation of the Cloud seam/;

const probes: Probe[] = [
  { rule: 'engine ↛ aws', folder: 'src/engine', from: '../aws/cloud.js', message: /The engine depends on nothing but itself/ },
  { rule: 'engine ↛ steps', folder: 'src/engine', from: '../steps/services.js', message: /The engine depends on nothing but itself/ },
  { rule: 'engine ↛ pg', folder: 'src/engine', from: 'pg', message: /Database drivers live in src\/db/ },
  { rule: 'steps ↛ rehearsal', folder: 'src/steps', from: '../rehearsal/world.js', message: REHEARSAL },
  { rule: 'steps ↛ tui', folder: 'src/steps', from: '../../tui/format.js', message: TUI },
  { rule: 'steps ↛ cli', folder: 'src/steps', from: '../cli/common.js', message: CLI },
  { rule: 'flows ↛ rehearsal', folder: 'src/flows', from: '../rehearsal/world.js', message: REHEARSAL },
  { rule: 'flows ↛ tui', folder: 'src/flows', from: '../../tui/format.js', message: TUI },
  { rule: 'flows ↛ cli', folder: 'src/flows', from: '../cli/run-context.js', message: CLI },
  { rule: 'tui ↛ cli', folder: 'tui', from: '../src/cli/common.js', message: /The TUI imports no CLI file: the renderer contract .* is in src\/present\/renderer\.ts/ },
  { rule: 'tui ↛ aws', folder: 'tui', from: '../src/aws/cloud.js', message: /The TUI reads the engine only through use-run/ },
  { rule: 'tui ↛ db', folder: 'tui', from: '../src/db/types.js', message: /The TUI reads the engine only through use-run/ },
  { rule: 'tui ↛ rehearsal', folder: 'tui', from: '../src/rehearsal/world.js', message: /The TUI reads the engine only through use-run/ },
  { rule: 'tui ↛ steps', folder: 'tui', from: '../src/steps/services.js', message: /The TUI reads the engine only through use-run/ },
  { rule: 'tui ↛ @aws-sdk', folder: 'tui', from: '@aws-sdk/client-rds', message: /AWS clients live behind the Cloud seam in src\/aws/ },
  { rule: 'tui ↛ mysql2', folder: 'tui', from: 'mysql2/promise', message: /Database drivers live in src\/db/ },
  { rule: 'db ↛ aws', folder: 'src/db', from: '../aws/cloud.js', message: /src\/db is the database adapter and knows no AWS/ },
  { rule: 'db ↛ @aws-sdk', folder: 'src/db', from: '@aws-sdk/client-rds', message: /AWS clients live behind the Cloud seam/ },
  { rule: 'db ↛ rehearsal', folder: 'src/db', from: '../rehearsal/world.js', message: REHEARSAL },
  { rule: 'aws ↛ db', folder: 'src/aws', from: '../db/types.js', message: /src\/aws is the AWS adapter and opens no database connection/ },
  { rule: 'aws ↛ pg', folder: 'src/aws', from: 'pg', message: /Database drivers live in src\/db/ },
  { rule: 'aws ↛ rehearsal', folder: 'src/aws', from: '../rehearsal/world.js', message: REHEARSAL },
  { rule: 'present ↛ cli', folder: 'src/present', from: '../cli/common.js', message: CLI },
  { rule: 'present ↛ aws', folder: 'src/present', from: '../aws/cloud.js', message: /src\/present shows engine events, snapshots and published facts/ },
  { rule: 'steps ↛ present', folder: 'src/steps', from: '../present/renderer.js', message: /must not import the presentation layer/ },
  { rule: 'report ↛ aws', folder: 'src/report', from: '../aws/cloud.js', message: /The report is written from the journal and published facts only/ },
  { rule: 'state ↛ steps', folder: 'src/state', from: '../steps/services.js', message: /src\/state stores journals and locks/ },
  { rule: 'runbook ↛ engine', folder: 'src/runbook', from: '../engine/types.js', message: /src\/runbook is the input model/ },
  { rule: 'rehearsal ↛ cli', folder: 'src/rehearsal', from: '../cli/compose.js', message: CLI },
  { rule: 'rehearsal ↛ tui', folder: 'src/rehearsal', from: '../../tui/format.js', message: TUI },
  { rule: 'estate ↛ rehearsal', folder: 'src/estate', from: '../rehearsal/world.js', message: REHEARSAL },
  { rule: 'estate ↛ cli', folder: 'src/estate', from: '../cli/common.js', message: CLI },
  // Allowed arrows: the same folders, imports the map permits.
  { rule: 'steps → engine, aws (allowed)', folder: 'src/steps', from: '../aws/cloud.js' },
  { rule: 'flows → steps (allowed)', folder: 'src/flows', from: '../steps/services.js' },
  { rule: 'tui → present (allowed)', folder: 'tui', from: '../src/present/renderer.js' },
  { rule: 'tui → engine (allowed)', folder: 'tui', from: '../src/engine/types.js' },
  { rule: 'present → engine (allowed)', folder: 'src/present', from: '../engine/run-machine.js' },
  { rule: 'rehearsal → aws (allowed)', folder: 'src/rehearsal', from: '../aws/cloud.js' },
  { rule: 'db → engine (allowed)', folder: 'src/db', from: '../engine/types.js' },
  { rule: 'cli → rehearsal, tui (allowed)', folder: 'src/cli', from: '../rehearsal/world.js' },
];

const pathOf = (i: number): string => join(probes[i]!.folder, `__lint-probe-${process.pid}-${i}.ts`);
const results = new Map<string, Linter.LintMessage[]>();

beforeAll(async () => {
  try {
    // Every probe exists before the first lint, so the one TypeScript program typed linting builds includes them all.
    probes.forEach((p, i) => writeFileSync(pathOf(i), `// A lint-boundaries test probe; deleted when the test ends.\nimport type * as probe from '${p.from}';\nexport type Probe = typeof probe;\n`));
    const eslint = new ESLint({ cwd: process.cwd() });
    const linted = await eslint.lintFiles(probes.map((_, i) => pathOf(i)));
    for (const r of linted) results.set(r.filePath, r.messages);
  } finally {
    probes.forEach((_, i) => rmSync(pathOf(i), { force: true }));
  }
}, 180_000);

afterAll(() => {
  probes.forEach((_, i) => rmSync(pathOf(i), { force: true }));
});

describe('lint boundaries', () => {
  test.each(probes.map((p, i) => [p.rule, i] as const))('%s', (_rule, i) => {
    const probe = probes[i]!;
    const messages = results.get(join(process.cwd(), pathOf(i)));
    expect(messages).toBeDefined();
    // The probe is linted with the project's typed configuration, not rejected before the rules run.
    expect(messages!.filter((m) => m.fatal)).toEqual([]);
    const restricted = messages!.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
    if (probe.message === undefined) {
      expect(restricted).toEqual([]);
    } else {
      expect(restricted).toEqual([expect.stringMatching(probe.message)]);
      expect(restricted[0]).toContain(`'${probe.from}'`);
    }
  });
});
