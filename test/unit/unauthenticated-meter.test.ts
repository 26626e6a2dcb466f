/**
 * The keyless meter's sense of a flood: a flood metered per second is refused in waves a second apart, and between two
 * waves it must still count as one, or the event loop's lateness it left sheds keyed orders by tier.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { UNAUTHENTICATED_PER_SECOND, UnauthenticatedMeter } from '../../src/http/guards/unauthenticated-meter.js';

describe('UnauthenticatedMeter', () => {
  it('counts a flood as one between its waves of refusals, a second apart and a little more', async () => {
    let now = 0;
    const meter = new UnauthenticatedMeter(pino({ level: 'silent' }), () => now);
    expect(meter.flooding).toBe(false);
    for (let i = 0; i < UNAUTHENTICATED_PER_SECOND; i++) expect(await meter.take('10.0.0.1')).toBeUndefined();
    expect(await meter.take('10.0.0.1')).toBeGreaterThan(0);
    expect(meter.flooding).toBe(true);
    // The next wave is answered at the window's end and comes back a little after it: still the same flood.
    // Before: a memory of one second lapsed here.
    now = 1300;
    expect(meter.flooding).toBe(true);
    // Long after the last refusal, the flood is over.
    now = 10_000;
    expect(meter.flooding).toBe(false);
  });
});
