/**
 * The two keyed clients of the isolation tests (issue 25): acme, the attacker,
 * within its own key and share, and globex, its victim; and an admin key.
 */
import type { Config } from '../../src/config.js';

export const ACME = 'acme_key_0123456789abcdefghijklmnopqrstuv';
export const GLOBEX = 'globex-key-0123456789ABCDEFGHIJKLMNOPQRS';
export const ADMIN = 'admin_key_ZYXWVUTSRQPONMLKJIHGFEDCBA0123';

/** Access by key: acme and globex as clients, ADMIN as the admin key. */
export const TWO_CLIENTS: Config['access'] = {
  mode: 'keys',
  clients: [
    { client: 'acme', key: ACME },
    { client: 'globex', key: GLOBEX },
  ],
  adminKeys: [ADMIN],
};
