// One lint gate: typed rules plus the layer boundaries of DESIGN.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const adapterModules = [
  { group: ['pg', 'pg-*', 'mysql2', 'mysql2/*'], message: 'Database drivers live in src/db; reach them through the step context.' },
  { group: ['@aws-sdk/*'], message: 'AWS clients live behind the Cloud seam in src/aws; steps use ctx.cloud.' },
];
const engineForbidden = [
  ...adapterModules,
  { group: ['ink', 'ink-*', '@inkjs/*', 'react', 'react/*'], message: 'The engine renders nothing; the TUI subscribes to engine events.' },
  { group: ['fs', 'fs/*', 'node:fs', 'node:fs/*', 'child_process', 'node:child_process'], message: 'The engine does no I/O itself; use the JournalStore / RunLock interfaces (file versions in src/state).' },
  { group: ['**/aws/**', '**/db/**', '**/rehearsal/**', '**/state/**', '**/steps/**', '**/flows/**', '**/cli/**', '**/tui/**'], message: 'The engine depends on nothing but itself; the composition root (src/cli) wires adapters in.' },
];
const tuiForbidden = [
  ...adapterModules,
  { group: ['**/src/aws/**', '**/src/db/**', '**/src/rehearsal/**', '**/src/steps/**', '**/src/flows/**', '**/src/state/**'], message: 'The TUI reads the engine only through use-run (subscribe/getSnapshot) and answers gates through the approver.' },
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
  { files: ['src/engine/**/*.ts'], rules: { 'no-restricted-imports': ['error', { patterns: engineForbidden }] } },
  { files: ['tui/**/*.ts', 'tui/**/*.tsx'], rules: { 'no-restricted-imports': ['error', { patterns: tuiForbidden }] } },
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
