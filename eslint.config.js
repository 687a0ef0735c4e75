// A small rule set on top of TypeScript's own strict checks: mistakes tsc does not catch.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'test/fixtures/', 'test/.tmp-examples/', 'bench/results/'] },
  {
    // .tsx: the web dashboard (web/src), linted like the rest; web/tsconfig.json type-checks it.
    files: ['**/*.ts', '**/*.tsx', '**/*.js'],
    extends: [tseslint.configs.base],
    rules: {
      eqeqeq: ['error', 'smart'],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-debugger': 'error',
      'no-self-compare': 'error',
      'no-unsafe-finally': 'error',
      'no-fallthrough': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    // Server code logs through the injected logger; only the CLI talks to the terminal.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': 'error' },
  },
);
