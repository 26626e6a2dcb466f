/**
 * The drain: the first part of the service's end, before the stages close.
 * It says not ready and serves on for DRAIN_DELAY_MS, then turns new work
 * away, lets every order in flight end — handing over to another instance
 * what can run on there (durable mode), canceling the rest, early enough
 * for it to stop and void its payments before SHUTDOWN_TIMEOUT_MS — and
 * closes every connection. From its start the instance takes no run over.
 */
import type { Logger } from 'pino';
import { SHUTDOWN_MARGIN_MS, windDownMs, type Config } from '../config.js';
import type { OrderDesk } from '../orders/order-desk.js';
import type { Store } from '../store/store.js';
import type { Edge } from './edge.js';
import { settlesWithin } from '../pipeline/task-group.js';

export async function drain(
  config: Config,
  log: Logger,
  edge: Edge,
  orders: OrderDesk,
  store: Pick<Store, 'stopTakingOver'>,
): Promise<void> {
  const { server, threadEvents, keyReload } = edge;
  edge.leave();
  keyReload?.close();
  // A stopping instance takes no lost instance's run over: it would only stop it again. What a pass under way took
  // over is counted before the drain waits for the desk to be idle.
  await store.stopTakingOver();
  if (config.drainDelayMs > 0) {
    log.info(
      { drain_delay_ms: config.drainDelayMs },
      'not ready: serving on while the load balancer stops routing here',
    );
    await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
  }
  const deadline = performance.now() + config.shutdownTimeoutMs;
  // From here on no new run is admitted, whenever its body finishes arriving.
  server.startDraining();
  // An open page's stream would otherwise hold its connection, and the drain, open.
  threadEvents.close();
  const idle = orders.whenIdle();
  // Cancel what is left early enough for it to stop and void its payments
  // before the deadline (the configuration guarantees the time exists).
  const cancelBy = Math.max(0, config.shutdownTimeoutMs - windDownMs(config) - SHUTDOWN_MARGIN_MS);
  if (!(await settlesWithin(idle, cancelBy))) {
    // What another instance can run on is handed over (durable mode): resumed there at once, as after a crash, not
    // failed here; the rest is canceled.
    const { handedOver, canceled } = orders.stopAtShutdown();
    log.warn(
      { orders_in_flight: orders.runsInFlight, handing_over: handedOver, canceled },
      'shutdown deadline near: handing over the orders still in flight that another instance can run on, canceling the rest',
    );
    // Every run, its refunds included, ends before the pool closes: none is cut off.
    await idle;
    // A run whose steps had all ended as it was stopped finishes here instead: what was handed over is the records'.
    if (handedOver > 0) log.warn({ handed_over: orders.handedOver }, 'orders handed over to another instance');
  }
  await server.whenClosed(Math.max(0, deadline - performance.now() - SHUTDOWN_MARGIN_MS));
}
