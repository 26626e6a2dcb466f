/**
 * The OpenAPI 3.1 description of the whole HTTP API, generated from the zod
 * schemas the service itself decodes requests with and builds responses
 * from: one source, so the document cannot say something the code does not.
 * docs/openapi.yaml is this document, written by `npm run openapi`, with
 * the default address as its server; /openapi.json serves it with the
 * address the server really listens on. Its version is the service's.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { SERVICE_VERSION } from '../../version.js';
import { registerAdmin } from './admin.js';
import { completed } from './completion.js';
import { registerEvents } from './events.js';
import { registerHealth, registerThisDocument } from './health.js';
import { registerOrderCancel, registerOrderViews } from './order-views.js';
import { registerOrders } from './orders.js';
import { registerSecuritySchemes, SECURITY, type Document, type DocumentedAccess } from './shared.js';

const documents = new Map<DocumentedAccess, Document>();

/** The server docs/openapi.yaml names: the default HOST and PORT. */
export const DOCUMENTED_SERVER = 'http://127.0.0.1:8080';

/**
 * The document, naming `serverUrl` as its server (by default the documented
 * one) and the credentials `access` needs (by default both: docs/openapi.yaml).
 * Built once per access: the schemas it is made of do not change while the
 * service runs.
 */
export function openApiDocument({
  serverUrl = DOCUMENTED_SERVER,
  access = 'either',
}: { serverUrl?: string; access?: DocumentedAccess } = {}): Document {
  let document = documents.get(access);
  if (!document) {
    document = completed(buildDocument(access));
    documents.set(access, document);
  }
  return serverUrl === DOCUMENTED_SERVER ? document : { ...document, servers: [{ url: serverUrl }] };
}

/** Each area's paths, in the document's order, then what every operation shares (completed). */
function buildDocument(access: DocumentedAccess): Document {
  const keyed = SECURITY[access];
  const registry = new OpenAPIRegistry();
  if (access !== 'open') registerSecuritySchemes(registry);
  registerOrders(registry, keyed);
  registerOrderCancel(registry, keyed);
  registerHealth(registry);
  registerAdmin(registry, keyed);
  registerOrderViews(registry, keyed);
  registerEvents(registry, keyed);
  registerThisDocument(registry);

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'order-threads',
      version: SERVICE_VERSION,
      description:
        "Order orchestration over a worker pool of OS threads. Callers are known by API keys: a client's key sends and reads that client's own orders; the admin key reaches the thread view, the metrics, faults and the dependencies' outage switch. In open mode (no keys configured, loopback only) nobody needs one: the document served at /openapi.json then names no security, and docs/openapi.yaml, which stands for both modes, offers the empty requirement ({}) beside the keys. Every response carries security headers (nosniff, no referrer, no framing). Any other path is 404 not_found with an ErrorResponse.",
    },
    security: keyed,
    servers: [{ url: DOCUMENTED_SERVER }],
  });
}
