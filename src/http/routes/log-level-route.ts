/**
 * The log level, changed at run time by the admin: GET /admin/log-level says
 * it, POST /admin/log-level with {"level": "debug"} sets it — on the main
 * thread at once and on every worker thread at its next task (a shared word,
 * src/shared-memory/log-level.ts) — and writes an audit line naming who did
 * it. One process's: each instance (INSTANCES) and each pod has its own.
 */
import type { RequestHandler } from 'express';
import { z } from 'zod';
import { LOG_LEVELS, type LogLevel } from '../../config.js';
import { audit } from '../../observability/logging.js';
import { auditActor } from '../guards/authorization.js';
import { readBody } from '../wire/body-reader.js';
import { describeIssues, parseJsonObject, requireJson } from '../wire/json-body.js';
import type { Responder } from '../wire/responses.js';

export const logLevelBodySchema = z
  .strictObject({
    level: z.enum(LOG_LEVELS).meta({ description: 'The level to log at from now on (LOG_LEVEL).' }),
  })
  .meta({ id: 'LogLevelChange' });

export const logLevelSchema = z
  .strictObject({
    level: z.enum(LOG_LEVELS).meta({ description: 'The level the process logs at now.' }),
    previous: z.enum(LOG_LEVELS).optional().meta({ description: 'After a change: the level before it.' }),
  })
  .meta({ id: 'LogLevel' });

/** What the routes need of the service. */
export interface LogLevelControl {
  current(): LogLevel;
  /** Log at `level` from now on, main thread and worker threads. */
  change(level: LogLevel): void;
}

/** GET /admin/log-level. */
export function logLevelReading(control: LogLevelControl, responder: Responder): RequestHandler {
  return (_req, res) => responder.json(res, 200, { level: control.current() });
}

/** POST /admin/log-level. */
export function logLevelChange(control: LogLevelControl, responder: Responder): RequestHandler[] {
  const change: RequestHandler = (req, res) => {
    const json = parseJsonObject(Buffer.isBuffer(req.body) ? req.body : undefined);
    if (!json.ok) return responder.error(res, 'bad_request', json.message);
    const parsed = logLevelBodySchema.safeParse(json.value);
    if (!parsed.success) return responder.error(res, 'bad_request', describeIssues(parsed.error));
    const previous = control.current();
    const { level } = parsed.data;
    control.change(level);
    audit(
      res.locals.log,
      'info',
      { audit: 'log_level_changed', ...auditActor(res.locals.caller), from: previous, to: level },
      'log level changed',
    );
    responder.json(res, 200, { level, previous });
  };
  return [requireJson(responder), readBody(), change];
}
