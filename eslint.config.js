// ESLint 10 flat config: typescript-eslint's recommended rules for src/, test/, bench/ and
// playground/src/, plus the type-aware rules that catch real mistakes with promises (a
// dropped promise, a promise where a callback's return is ignored, awaiting a non-promise).
// Type information comes from the nearest tsconfig (the root one; playground/tsconfig.json
// for the playground) through typescript-eslint's project service.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    // Only the folders above (and this file) are linted.
    ignores: ['dist/', 'node_modules/', 'app/', 'bin/', 'examples/', 'schema/', 'sql/', 'templates/', 'playground/*', '!playground/src/', 'bench/results/', 'data/', '.vitest/'],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/no-base-to-string': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'off',
    },
  },
  {
    // Tests read replies of any shape (call<T = any>) and build odd payloads on purpose.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['playground/src/**'],
    languageOptions: { globals: globals.browser },
  },
  {
    // Plain JavaScript (bench/, this file): no TypeScript project, so no type-aware rules.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
