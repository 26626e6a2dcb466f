/**
 * Requests and responses made with Express's prototypes from the start.
 *
 * Express gives each request and response its app's prototype as it begins
 * to handle them (`Object.setPrototypeOf(req, app.request)`, and the same of
 * the response): two prototype changes a request, each a transition to a new
 * map of an object already built, on the path of every order.
 * A server given these classes makes its messages with those prototypes, and
 * Express's change finds nothing to change.
 *
 * Each response is also born with its `res.locals`, which Express would make
 * as `Object.create(null)`: an object without a prototype is in V8's
 * dictionary mode from the start, its properties in a hash table of its own
 * (255 bytes an order in flight, heap snapshots) and every read of
 * `res.locals.requestId`, `.caller` or `.trace` a lookup in it. Locals made
 * here are a plain object with a prototype of their own that is empty and
 * has none above it: nothing inherited can be read as a local, as with
 * Express's, and they keep the fast shape that the same fields added in the
 * same order give every request.
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
  ServerResponse: bornWith(ServerResponse, app.response, withLocals),
});

/** A response's locals: their fields are the modules' that set them (Express.Locals); none is inherited. */
class ResponseLocals {}
// Nothing above its prototype: no name read from locals is found on Object.prototype.
Object.setPrototypeOf(ResponseLocals.prototype, null);

const withLocals = (response: object): void => {
  // Set before Express's app.handle, which keeps locals it finds.
  (response as { locals?: object }).locals = new ResponseLocals();
};

/** A constructor that builds what `Base` builds, with `prototype` (which inherits from Base's). */
function bornWith<Base extends abstract new (...args: never[]) => object>(
  base: Base,
  prototype: InstanceType<Base>,
  made: (message: object) => void = () => {},
): Base {
  // Reflect.construct runs Base's constructor on an object whose prototype is Message's, class or function alike.
  function Message(...args: ConstructorParameters<Base>): object {
    const message = Reflect.construct(base, args, Message) as object;
    made(message);
    return message;
  }
  Message.prototype = prototype;
  return Message as unknown as Base;
}
