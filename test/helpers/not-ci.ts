// Imported first by tests of Ink's live terminal behaviour (resize, repaint): under CI=true Ink renders only the last
// frame and ignores resizes (its is-in-ci check runs when ink is first loaded), which is not what a person's terminal
// does. Setting CI=false here, before ink loads in this test file's module registry, lets such a test run in CI too.
process.env.CI = 'false';
export {};
