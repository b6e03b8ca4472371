// Lint: correctness rules from eslint and typescript-eslint; formatting is not policed here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'build/',
      'native/build/',
      'dist/',
      'test-artifacts/',
      'bench/results/',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // The contract is shared by the renderer and node: it must not import the platform.
    files: ['main/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'electron', '../*', '!./*'] }],
    },
  },
  {
    // The renderer reaches main/ only through the contract.
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/main/*', '!**/main/contract', '!**/main/contract/*'],
              message: 'renderer imports only main/contract from main/',
            },
            { group: ['node:*', 'electron'], message: 'the renderer runs sandboxed: no node or electron' },
          ],
        },
      ],
    },
  },
  {
    // Build configuration runs in node, not in the renderer.
    files: ['renderer/vite.config.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
