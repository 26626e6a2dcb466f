/**
 * The settings of the dependencies the steps call: their breakers, and
 * the steps' retries.
 * Declared as src/settings/settings.ts says.
 */
import { everyStep, STEP_NAMES, type PerStep } from '../domain/steps.js';
import { custom, integer, pairs } from './setting.js';

const DEFAULT_STEP_RETRIES = 2;
const MAX_STEP_RETRIES = 10;

export const DEPENDENCIES = {
  BREAKER_FAILURES: integer({
    field: 'breakerFailures',
    min: 0,
    max: 1000,
    fallback: 5,
    allowed: '0–1000; 0: no breakers',
    about:
      'consecutive failures of a dependency itself that open its breaker — from two clients or more, or from the only client calling it lately',
  }),
  BREAKER_OPEN_MS: integer({
    field: 'breakerOpenMs',
    min: 1,
    max: 3_600_000,
    fallback: 5000,
    about: 'how long an open breaker refuses before a probe per client goes through',
  }),
  STEP_RETRIES: custom({
    field: 'stepRetries',
    rule: `step:retries pairs, comma-separated, each step one of ${STEP_NAMES.join(', ')} at most once and retries an integer from 0 to ${MAX_STEP_RETRIES}`,
    schema: pairs((name) => (STEP_NAMES as readonly string[]).includes(name), 0, MAX_STEP_RETRIES).transform(
      (named): PerStep<number> => ({ ...everyStep(DEFAULT_STEP_RETRIES), ...Object.fromEntries(named) }),
    ),
    fallback: (): PerStep<number> => everyStep(DEFAULT_STEP_RETRIES),
    default: STEP_NAMES.map((step) => `${step}:${DEFAULT_STEP_RETRIES}`).join(','),
    allowed: `0–${MAX_STEP_RETRIES} each`,
    about: 'calls a step makes again after its dependency answered unavailable, with jitter, while the deadline allows',
  }),
};
