/**
 * `npm run keys -- add <client> | revoke <client> | tier <client> <tier> | list`: API keys kept in
 * the durable mode's Postgres (DATABASE_URL), besides API_KEYS.
 *
 * - add: issues a new key for the client and prints it — the one time it is
 *   shown; only its SHA-256 is kept. A client may hold several (rotation).
 * - revoke: revokes every key of the client; every instance refuses them
 *   within a second.
 * - tier: sets the priority tier (critical, standard, free; `none` leaves it
 *   to CLIENT_TIERS) of every live key of the client; every instance reads
 *   it within a second. A key issued later has none until set again.
 * - list: every client with keys, how many live and revoked, their tiers — never a key.
 *
 * The schema is brought up to date first, as the service does at start.
 * Exit codes as the service's: 78 for a bad argument or setting, 69 when
 * Postgres cannot be reached.
 */
import { pino } from 'pino';
import { CLIENT_NAME, RESERVED_CLIENTS } from '../src/auth/caller.js';
import { EXIT_BAD_CONFIG, EXIT_DATABASE_UNAVAILABLE } from '../src/exit-codes.js';
import { isTier, TIERS } from '../src/domain/tier.js';
import { issueKey, listKeys, revokeKeys, setTier } from '../src/postgres/api-keys.js';
import { Database } from '../src/postgres/database.js';
import { DatabaseUnavailable } from '../src/postgres/failures.js';
import { loadMigrations } from '../src/postgres/schema.js';

const USAGE = `usage: npm run keys -- add <client> | revoke <client> | tier <client> <${TIERS.join('|')}|none> | list   (with DATABASE_URL set)`;

function refuse(message: string, code = EXIT_BAD_CONFIG): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const [command, client, ...args] = process.argv.slice(2);
const tier = command === 'tier' ? args.shift() : undefined;
const rest = args;
const url = process.env['DATABASE_URL'];
if (!url)
  refuse(`DATABASE_URL is not set: keys are kept in the durable mode's Postgres (npm run db prints one)\n${USAGE}`);
if (
  rest.length > 0 ||
  !(command === 'list'
    ? client === undefined
    : (command === 'add' || command === 'revoke' || command === 'tier') && client !== undefined) ||
  (command === 'tier' && (tier === undefined || (tier !== 'none' && !isTier(tier))))
)
  refuse(USAGE);
if (client !== undefined && !CLIENT_NAME.test(client))
  refuse(`a client's name is 1-64 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(client)}`);
if (client !== undefined && RESERVED_CLIENTS.includes(client))
  refuse(`the client name ${JSON.stringify(client)} is reserved (${RESERVED_CLIENTS.join(', ')})`);

const db = new Database({ url, poolSize: 2, statementTimeoutMs: 5000, log: pino({ level: 'silent' }) });
try {
  await db.migrate(await loadMigrations());
  if (command === 'add') {
    const key = await issueKey(db, client!);
    process.stdout.write(`${key}\n`);
    process.stderr.write(`a new key for ${client}: shown this once, keep it secret (Authorization: Bearer <key>)\n`);
  } else if (command === 'tier') {
    const chosen = tier === 'none' || tier === undefined || !isTier(tier) ? null : tier;
    const changed = await setTier(db, client!, chosen);
    process.stderr.write(
      changed === 0
        ? `${client} has no live key\n`
        : `${changed} key${changed === 1 ? '' : 's'} of ${client} now ${chosen ?? 'without a tier of their own (CLIENT_TIERS)'}: every instance within a second\n`,
    );
  } else if (command === 'revoke') {
    const revoked = await revokeKeys(db, client!);
    process.stderr.write(
      revoked === 0
        ? `${client} has no live key\n`
        : `revoked ${revoked} key${revoked === 1 ? '' : 's'} of ${client}: refused everywhere within a second\n`,
    );
  } else {
    const clients = await listKeys(db);
    if (clients.length === 0) process.stderr.write('no key issued in Postgres\n');
    for (const issued of clients)
      process.stdout.write(
        `${issued.client}\t${issued.live} live\t${issued.revoked} revoked\ttier ${issued.tiers.join(',') || '-'}\tlast issued ${issued.lastIssued.toISOString()}\n`,
      );
  }
} catch (error) {
  if (error instanceof DatabaseUnavailable)
    refuse(`cannot reach Postgres: ${error.message}`, EXIT_DATABASE_UNAVAILABLE);
  throw error;
} finally {
  await db.close();
}
