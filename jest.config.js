/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  cacheDirectory: '<rootDir>/.jest-cache',
  extensionsToTreatAsEsm: ['.ts', '.tsx'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.tsx?$': [
      'ts-jest',
      {
        useESM: true,
        tsconfig: {
          jsx: 'react-jsx',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          esModuleInterop: true,
          isolatedModules: true,
          verbatimModuleSyntax: false,
        },
      },
    ],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts?(x)'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 60000,
  // A client socket left half-closed by a server the suite stopped can keep the main process alive after the
  // run (seen once, in CLOSE-WAIT); CI must never hang on that, so jest exits when the run is done.
  forceExit: true,
};
