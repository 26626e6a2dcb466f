/**
 * The API as an integrator meets it, with tools nobody here wrote: the
 * document a real server serves (open, and with keys) passes Redocly's
 * recommended rules with no problem left, openapi-typescript generates from
 * it exactly the committed test/client/api-types.ts, naming every operation,
 * and a program written against those types with openapi-fetch
 * (test/client/readme-flow.ts) does the README's flow against the server.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { clientTypes } from '../client/generate.js';
import { readmeFlow } from '../client/readme-flow.js';
import { readFollowingRetryAfter } from '../support/http.js';
import { expectAtRest, expectOsThreadsBackTo, osThreadCount } from '../support/leaks.js';
import { startTestService, type TestService } from '../support/service.js';

const THREADS = 2;
const CLIENT_KEY = 'integrator_client_0123456789abcdefghijklm';
const ADMIN_KEY = 'integrator_admin_0123456789abcdefghijklmn';
const REDOCLY = new URL('../../node_modules/@redocly/cli/bin/cli.js', import.meta.url).pathname;
const committedTypes = readFileSync(new URL('../client/api-types.ts', import.meta.url), 'utf8');

type Served = { paths: Record<string, Record<string, { operationId?: string; tags?: string[] }>> };

let open: TestService;
let keyed: TestService;
let osThreadsBefore: number;
let scratch: string;

beforeAll(async () => {
  osThreadsBefore = osThreadCount();
  scratch = mkdtempSync(join(tmpdir(), 'generated-client-'));
  open = await startTestService({ config: { threads: THREADS } });
  keyed = await startTestService({
    config: {
      threads: THREADS,
      access: { mode: 'keys', clients: [{ client: 'integrator', key: CLIENT_KEY }], adminKeys: [ADMIN_KEY] },
    },
  });
});
afterAll(async () => {
  await Promise.all([open?.shutdown(), keyed?.shutdown()]);
  rmSync(scratch, { recursive: true, force: true });
  await expectOsThreadsBackTo(osThreadsBefore);
});

/** A read turned away 503 with Retry-After (the loop late beside busy cores) is asked again when it says. */
const served = async (service: TestService): Promise<Served> => {
  const read = await readFollowingRetryAfter(new URL('/openapi.json', service.url));
  expect(read.status).toBe(200);
  return (await read.json()) as Served;
};

/** Redocly CLI's lint with the project's redocly.yaml (its recommended rules), offline: no telemetry, no update check. */
async function redoclyLint(document: unknown, name: string): Promise<{ totals: unknown; problems: unknown[] }> {
  const file = join(scratch, `${name}.json`);
  writeFileSync(file, JSON.stringify(document));
  const config = new URL('../../redocly.yaml', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [REDOCLY, 'lint', file, '--config', config, '--format', 'json'],
    { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
  ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return JSON.parse(stdout) as { totals: unknown; problems: unknown[] };
}

/** Where a program tells the compiler instead of asking it: `x as T` (but `as const`), `<T>x`, `x!`. */
function assertionsIn(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    const isConst = ts.isAsExpression(node) && node.type.getText(source) === 'const';
    if ((ts.isAsExpression(node) && !isConst) || ts.isTypeAssertionExpression(node) || ts.isNonNullExpression(node))
      found.push(node.getText(source));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * The compiler in a process of its own (the native one, as `npm run typecheck`): the services under test share this
 * event loop, and the compiler API held it 3.5 s quiet and longer beside busy loops, past the services' keep-alive
 * timeout, so the next fetch on a pooled connection met the server closing it (ECONNRESET, 1 busy run in 3).
 */
const TSC = new URL('../../node_modules/typescript-native/bin/tsc', import.meta.url).pathname;

it('compiles: the flow program type-checks against the types generated from docs/openapi.yaml, strictest, no cast', async () => {
  const root = new URL('../..', import.meta.url).pathname;
  // The types an integrator generates from the committed document are the ones the program is written against.
  const committedDocument: unknown = parse(readFileSync(join(root, 'docs/openapi.yaml'), 'utf8'));
  expect(await clientTypes(committedDocument)).toBe(committedTypes);
  expect(assertionsIn(join(root, 'test/client/readme-flow.ts'))).toEqual([]);
  const project = join(scratch, 'tsconfig.flow.json');
  writeFileSync(
    project,
    JSON.stringify({
      extends: join(root, 'tsconfig.json'),
      compilerOptions: {
        noEmit: true,
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        // Type libraries are looked up from the config's folder: this one is in a scratch folder.
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: [join(root, 'test/client/readme-flow.ts')],
      include: [],
    }),
  );
  const { stdout, code } = await promisify(execFile)(process.execPath, [TSC, '-p', project, '--pretty', 'false']).then(
    ({ stdout }) => ({ stdout, code: 0 }),
    (error: { stdout?: string; code?: number }) => ({ stdout: error.stdout ?? '', code: error.code ?? 1 }),
  );
  expect(stdout.split('\n').filter(Boolean)).toEqual([]);
  expect(code).toBe(0);
}, 60_000);

describe.each([
  ['open mode', () => open, undefined],
  ['keys', () => keyed, CLIENT_KEY],
] as const)('%s', (_mode, service, key) => {
  it('serves a document that names every operation once, with tags, and that Redocly finds nothing in', async () => {
    const document = await served(service());
    const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
    const ids = operations.map((operation) => operation.operationId);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const operation of operations) expect(operation.tags?.length, operation.operationId).toBeGreaterThan(0);
    const report = await redoclyLint(document, _mode.replace(' ', '-'));
    expect(report.problems).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
  });

  it('generates exactly the committed client types (run `npm run openapi` after changing the API)', async () => {
    const document = await served(service());
    const types = await clientTypes(document);
    expect(types).toBe(committedTypes);
    for (const item of Object.values(document.paths))
      for (const { operationId } of Object.values(item)) expect(types).toContain(`operations["${operationId}"]`);
  });

  it("runs the README's flow through openapi-fetch: an order, reading it back, a decline, a 401 and a 404", async () => {
    const report = await readmeFlow(service().url.origin, key, `flow-${key ? 'keys' : 'open'}-${Date.now()}`);
    expect(report.placed).toMatchObject({ status: 200, outcome: 'ok', requestId: expect.any(String) });
    expect(report.readBack).toMatchObject({
      order_id: report.placed.orderId,
      state: 'done',
      outcome: { http_status: 200, kind: 'ok' },
      payment: { charged: 1200, refunded: 0 },
    });
    expect(report.declined).toEqual({ status: 400, kind: 'payment_declined', charged: 0 });
    expect(report.withoutKey).toBe(key ? 'unauthorized' : undefined);
    expect(report.unknown).toEqual({ status: 404, kind: 'not_found' });
    await expectAtRest(service(), THREADS);
  });
});
