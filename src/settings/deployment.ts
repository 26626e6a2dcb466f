/**
 * The settings of deployment and shutdown.
 * Declared as src/settings/settings.ts says.
 */
import { KUBERNETES_DRAIN_DELAY_MS, SHUTDOWN_MARGIN_MS, windDownMs } from './bounds.js';
import { integer, text, type Read } from './setting.js';

export const DEPLOYMENT = {
  KUBERNETES_SERVICE_HOST: text({
    needs: 'kubernetes',
    default: 'set by the kubelet in every pod',
    allowed: 'any',
    about: 'read only to know the process runs in a pod: `DRAIN_DELAY_MS` defaults to 5000 there',
  }),
  DRAIN_DELAY_MS: integer({
    field: 'drainDelayMs',
    min: 0,
    max: 600_000,
    fallback: (read) => (read.env['KUBERNETES_SERVICE_HOST'] ? KUBERNETES_DRAIN_DELAY_MS : 0),
    default: '0; 5000 in a Kubernetes pod (`KUBERNETES_SERVICE_HOST` set)',
    about:
      "from SIGTERM to the start of the drain: `/readyz` answers 503 at once while orders are still served, for the load balancer to stop routing here; a pod's `terminationGracePeriodSeconds` must cover it plus `SHUTDOWN_TIMEOUT_MS`",
  }),
  SHUTDOWN_TIMEOUT_MS: integer({
    field: 'shutdownTimeoutMs',
    min: (read) => shortestShutdownMs(read),
    max: 600_000,
    fallback: (read) => Math.max(10_000, shortestShutdownMs(read)),
    why: () => 'to let a canceled order void its payment: 2 × CANCEL_GRACE_MS + REFUND_TIMEOUT_MS + 250',
    default: '10000',
    allowed: '2 × `CANCEL_GRACE_MS` + `REFUND_TIMEOUT_MS` + 250 (1750) – 600000',
    about:
      'from the start of the drain (`DRAIN_DELAY_MS` after SIGTERM) to exit; never less than a canceled order needs to void its payment',
  }),
  WARM_UP_MS: integer({
    field: 'warmUpMs',
    min: 0,
    max: 60_000,
    fallback: 1000,
    about:
      'before listening, orders run this long through the step threads and the HTTP path on scratch books, records and outbox, none of it kept, so that the first clients do not pay for V8 compiling the service (see [the warm-up](operating.md#the-warm-up)); 0: none',
  }),
  BUILD_COMMIT: text({
    default: 'set by the image build',
    allowed: 'a commit id',
    about: 'what `GET /version` and the `build_info` gauge name as the commit',
  }),
};

/** Shutdown must leave a canceled order time to void its payment: never cut a refund off. */
function shortestShutdownMs(read: Read): number {
  return (
    windDownMs({ cancelGraceMs: read.number('CANCEL_GRACE_MS'), refundTimeoutMs: read.number('REFUND_TIMEOUT_MS') }) +
    SHUTDOWN_MARGIN_MS
  );
}
