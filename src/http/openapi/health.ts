/**
 * The OpenAPI description of what runs the service rather than its orders:
 * the probes, its version, and this document itself.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { healthReportSchema, readinessSchema, versionSchema } from '../wire/api-schemas.js';
import { ALLOW, error, json, keylessLimited, misdirected } from './shared.js';

/** The liveness and readiness probes, and the build's version. */
export function registerHealth(registry: OpenAPIRegistry): void {
  /** `unavailable`: when it answers 503; liveness never does (a draining process is alive). */
  const probe = (operationId: string, path: string, summary: string, schema: z.ZodType, unavailable?: string) => {
    registry.registerPath({
      method: 'get',
      path,
      operationId,
      tags: ['health'],
      security: [],
      summary: `${summary} Public, whatever the Host header says (a load balancer probes by address).`,
      responses: {
        200: { description: 'OK.', content: json(schema) },
        405: error('Only GET and HEAD.', ALLOW),
        ...(unavailable ? { 503: { description: unavailable, content: json(schema) } } : {}),
      },
    });
  };
  probe(
    'getHealth',
    '/healthz',
    'Liveness: what is running right now, read from the shared memory the worker threads write to. 200 whenever the process answers, while draining too (`status` says `draining`): a draining process must not be restarted.',
    healthReportSchema,
  );
  probe(
    'getReadiness',
    '/readyz',
    'Readiness: whether to send this server orders.',
    readinessSchema,
    'The server is draining, shedding orders, or (with DATABASE_URL) cannot reach Postgres or holds no lease.',
  );

  registry.registerPath({
    method: 'get',
    path: '/version',
    operationId: 'getVersion',
    tags: ['meta'],
    security: [],
    summary: 'What build this is: its version, commit when known, and Node version. Needs no key.',
    responses: {
      200: { description: 'OK.', content: json(versionSchema) },
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
      429: keylessLimited,
    },
  });
}

/** GET /openapi.json: this document. */
export function registerThisDocument(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tags: ['meta'],
    security: [],
    request: {
      headers: z.object({
        'if-none-match': z.string().optional().meta({ description: 'The ETag of a copy the client has.' }),
      }),
    },
    summary: 'This document.',
    responses: {
      200: {
        description:
          'OpenAPI 3.1, gzip, deflate or br compressed when the request accepts it. In open mode it names no security.',
        headers: {
          ETag: { description: 'Strong: send it back as If-None-Match.', schema: { type: 'string' } },
          'Cache-Control': {
            description: 'no-cache: keep it, but ask with If-None-Match.',
            schema: { type: 'string' },
          },
        },
        content: { 'application/json': { schema: z.looseObject({}) } },
      },
      304: {
        description: 'If-None-Match named the current ETag: the copy the client has is this document.',
        headers: { ETag: { description: 'The same ETag.', schema: { type: 'string' } } },
      },
      405: error('Only GET and HEAD.', ALLOW),
      421: misdirected,
      429: keylessLimited,
    },
  });
}
