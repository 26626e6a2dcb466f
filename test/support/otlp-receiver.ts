/**
 * An OTLP/HTTP receiver on loopback, for the tracing tests: it takes what the
 * service's exporter posts to /v1/traces and keeps every span. OTLP/JSON is
 * decoded (its ids are hex, its attributes typed values); a protobuf export
 * is kept as it came, for a test to find the ids' bytes in.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  readonly kind: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly events: readonly string[];
  /** The spans it links to (a webhook delivery's order). */
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>;
  readonly serviceName: string;
}

export interface OtlpReceiver {
  /** The base URL: OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Protobuf bodies as they came. */
  readonly protobufBodies: Buffer[];
  readonly contentTypes: string[];
  spansOf(traceId: string): ReceivedSpan[];
  close(): Promise<void>;
}

interface JsonValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}
interface JsonKeyValue {
  readonly key: string;
  readonly value: JsonValue;
}
interface JsonSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: string | number;
  readonly endTimeUnixNano: string | number;
  readonly attributes?: readonly JsonKeyValue[];
  readonly status?: { readonly code?: number; readonly message?: string };
  readonly events?: ReadonlyArray<{ readonly name: string }>;
  readonly links?: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>;
}
interface JsonExport {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: readonly JsonKeyValue[] };
    readonly scopeSpans?: ReadonlyArray<{ readonly spans?: readonly JsonSpan[] }>;
  }>;
}

const valueOf = (value: JsonValue): string | number | boolean =>
  value.stringValue ??
  (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue ?? ''));

const attributesOf = (list: readonly JsonKeyValue[] = []): Record<string, string | number | boolean> =>
  Object.fromEntries(list.map(({ key, value }) => [key, valueOf(value)]));

/** Nanoseconds since the epoch, as milliseconds. */
const msOf = (nanos: string | number): number => Number(BigInt(nanos) / 1000n) / 1000;

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const protobufBodies: Buffer[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      contentTypes.push(type);
      if (type.includes('json')) {
        const exported = JSON.parse(body.toString('utf8')) as JsonExport;
        for (const resourceSpans of exported.resourceSpans ?? []) {
          const serviceName = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
          for (const scope of resourceSpans.scopeSpans ?? [])
            for (const span of scope.spans ?? [])
              spans.push({
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ?? '',
                name: span.name,
                kind: span.kind,
                startMs: msOf(span.startTimeUnixNano),
                endMs: msOf(span.endTimeUnixNano),
                attributes: attributesOf(span.attributes),
                statusCode: span.status?.code ?? 0,
                statusMessage: span.status?.message ?? '',
                events: (span.events ?? []).map((event) => event.name),
                links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId })),
                serviceName,
              });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else {
        protobufBodies.push(body);
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    protobufBodies,
    contentTypes,
    spansOf: (traceId) => spans.filter((span) => span.traceId === traceId),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
