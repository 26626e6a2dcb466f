/**
 * The settings of tracing (the OpenTelemetry SDK's own variables), of the
 * logs and of the metrics.
 * Declared as src/settings/settings.ts says.
 */
import { z } from 'zod';
import { LOG_LEVELS } from '../shared-memory/log-level.js';
import { custom, oneOf, onOff } from './setting.js';

/** The OTLP encodings over HTTP the exporter speaks (gRPC is not among them: it would bring a second HTTP stack). */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
/** OTEL_TRACES_SAMPLER's values (the specification's, less the Jaeger remote sampler). */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
const OTLP_URL_RULE = "an http:// or https:// URL (the collector's OTLP/HTTP port, 4318)";
const otlpUrl = z.string().refine((raw) => /^https?:$/.test(URL.parse(raw)?.protocol ?? ''));

/** The standard variables of the OpenTelemetry SDK (its environment specification). */
export const TRACING = {
  OTEL_SDK_DISABLED: oneOf(['true', 'false'], {
    fallback: 'false',
    about: 'true: no exporter, whatever the endpoint (trace ids still reach the logs and `traceresponse`)',
  }),
  OTEL_EXPORTER_OTLP_ENDPOINT: custom({
    needs: 'tracing',
    rule: OTLP_URL_RULE,
    schema: otlpUrl,
    fallback: undefined as string | undefined,
    default: 'unset: no exporter, no SDK loaded',
    allowed: "an `http://` or `https://` URL (a collector's OTLP/HTTP port, 4318)",
    about:
      'where spans go, to its `/v1/traces` (see [tracing](operating.md#tracing)). The exporter also reads `OTEL_EXPORTER_OTLP_HEADERS`, `…_TIMEOUT`, `…_COMPRESSION` itself',
  }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: custom({
    needs: 'tracing',
    rule: OTLP_URL_RULE,
    schema: otlpUrl,
    fallback: undefined as string | undefined,
    default: 'unset',
    allowed: 'an `http://` or `https://` URL',
    about: "the whole URL spans are posted to, instead of the endpoint's `/v1/traces`",
  }),
  OTEL_EXPORTER_OTLP_PROTOCOL: oneOf([...OTLP_PROTOCOLS, 'grpc'], {
    needs: 'tracing',
    fallback: 'http/protobuf',
    allowed: OTLP_PROTOCOLS.join(', '),
    about: 'the encoding; `grpc` is refused',
  }),
  OTEL_SERVICE_NAME: custom({
    needs: 'tracing',
    rule: 'any text',
    schema: z.string(),
    fallback: 'order-threads',
    default: 'order-threads',
    allowed: 'any',
    about: "the spans' `service.name`",
  }),
  OTEL_TRACES_SAMPLER: oneOf(TRACE_SAMPLERS, {
    needs: 'tracing',
    fallback: 'parentbased_always_on',
    about:
      "which traces are recorded; a parent-based sampler follows the caller's sampled flag, whatever its ratio (the specification's rule): with callers not trusted, `traceidratio`, which this service draws itself rather than read off the caller's trace id (see [tracing](operating.md#tracing))",
  }),
  OTEL_TRACES_SAMPLER_ARG: custom({
    needs: 'tracing',
    rule: 'a ratio from 0 to 1',
    schema: z.string().transform(Number).pipe(z.number().min(0).max(1)),
    fallback: 1,
    default: '1',
    allowed: '0–1',
    about:
      'the ratio of the `traceidratio` samplers: of the requests (`traceidratio`), or of the traces begun here (`parentbased_traceidratio`)',
  }),
};

export const OBSERVABILITY = {
  LOG_LEVEL: oneOf(LOG_LEVELS, {
    field: 'logLevel',
    fallback: 'info',
    allowed: 'fatal … trace, silent',
    about: 'changed at run time by `POST /admin/log-level` (see [logs](operating.md#logs))',
  }),
  LOG_BUFFER: onOff({
    field: 'logBuffer',
    fallback: (read) => read.machine.stdoutIsTerminal !== true,
    default: 'off when stdout is a terminal, on otherwise',
    about:
      'on: lines gathered into 4 KiB writes, at most 1 s late (see [logs](operating.md#logs)); off: each line written at once',
  }),
  METRICS: onOff({ field: 'metrics', fallback: true, about: '`/metrics` and its measurements' }),
};
