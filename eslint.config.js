// One lint gate: typed rules plus the layer boundaries of DESIGN.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Each folder's `no-restricted-imports` patterns (one entry per folder: in a flat config the last entry that sets a
// rule for a file wins, so a folder's list holds every boundary it has). The messages say what to use instead.
// CONTRIBUTING.md draws the same arrows; test/unit/lint-boundaries.test.ts proves each one fires.
const adapterModules = [
  { group: ['pg', 'pg-*', 'mysql2', 'mysql2/*'], message: 'Database drivers live in src/db; reach them through the step context.' },
  { group: ['@aws-sdk/*'], message: 'AWS clients live behind the Cloud seam in src/aws; steps use ctx.cloud.' },
];
const uiModules = { group: ['ink', 'ink-*', '@inkjs/*', 'react', 'react/*'], message: 'Only tui/ renders with Ink and React; everything else reports through engine events (ctx.report).' };
const noCli = (who) => ({
  group: ['**/cli/**'],
  message: `${who} must not import the CLI: src/cli is the composition root that wires the parts together, and nothing imports it. Move what you need out of src/cli (the renderer contract is in src/present, run state in src/engine, services in src/steps/services.ts).`,
});
const noTui = (who) => ({ group: ['**/tui/**'], message: `${who} must not import the TUI: it subscribes to engine events (RunMachine) instead; report through ctx.report or the engine.` });
const noPresent = (who) => ({ group: ['**/present/**'], message: `${who} must not import the presentation layer: emit engine events (ctx.report / RunMachine) and let src/present or tui/ show them.` });
const noRehearsal = (who) => ({
  group: ['**/rehearsal/**'],
  message: `${who} must not import the rehearsal cloud: it is one implementation of the Cloud seam, chosen by src/cli/compose.ts. Use ctx.services (cloud, db, secrets) so the same code runs against AWS.`,
});
/** What every part below the CLI and the TUI leaves alone: the CLI, the TUI, Ink and React. */
const above = (who) => [uiModules, noCli(who), noTui(who)];

const engineForbidden = [
  ...adapterModules,
  uiModules,
  { group: ['fs', 'fs/*', 'node:fs', 'node:fs/*', 'child_process', 'node:child_process'], message: 'The engine does no I/O itself; use the JournalStore / RunLock interfaces (file versions in src/state).' },
  { group: ['**/aws/**', '**/db/**', '**/rehearsal/**', '**/state/**', '**/steps/**', '**/flows/**', '**/cli/**', '**/tui/**', '**/present/**', '**/report/**', '**/runbook/**'], message: 'The engine depends on nothing but itself; the composition root (src/cli) wires adapters in.' },
];
// Steps and flows see the world only through ctx.services; the CLI, the TUI and the rehearsal cloud are above them.
const stepsForbidden = [noRehearsal('A step or flow'), noPresent('A step or flow'), ...above('A step or flow')];
const tuiForbidden = [
  ...adapterModules,
  { group: ['**/src/aws/**', '**/src/db/**', '**/src/rehearsal/**', '**/src/steps/**', '**/src/flows/**', '**/src/state/**'], message: 'The TUI reads the engine only through use-run (subscribe/getSnapshot) and answers gates through the approver; adapters, steps and flows stay out of it.' },
  { group: ['**/src/cli/**'], message: 'The TUI imports no CLI file: the renderer contract (Renderer, nextStep, buildSummary) is in src/present/renderer.ts; the CLI loads the TUI, not the reverse.' },
];
const dbForbidden = [
  adapterModules[1],
  { group: ['**/aws/**'], message: 'src/db is the database adapter and knows no AWS: take endpoints and credentials as plain data (the caller resolves them through the Cloud seam).' },
  noRehearsal('src/db'),
  ...above('src/db'),
];
const awsForbidden = [
  adapterModules[0],
  { group: ['**/db/**'], message: 'src/aws is the AWS adapter and opens no database connection: the steps combine the two through ctx.services.' },
  noRehearsal('src/aws (the real AWS side of the Cloud seam)'),
  ...above('src/aws'),
];
// The presentation layer (the renderer contract, line and JSON output, texts the TUI shares) runs nothing.
const presentForbidden = [
  ...adapterModules,
  { group: ['**/aws/**', '**/db/**', '**/rehearsal/**', '**/state/**', '**/flows/**'], message: 'src/present shows engine events, snapshots and published facts (src/engine); it calls no adapter and runs nothing: what it shows must arrive as events or published data.' },
  uiModules,
  noCli('src/present'),
  noTui('src/present (the headless side)'),
];
const reportForbidden = [
  ...adapterModules,
  { group: ['**/aws/**', '**/db/**'], message: 'The report is written from the journal and published facts only; it calls no adapter.' },
  noRehearsal('The report'),
  ...above('The report'),
];
const stateForbidden = [
  ...adapterModules,
  { group: ['**/aws/**', '**/db/**', '**/rehearsal/**', '**/steps/**', '**/flows/**', '**/report/**', '**/present/**'], message: 'src/state stores journals and locks for the engine interfaces; it knows nothing of what runs.' },
  ...above('src/state'),
];
const runbookForbidden = [
  ...adapterModules,
  { group: ['**/aws/**', '**/db/**', '**/rehearsal/**', '**/state/**', '**/steps/**', '**/flows/**', '**/engine/**', '**/report/**', '**/present/**'], message: 'src/runbook is the input model (schema, loading, errors) every other part reads; it imports none of them.' },
  ...above('src/runbook'),
];
// Key-estate operations (inventory, attestation, cross-Region copy, IAM policy) work through the Cloud seam like steps.
const estateForbidden = [noRehearsal('src/estate'), noPresent('src/estate'), ...above('src/estate')];
// The topology readers (src/topology) work through the Cloud seam like src/aws, and open no database connection.
const topologyForbidden = [
  adapterModules[0],
  { group: ['**/db/**', '**/steps/**', '**/flows/**'], message: 'src/topology reads the AWS topology through the Cloud seam (src/aws); steps combine it with the rest.' },
  noRehearsal('src/topology'),
  noPresent('src/topology'),
  ...above('src/topology'),
];
const rehearsalForbidden = [noPresent('The rehearsal cloud'), ...above('The rehearsal cloud')];

/** Which folder gets which list. */
const boundaries = [
  [['src/engine/**/*.ts'], engineForbidden],
  [['src/steps/**/*.ts', 'src/flows/**/*.ts'], stepsForbidden],
  [['tui/**/*.ts', 'tui/**/*.tsx'], tuiForbidden],
  [['src/db/**/*.ts'], dbForbidden],
  [['src/aws/**/*.ts'], awsForbidden],
  [['src/present/**/*.ts'], presentForbidden],
  [['src/report/**/*.ts'], reportForbidden],
  [['src/state/**/*.ts'], stateForbidden],
  [['src/runbook/**/*.ts'], runbookForbidden],
  [['src/rehearsal/**/*.ts'], rehearsalForbidden],
  [['src/estate/**/*.ts'], estateForbidden],
  [['src/topology/**/*.ts'], topologyForbidden],
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.jest-cache/**', 'coverage/**', '*.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-console': 'off',
    },
  },
  ...boundaries.map(([files, patterns]) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } })),
  {
    files: ['test/**/*.ts', 'test/**/*.tsx'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
