/**
 * ESLint: the recommended rules of ESLint and of typescript-eslint with type
 * information (promises left floating, `any` leaking, methods passed
 * unbound…), a few more that guard what this code relies on, and none about
 * layout: Prettier owns that (`npm run format`).
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/ and what each may import besides itself: dependencies
 * point inward — the domain knows nothing, the pipeline and the events (the
 * outbox, the webhooks) know the domain,
 * the threads, the orders and the dependencies' breakers (resilience) know
 * the pipeline, the orders know the clients sharing the service (their
 * shares), the rule by which clients share every scarce thing
 * (src/fairness/) knows only the domain and is known by whoever keeps a
 * scarce thing's counts, the harness of the side threads (src/side-threads/)
 * knows nothing and is known by the events and tracing, HTTP knows the
 * orders, and only the composition root
 * (src/composition/, and the process around it) knows every piece.
 * Modules at the root of src/ other than those three (config, paths,
 * version, runtime) are leaves anyone may import.
 */
/** @type {Record<string, string[]>} */
const LAYERS = {
  domain: [],
  'side-threads': [],
  fairness: ['domain'],
  'shared-memory': ['fairness'],
  clients: ['domain'],
  auth: ['domain'],
  ledger: ['domain'],
  pipeline: ['domain'],
  events: ['domain', 'fairness', 'side-threads'],
  orders: ['domain', 'pipeline', 'ledger', 'clients', 'fairness'],
  resilience: ['domain', 'pipeline'],
  threads: ['domain', 'pipeline', 'ledger', 'shared-memory', 'fairness'],
  observability: ['domain', 'pipeline', 'ledger', 'shared-memory', 'threads', 'orders'],
  store: ['domain', 'ledger', 'orders', 'shared-memory', 'auth', 'events'],
  postgres: ['domain', 'pipeline', 'ledger', 'shared-memory', 'fairness', 'orders', 'store', 'auth', 'events'],
  http: ['domain', 'pipeline', 'ledger', 'orders', 'observability', 'auth', 'events', 'fairness'],
  cluster: ['observability'],
  tracing: ['domain', 'pipeline', 'events', 'side-threads'],
  settings: ['domain', 'auth', 'shared-memory', 'fairness'],
  'warm-up': ['domain', 'ledger'],
};
const ROOT_ONLY = ['composition', 'server-process', 'main'];

/**
 * An import (relative, from any depth under src/<layer>/) reaching into one of `targets`.
 * @param {string[]} targets
 */
const reaching = (targets) => `^(\\.\\./)+(${targets.join('|')})(/|\\.js$)`;

/**
 * Within a layer, its folders and what each may import of the layer's other folders; the files at the layer's top
 * (src/http/app.ts, server.ts…) may import any of them, and none of its folders imports them. src/http/: the wire
 * format (bodies, answers, statuses) knows no other folder, the guards know the wire, the routes the wire and the
 * guards, and the OpenAPI document the routes' limits and the wire's schemas.
 * @type {Record<string, Record<string, string[]>>}
 */
const FOLDERS = {
  http: {
    wire: [],
    guards: ['wire'],
    routes: ['wire', 'guards'],
    openapi: ['wire', 'routes'],
  },
};

/**
 * The import patterns that keep src/<layer>/ to what LAYERS allows it.
 * @param {string} layer
 */
function layerPatterns(layer) {
  const allowed = LAYERS[layer] ?? [];
  const forbidden = [
    ...Object.keys(LAYERS).filter((other) => other !== layer && !allowed.includes(other)),
    ...ROOT_ONLY,
  ];
  return [
    {
      regex: reaching(forbidden),
      message: `src/${layer}/ may import only ${allowed.join(', ') || 'nothing else in src/'} (eslint.config.js, LAYERS)`,
    },
  ];
}

/**
 * @param {string} files
 * @param {{ regex: string, message: string }[]} patterns
 */
const restrictImports = (files, patterns) => ({
  files: [files],
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

const layerRules = Object.keys(LAYERS).map((layer) => restrictImports(`src/${layer}/**/*.ts`, layerPatterns(layer)));

// A later entry replaces an earlier one's rule for the same files: a folder's entry restates its layer's patterns.
const folderRules = Object.entries(FOLDERS).flatMap(([layer, folders]) =>
  Object.entries(folders).map(([folder, allowed]) => {
    const forbidden = Object.keys(folders).filter((other) => other !== folder && !allowed.includes(other));
    return restrictImports(`src/${layer}/${folder}/**/*.ts`, [
      ...layerPatterns(layer),
      {
        // The layer's own top-level files (any name without a folder), and its folders not allowed.
        regex: `^\\.\\./(${[...forbidden, '[\\w-]+\\.js$'].join('|')})(/|$)`,
        message: `src/${layer}/${folder}/ may import only ${allowed.join(', ') || 'nothing else'} of src/${layer}/ (eslint.config.js, FOLDERS)`,
      },
    ]);
  }),
);

export default defineConfig(
  {
    ignores: [
      'dist/',
      'coverage/',
      'load/results/',
      'test/chaos/results/',
      '.data/',
      '.scratch/',
      'test/client/api-types.ts',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
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
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      // `let x;` read by a closure before it is assigned once cannot be a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // In-memory implementations of asynchronous interfaces and probes handed to
      // `eventually` are async without awaiting, on purpose.
      '@typescript-eslint/require-await': 'off',
      // tsc checks it already (noUnusedLocals, noUnusedParameters) and the build fails on it.
      '@typescript-eslint/no-unused-vars': 'off',
    },
  },
  ...layerRules,
  ...folderRules,
  {
    // A reader takes in a file or a function whole: no file of the service over 500 lines, no function over 100
    // (CONTRIBUTING.md). Blank lines and comments count: they are read too.
    files: ['src/**/*.ts', 'workers/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 500, skipBlankLines: false, skipComments: false }],
      'max-lines-per-function': ['error', { max: 100, skipBlankLines: false, skipComments: false }],
    },
  },
  {
    // Worker threads load only the steps, their runtime, and what crosses to them: the domain, the shared memory, the protocol
    // (its messages, and its records in the step rings).
    files: ['workers/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+src/(?!domain/|shared-memory/|threads/(protocol|step-rings)\\.js$)',
              message:
                'worker threads may import only src/domain, src/shared-memory, src/threads/protocol.js and src/threads/step-rings.js (eslint.config.js)',
            },
          ],
        },
      ],
    },
  },
  {
    // load/lib/ is the load suite's library: the tests and the chaos harness may import it and nothing else of load/
    // (not the suite, its report or a measurement), and it imports nothing else of load/ itself.
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+load/(?!lib/)',
              message: 'tests and the chaos harness may import only load/lib/ of load/ (eslint.config.js)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['load/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./(?!\\.\\./)',
              message: 'load/lib/ imports nothing else of load/: the tests import it (eslint.config.js)',
            },
          ],
        },
      ],
    },
  },
  {
    // The lean build is the floor of the service's stack: Express, Piscina and Node, nothing of the project's own.
    files: ['load/lean/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^\\.\\./',
              message:
                'load/lean/ imports nothing outside itself: it is the stack with nothing else (eslint.config.js)',
            },
          ],
        },
      ],
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
