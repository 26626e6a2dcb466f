/**
 * Requests and responses made with Express's prototypes from the start.
 *
 * Express gives each request and response its app's prototype as it begins
 * to handle them (`Object.setPrototypeOf(req, app.request)`, and the same of
 * the response): two prototype changes a request, each a transition to a new
 * map of an object already built. Under `overhead` they were 3.3% of the main
 * thread's samples (perf; docs/measurements/2026-11-25-ids-and-prototypes.md).
 * A server given these classes makes its messages with those prototypes, and
 * Express's change finds nothing to change.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express } from 'express';

/** What `http.createServer`'s options take to make its requests and responses. */
export interface MessageClasses {
  readonly IncomingMessage: typeof IncomingMessage;
  readonly ServerResponse: typeof ServerResponse;
}

export const messageClassesOf = (app: Express): MessageClasses => ({
  IncomingMessage: bornWith(IncomingMessage, app.request),
  ServerResponse: bornWith(ServerResponse, app.response),
});

/** A constructor that builds what `Base` builds, with `prototype` (which inherits from Base's). */
function bornWith<Base extends abstract new (...args: never[]) => object>(
  base: Base,
  prototype: InstanceType<Base>,
): Base {
  // Reflect.construct runs Base's constructor on an object whose prototype is Message's, class or function alike.
  function Message(...args: ConstructorParameters<Base>): object {
    return Reflect.construct(base, args, Message) as object;
  }
  Message.prototype = prototype;
  return Message as unknown as Base;
}
