/**
 * A baseline for tests that pile up orders faster than they end: how many orders a second this process sends (raw
 * sockets) and a service of its own takes in and answers, on these cores as busy as they are now. Beside busy cores
 * it falls from ~1,000 to ~85 a second, and a test whose orders last a fixed time never piles up what it needs: it
 * sizes what it waits on from this instead (the test's race with the CPU, not the service's).
 */
import { startTestService } from './service.js';

export async function arrivalsPerSecond(orders = 400): Promise<number> {
  const probe = await startTestService({ config: { threads: 2 } });
  try {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: orders }, (_, i) =>
        probe.orderOnce({ order_id: `arrival-${i}`, amount: 10, delay_ms: { payment: 0, vendor: 0, courier: 0 } }),
      ),
    );
    return orders / ((performance.now() - started) / 1000);
  } finally {
    await probe.shutdown();
  }
}
