/**
 * The settings of the clients sharing the service: their keys, weights,
 * tiers, shares and rate limits.
 * Declared as src/settings/settings.ts says.
 */
import { z } from 'zod';
import { CLIENT_NAME } from '../auth/caller.js';
import { isTier, TIERS, type Tier } from '../domain/tier.js';
import { DEFAULT_TIER_CEILINGS, type TierCeilings } from '../fairness/tiers.js';
import { custom, onOff, optionalInteger, pairs, secretFile, text } from './setting.js';

const MAX_CLIENT_WEIGHT = 1000;
const MAX_RATE_LIMIT = 1_000_000;
/** Orders per second per client when keys are configured and CLIENT_RATE_LIMIT is not set. */
export const DEFAULT_CLIENT_RATE_LIMIT = 100;
/**
 * Requests a second per client on every route but POST /order, when keys are configured and CLIENT_REQUEST_RATE_LIMIT
 * is not set: five reads or cancels of each of its orders at CLIENT_RATE_LIMIT, say a client of respond-async polling.
 */
export const DEFAULT_CLIENT_REQUEST_RATE_LIMIT = 500;
/** CLIENT_MAX_SHARE when not set. */
export const DEFAULT_CLIENT_MAX_SHARE = 0.6;
const KEY_RULE = 'a key ≥ 32 of A-Z a-z 0-9 _ -';

export const CLIENTS = {
  API_KEYS: text({
    needs: 'keys',
    secret: true,
    default: 'unset',
    allowed: `\`client:key,…\`; a client 1–64 of A-Z a-z 0-9 _ . -, ${KEY_RULE}`,
    about: 'the clients and their keys; never logged, never repeated in an error',
  }),
  ADMIN_KEY: text({
    needs: 'keys',
    secret: true,
    default: 'unset',
    allowed: '≥ 32 of A-Z a-z 0-9 _ -; several comma-separated',
    about:
      'the admin surface: `/threads`, `/metrics`, `/admin/…`, `faults`; each key given is accepted, so a new one can be handed out before the old one is removed',
  }),
  API_KEYS_FILE: secretFile(
    { variable: 'API_KEYS', shape: 'lines' },
    {
      needs: 'keys',
      default: 'unset',
      allowed: 'a readable file, one `client:key` a line',
      about:
        "`API_KEYS` read from this file instead (blank lines and `#` lines skipped); both set is refused. Read again when the file (or its folder: a Secret's symlink swap) changes, and on SIGHUP (with `INSTANCES`, sent to the primary): a key added works and a removed one is refused within a second, with an audit line (`keys_reloaded`) naming the clients added, removed or rekeyed, never a key; a file without fit keys is refused and the keys in use kept, and so is one that held keys and holds none now (`keys_reload_refused`), unless `KEY_FILES_ALLOW_EMPTY=on`",
    },
  ),
  ADMIN_KEY_FILE: secretFile(
    { variable: 'ADMIN_KEY', shape: 'lines' },
    {
      needs: 'keys',
      default: 'unset',
      allowed: 'a readable file, one key a line',
      about:
        '`ADMIN_KEY` read from this file instead, every key in it accepted; both set is refused. Read again on change and on SIGHUP, as `API_KEYS_FILE`',
    },
  ),
  KEY_FILES_ALLOW_EMPTY: onOff({
    field: 'keyFilesAllowEmpty',
    needs: 'keys',
    fallback: false,
    about:
      'on: a key file read again that held keys and holds none now (emptied, or comments only) is meant, and revokes them; off: it is refused, the keys in use kept, with an error audit line (`keys_reload_refused`) — an emptied file is more often a writer caught halfway, or a mistake, than a wish to lock every client or the admin out',
  }),
  ALLOW_ANONYMOUS: onOff({
    needs: 'open',
    fallback: false,
    about: 'open mode (neither key set) on an address other machines reach; refused otherwise',
  }),
  CLIENT_WEIGHTS: custom({
    field: 'clientWeights',
    rule: `client:weight pairs, comma-separated, each client at most once and each weight an integer from 1 to ${MAX_CLIENT_WEIGHT}`,
    schema: pairs((name) => CLIENT_NAME.test(name), 1, MAX_CLIENT_WEIGHT),
    fallback: (): ReadonlyMap<string, number> => new Map(),
    default: 'every client 1',
    allowed: '`client:weight,…`, integers 1–1000',
    about:
      "each client's weight in every fair share (see [bulkheads](clients-and-money.md#bulkheads-one-client-never-takes-the-others-down))",
  }),
  CLIENT_TIERS: custom({
    field: 'clientTiers',
    rule: `client:tier pairs, comma-separated, each client at most once and each tier one of ${TIERS.join(', ')}`,
    schema: z.string().transform((raw, context) => {
      const tiers = new Map<string, Tier>();
      for (const entry of raw.split(',')) {
        const match = /^\s*([^:\s]+)\s*:\s*(\S+)\s*$/.exec(entry);
        const client = match?.[1] ?? '';
        const tier = match?.[2] ?? '';
        if (!match || !CLIENT_NAME.test(client) || tiers.has(client) || !isTier(tier)) {
          context.addIssue({ code: 'custom', message: 'pairs' });
          return z.NEVER;
        }
        tiers.set(client, tier);
      }
      return tiers;
    }),
    fallback: (): ReadonlyMap<string, Tier> => new Map(),
    default: 'every client standard',
    allowed: '`client:tier,…`, tiers critical, standard, free',
    about:
      "each client's priority tier: who keeps headroom and goes first in every queue when there is not enough (a key's own tier, set with `npm run keys -- tier`, comes first)",
  }),
  TIER_CEILINGS: custom({
    field: 'tierCeilings',
    rule: "tier:percent pairs, comma-separated, each tier (free, standard) at most once and each percent an integer from 1 to 100, standard's never below free's",
    schema: z.string().transform((raw, context) => {
      const ceilings: Record<Tier, number> = { ...DEFAULT_TIER_CEILINGS };
      const seen = new Set<string>();
      for (const entry of raw.split(',')) {
        const match = /^\s*([a-z]+)\s*:\s*(\d{1,3})\s*$/.exec(entry);
        const tier = match?.[1] ?? '';
        const percent = Number(match?.[2]);
        if (!match || !isTier(tier) || tier === 'critical' || seen.has(tier) || percent < 1 || percent > 100) {
          context.addIssue({ code: 'custom', message: 'pairs' });
          return z.NEVER;
        }
        seen.add(tier);
        ceilings[tier] = percent / 100;
      }
      if (ceilings.standard < ceilings.free) {
        context.addIssue({ code: 'custom', message: 'order' });
        return z.NEVER;
      }
      return ceilings;
    }),
    fallback: (): TierCeilings => DEFAULT_TIER_CEILINGS,
    default: 'free:70,standard:90',
    allowed: '`tier:percent,…` for free and standard, 1–100; critical is always 100',
    about:
      "how much of the orders in flight, the pool's queue, the record memory and the couriers each tier's new orders and steps may fill; the rest is kept for the tiers above",
  }),
  CLIENT_MAX_SHARE: custom({
    field: 'clientMaxShare',
    rule: 'a number over 0 and at most 1, to three decimals (1: no per-client caps)',
    // Shares are kept in thousandths in shared memory.
    schema: z
      .string()
      .trim()
      .regex(/^(0|1)?(\.\d{1,3})?$/)
      .transform(Number)
      .pipe(z.number().gt(0).lte(1)),
    fallback: DEFAULT_CLIENT_MAX_SHARE,
    default: String(DEFAULT_CLIENT_MAX_SHARE),
    allowed: 'over 0, at most 1, to the thousandth',
    about:
      'the most of each scarce thing one client may hold while another wants it: couriers, orders in flight, record memory; 1 turns every cap off',
  }),
  CLIENT_RATE_LIMIT: optionalInteger({
    min: 0,
    max: MAX_RATE_LIMIT,
    default: '100 with keys; none in open mode',
    allowed: '0 (none) or orders per second',
    about: "orders per second per client, a burst of one second's worth; over it, 429 `rate_limited`",
  }),
  CLIENT_REQUEST_RATE_LIMIT: optionalInteger({
    min: 0,
    max: MAX_RATE_LIMIT,
    default: `${DEFAULT_CLIENT_REQUEST_RATE_LIMIT} with keys; none in open mode`,
    allowed: '0 (none) or requests per second',
    about:
      "requests per second per client on every route but `POST /order` (whose budget is `CLIENT_RATE_LIMIT`), a burst of one second's worth, counted by each instance (what it keeps is the instance's own event loop); over it, 429 `rate_limited` once its second ends, its connection kept",
  }),
  CLIENT_RATE_LIMITS: custom({
    field: 'clientRateLimits',
    rule: `client:orders_per_second pairs, comma-separated, each client at most once and each orders per second an integer from 0 to ${MAX_RATE_LIMIT}`,
    schema: pairs((name) => CLIENT_NAME.test(name), 0, MAX_RATE_LIMIT),
    fallback: (): ReadonlyMap<string, number> => new Map(),
    default: 'unset',
    allowed: '`client:limit,…`, 0 for none',
    about: "a client's own rate limit instead",
  }),
};
