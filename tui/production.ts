// Imported first by ink-renderer: React picks its development or production build from NODE_ENV when it is
// first loaded, and the development build costs several times the CPU per frame. Tests keep NODE_ENV=test.
process.env.NODE_ENV ??= 'production';
export {};
