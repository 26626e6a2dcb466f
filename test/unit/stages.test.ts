/** The service's stages (src/composition/stages.ts): what is built is closed in reverse, on a shutdown as on a failed start. */
import { describe, expect, it } from 'vitest';
import { Stages } from '../../src/composition/stages.js';

function recording(): { closed: string[]; stage: (name: string) => () => { made: string; close: () => void } } {
  const closed: string[] = [];
  return { closed, stage: (name) => () => ({ made: name, close: () => void closed.push(name) }) };
}

describe('Stages', () => {
  it('closes every stage built, the last first, each once the one after it has closed', async () => {
    const stages = new Stages();
    const closed: string[] = [];
    const slow = async (): Promise<{ made: string; close: () => Promise<void> }> => ({
      made: 'store',
      close: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        closed.push('store');
      },
    });
    await stages.build(() => ({ made: 'tracing', close: () => void closed.push('tracing') }));
    expect(await stages.build(slow)).toBe('store');
    await stages.build(() => ({ made: 'edge', close: () => void closed.push('edge') }));
    await stages.close();
    expect(closed).toEqual(['edge', 'store', 'tracing']);
    await stages.close();
    expect(closed).toEqual(['edge', 'store', 'tracing']);
  });

  it('closes what was built before a stage that fails, in reverse, and keeps the failure and its cause', async () => {
    const stages = new Stages();
    const { closed, stage } = recording();
    await stages.build(stage('tracing'));
    await stages.build(stage('store'));
    const refused = new Error('the webhook-delivery thread could not start', { cause: { code: '57P03' } });
    const failed = await stages
      .build(() => {
        throw refused;
      })
      .catch((error: unknown) => error);
    expect(failed).toBe(refused);
    expect(closed).toEqual(['store', 'tracing']);
  });

  it('closes every stage when a step run on them fails (the start after the stages: warm-up, recovery, listening)', async () => {
    const stages = new Stages();
    const { closed, stage } = recording();
    await stages.build(stage('store'));
    await stages.build(stage('engine'));
    const listening = new Error('listen EADDRINUSE');
    await expect(stages.orClose(() => Promise.reject(listening))).rejects.toBe(listening);
    expect(closed).toEqual(['engine', 'store']);
  });
});
