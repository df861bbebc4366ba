// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', 'client/build/', 'client/.svelte-kit/', 'pgdata/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    files: ['server/test/**', 'bench/**', 'server/src/cli/**', 'server/src/main.ts', 'server/src/boot.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    // Tests read JSON bodies whose shape is exactly what they assert on.
    files: ['server/test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
