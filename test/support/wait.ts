/**
 * Waiting for something that has no response to wait on (a client that left
 * gets none): poll, with a bound that fails the test instead of hanging it.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { within = 5000, every = 10 } = {},
): Promise<T> {
  const deadline = performance.now() + within;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (performance.now() > deadline)
      throw new Error(`condition not met within ${within} ms; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
