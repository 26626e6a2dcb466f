/**
 * The admin's switch for the dependencies' simulated outages, to see an
 * outage and test what it does: GET /admin/dependencies lists every
 * dependency's outage and circuit breaker; POST /admin/dependencies/{name}
 * with {"outage": true} makes every call to it fail as unavailable — or a
 * share of them with "failure_ratio" (a partial outage), and every answer
 * later by "latency_ms" — and {"outage": false} ends it; it answers the
 * dependency's state. The body is decoded as strictly as an order's.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { dependencyNamed, MAX_ADDED_LATENCY_MS, type Dependency } from '../../domain/dependencies.js';
import type { BreakerJson, DependencyStateJson } from '../wire/api-schemas.js';
import { readBody } from '../wire/body-reader.js';
import { describeIssues, parseJsonObject, requireJson } from '../wire/json-body.js';
import type { Responder } from '../wire/responses.js';
import { audit } from '../../observability/logging.js';
import { auditActor } from '../guards/authorization.js';

export const dependencyOutageBodySchema = z
  .strictObject({
    outage: z.boolean().meta({
      description:
        'true: switch the outage on (every call fails as unavailable unless failure_ratio says otherwise); false: end it.',
    }),
    failure_ratio: z.number().min(0).max(1).optional().meta({
      description:
        'Only with outage true: the share of calls answered unavailable, drawn per call (a partial outage). Default 1.',
    }),
    latency_ms: z
      .int()
      .min(0)
      .max(MAX_ADDED_LATENCY_MS)
      .optional()
      .meta({ description: 'Only with outage true: how much later every call is answered. Default 0.' }),
  })
  .superRefine((body, ctx) => {
    if (!body.outage) {
      for (const field of ['failure_ratio', 'latency_ms'] as const) {
        if (body[field] !== undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: 'only with "outage": true' });
      }
    } else if (body.failure_ratio === 0 && !body.latency_ms) {
      ctx.addIssue({
        code: 'custom',
        path: ['failure_ratio'],
        message: 'an outage that fails no call and adds no latency_ms changes nothing',
      });
    }
  })
  .meta({
    id: 'DependencyOutage',
    description:
      'With outage false, no other field; with outage true, a failure_ratio of 0 needs a latency_ms above 0 (an outage that changes nothing is refused).',
    // What superRefine checks above, said in the document too: none of these bodies is accepted.
    not: {
      anyOf: [
        { required: ['failure_ratio'], properties: { outage: { const: false }, failure_ratio: {} } },
        { required: ['latency_ms'], properties: { outage: { const: false }, latency_ms: {} } },
        {
          required: ['failure_ratio'],
          properties: { outage: { const: true }, failure_ratio: { const: 0 }, latency_ms: { const: 0 } },
        },
      ],
    },
  });

/** A dependency's circuit breaker, as it reads now. */
export interface BreakerState {
  readonly state: 'closed' | 'open' | 'half_open';
  readonly consecutiveFailures: number;
  /** While open: milliseconds until it lets a probe order through. */
  readonly openForMs: number;
}

export interface Outage {
  readonly failureRatio: number;
  readonly latencyMs: number;
}

export interface DependencyState {
  readonly dependency: Dependency;
  /** No outage: a ratio of 0 and no latency. */
  readonly outage: Outage;
  readonly refusedCalls: number;
  /** Undefined when breakers are off. */
  readonly breaker: BreakerState | undefined;
}

/** What the routes need of the service. */
export interface DependencyControl {
  states(): DependencyState[];
  /** Switch `dependency`'s outage (a ratio of 0 and no latency ends it); its state afterwards. */
  switchOutage(dependency: Dependency, outage: Outage): DependencyState;
}

export function breakerJson({ state, consecutiveFailures, openForMs }: BreakerState): BreakerJson {
  return {
    state,
    consecutive_failures: consecutiveFailures,
    open_until: state === 'open' ? new Date(Date.now() + openForMs).toISOString() : null,
  };
}

function stateJson({ dependency, outage, refusedCalls, breaker }: DependencyState): DependencyStateJson {
  const out = outage.failureRatio > 0 || outage.latencyMs > 0;
  return {
    dependency: dependency.name,
    title: dependency.title,
    outage: out ? { failure_ratio: outage.failureRatio, latency_ms: outage.latencyMs } : null,
    calls_refused: refusedCalls,
    breaker: breaker ? breakerJson(breaker) : null,
  };
}

/** GET /admin/dependencies. */
export function dependencyList(control: DependencyControl, responder: Responder): RequestHandler {
  return (_req, res) => responder.json(res, 200, { dependencies: control.states().map(stateJson) });
}

/** POST /admin/dependencies/{name}: the name first (404 whatever the body), then the body. */
export function dependencySwitch(control: DependencyControl, responder: Responder): RequestHandler[] {
  const named: RequestHandler = (req, res, next) => {
    const name = req.params['dependency'];
    if (typeof name === 'string' && dependencyNamed(name)) return next();
    responder.error(res, 'not_found', `no dependency named ${JSON.stringify(name)}: payment, vendor or courier`);
  };
  const change: RequestHandler = (req, res) => {
    const dependency = dependencyNamed(String(req.params['dependency']))!;
    const json = parseJsonObject(Buffer.isBuffer(req.body) ? req.body : undefined);
    if (!json.ok) return responder.error(res, 'bad_request', json.message);
    const parsed = dependencyOutageBodySchema.safeParse(json.value);
    if (!parsed.success) return responder.error(res, 'bad_request', describeIssues(parsed.error));
    const { outage, failure_ratio = 1, latency_ms = 0 } = parsed.data;
    const state = control.switchOutage(
      dependency,
      outage ? { failureRatio: failure_ratio, latencyMs: latency_ms } : { failureRatio: 0, latencyMs: 0 },
    );
    audit(
      res.locals.log,
      'warn',
      {
        audit: 'dependency_outage_switched',
        ...auditActor(res.locals.caller),
        dependency: dependency.name,
        outage: stateJson(state).outage,
      },
      outage ? 'dependency outage switched on' : 'dependency outage switched off',
    );
    responder.json(res, 200, stateJson(state));
  };
  return [named, requireJson(responder), readBody(), change];
}
