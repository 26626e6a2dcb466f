/**
 * ESLint: the recommended rules of ESLint and of typescript-eslint with type
 * information (promises left floating, `any` leaking, methods passed
 * unbound…), a few more that guard what this code relies on, and none about
 * layout: Prettier owns that (`npm run format`).
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'coverage/', 'load/results/', 'test/chaos/results/', '.data/', '.scratch/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise returned from inside try/catch/finally must be awaited there, or the
      // finally (a slot released, a deadline cleared) runs before it settles.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // A switch over a union of kinds either names every kind or says what the rest do.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Deprecated APIs of zod, Express, Node… are where upgrades break.
      '@typescript-eslint/no-deprecated': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // Rejecting with an AbortSignal's reason (typed any) is how cancellation travels.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // `let x;` read by a closure before it is assigned once cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // In-memory implementations of asynchronous interfaces and probes handed to
      // `eventually` are async without awaiting, on purpose.
      '@typescript-eslint/require-await': 'off',
      // tsc checks it already (noUnusedLocals, noUnusedParameters) and the build fails on it.
      '@typescript-eslint/no-unused-vars': 'off',
    },
  },
  {
    files: ['test/**'],
    rules: {
      // Vitest types its asymmetric matchers (expect.any, expect.stringContaining) as any.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
);
