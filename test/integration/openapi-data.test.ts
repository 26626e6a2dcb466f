/**
 * The document's data checks, as an API fuzzer driven by it makes them
 * (positive data): every request example in docs/openapi.yaml, sent as it
 * is, is accepted — but the webhook URL under `.example`, refused on purpose
 * (docs/api.md says why) — and where the server refuses a request the
 * document's schema refuses it too, so data a tool makes from the schema is
 * not turned away: the dependency switch's cross-field rule, the event
 * feed's cursor (an empty one among them).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/openapi/openapi.js';
import { rawRequest, type RawResponse } from '../support/http.js';
import { expectAtRest } from '../support/leaks.js';
import { startTestService, type TestService } from '../support/service.js';

type Media = { schema?: unknown; examples?: Record<string, { value: unknown }> };
type Operation = {
  operationId: string;
  requestBody?: { content: Record<string, Media> };
  parameters?: Array<{ name: string; in: string; schema: unknown }>;
};
const document = JSON.parse(JSON.stringify(openApiDocument())) as {
  paths: Record<string, Record<string, Operation>>;
};
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(document, 'openapi');

const THREADS = 2;
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ config: { threads: THREADS } });
});
afterAll(async () => {
  await expectAtRest(svc, THREADS);
  await svc.shutdown();
});

const JSON_TYPE = { 'content-type': 'application/json' };
const kindOf = (response: RawResponse): string | undefined =>
  (response.json() as { error?: { kind?: string } }).error?.kind;
/** A path of the document with its parameters filled in. */
const concrete = (path: string): string => path.replace('{dependency}', 'vendor');

describe('every request example, sent as it is', () => {
  const examples = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).flatMap(([method, operation]) =>
      Object.entries(operation.requestBody?.content['application/json']?.examples ?? {}).map(([name, { value }]) => ({
        label: `${operation.operationId} ${name}`,
        method,
        path,
        value,
      })),
    ),
  );

  it('is accepted: none is refused as a bad request, but the webhook URL that never resolves', async () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    const refused: string[] = [];
    // In the document's order: the outage example that switches it on comes before the one that ends it.
    for (const { label, method, path, value } of examples) {
      const response = await rawRequest(svc.url, {
        method: method.toUpperCase(),
        path: concrete(path),
        headers: JSON_TYPE,
        body: JSON.stringify(value),
      });
      if (kindOf(response) === 'bad_request' || response.status === 422) refused.push(`${label}: ${response.text}`);
    }
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/^createWebhook endpoint: .*shop\.example.*(resolve|resolves)/);
  });
});

describe('the schema refuses what the server refuses, and takes what it takes', () => {
  it("POST /admin/dependencies/{dependency}: the outage body's rules", async () => {
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/DependencyOutage' });
    const bodies = [
      { outage: true },
      { outage: false },
      { outage: true, failure_ratio: 0.5 },
      { outage: true, failure_ratio: 0, latency_ms: 5 },
      { outage: true, latency_ms: 0 },
      { outage: false, failure_ratio: 0.5 },
      { outage: false, latency_ms: 10 },
      { outage: true, failure_ratio: 0 },
      { outage: true, failure_ratio: 0, latency_ms: 0 },
    ];
    const verdicts: Array<{ body: unknown; schema: boolean; server: boolean }> = [];
    for (const body of bodies) {
      const response = await rawRequest(svc.url, {
        path: '/admin/dependencies/vendor',
        headers: JSON_TYPE,
        body: JSON.stringify(body),
      });
      expect([200, 400], response.text).toContain(response.status);
      verdicts.push({ body, schema: validate(body), server: response.status === 200 });
    }
    await rawRequest(svc.url, { path: '/admin/dependencies/vendor', headers: JSON_TYPE, body: '{"outage":false}' });
    expect(verdicts.filter(({ schema, server }) => schema !== server)).toEqual([]);
    expect(verdicts.filter(({ server }) => !server).length).toBeGreaterThanOrEqual(4);
  });

  it('GET /events: the cursor, an empty one among those refused', async () => {
    const after = document.paths['/events']!['get']!.parameters!.find((parameter) => parameter.name === 'after')!;
    const validate = ajv.compile(after.schema as object);
    const page = await rawRequest(svc.url, { method: 'GET', path: '/events?limit=1' });
    expect(page.status).toBe(200);
    const given = (page.json() as { next: string }).next;
    const cursors = [given, '', 'x', `c1.${'A'.repeat(600)}`];
    const verdicts: Array<{ cursor: string; schema: boolean; server: boolean }> = [];
    for (const cursor of cursors) {
      const response = await rawRequest(svc.url, { method: 'GET', path: `/events?after=${cursor}` });
      expect([200, 400], response.text).toContain(response.status);
      verdicts.push({ cursor: cursor.slice(0, 20), schema: validate(cursor), server: response.status === 200 });
    }
    expect(verdicts.filter(({ schema, server }) => schema !== server)).toEqual([]);
    expect(verdicts[0]).toMatchObject({ server: true });
  });
});
