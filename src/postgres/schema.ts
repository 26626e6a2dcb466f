/**
 * The durable mode's tables, as migrations (applied by ./migrations.ts).
 * A draft until the durable mode is built on it: docs/durability.md explains
 * every column and the transaction that moves each one. Until the first
 * release, migration 1 may still be edited in place; after it, never.
 *
 * No foreign keys between the tables, on purpose: `provider_payments` are
 * the simulated provider's books, which the service reaches only through the
 * provider's calls; `owner` and `holder` name instances whose rows are
 * deleted once their orders have been taken over, and a missing instance
 * counts as one whose lease has expired.
 */
import type { Migration } from './migrations.js';

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'orders, provider payments, instances, courier slots',
    sql: `
      -- A running service process. Its lease covers every order it owns and
      -- every courier slot it holds: one renewal, whatever it runs.
      CREATE TABLE instances (
        instance_id     uuid PRIMARY KEY,
        host            text NOT NULL,
        pid             integer NOT NULL,
        started_at      timestamptz NOT NULL DEFAULT now(),
        lease_until     timestamptz NOT NULL,
        -- Orders of this instance waiting for a courier: the others release
        -- slots down to a fair share when someone waits.
        couriers_wanted integer NOT NULL DEFAULT 0 CHECK (couriers_wanted >= 0)
      );

      -- Runs are numbered across all orders, for good: an order's row is
      -- deleted once its replay window has passed, and a new order under the
      -- same id must not meet the old run's payment in the provider's books.
      CREATE SEQUENCE order_runs AS bigint;

      -- One row per order_id (the idempotency key): its current run, who runs
      -- it, and once done, the answer every caller gets.
      CREATE TABLE orders (
        order_id     text PRIMARY KEY CHECK (char_length(order_id) BETWEEN 1 AND 128),
        fingerprint  text NOT NULL,
        amount       bigint NOT NULL CHECK (amount > 0),
        -- A retry of an order whose outcome was not final (interrupted,
        -- timeout) runs it again under a new run; the provider's books are
        -- keyed by (order_id, run), so a void of one run never touches another.
        run          bigint NOT NULL DEFAULT nextval('order_runs'),
        state        text NOT NULL CHECK (state IN ('running', 'done')),
        owner        uuid,
        -- A caller on another instance waits for this order: its outcome is
        -- announced with NOTIFY (only then: NOTIFY serializes commits).
        watched      boolean NOT NULL DEFAULT false,
        status       smallint,
        outcome      jsonb,
        received_at  timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz,
        replay_until timestamptz,
        CONSTRAINT running_has_an_owner CHECK ((state = 'running') = (owner IS NOT NULL)),
        CONSTRAINT done_has_an_outcome CHECK ((state = 'done') = (outcome IS NOT NULL AND status IS NOT NULL AND finished_at IS NOT NULL))
      );
      -- Recovery looks for running orders of instances whose lease expired.
      CREATE INDEX orders_running_by_owner ON orders (owner) WHERE state = 'running';
      -- The sweep deletes outcomes past their replay window.
      CREATE INDEX orders_done_by_replay_until ON orders (replay_until) WHERE state = 'done';

      -- The simulated payment provider's books. (order_id, run) is the
      -- provider's idempotency key: a charge is recorded once; a void
      -- refunds a charge, or, if none came yet, refuses any that comes later.
      CREATE TABLE provider_payments (
        order_id   text NOT NULL,
        run        bigint NOT NULL,
        amount     bigint NOT NULL CHECK (amount > 0),
        state      text NOT NULL CHECK (state IN ('charged', 'refunded', 'voided')),
        charged_at timestamptz,
        settled_at timestamptz,
        PRIMARY KEY (order_id, run),
        CONSTRAINT charged_when_charged CHECK ((state = 'voided') = (charged_at IS NULL)),
        CONSTRAINT settled_when_settled CHECK ((state = 'charged') = (settled_at IS NULL))
      );

      -- COURIERS slots shared by every instance. A slot is free when it has
      -- no holder or its holder's lease has expired.
      CREATE TABLE courier_slots (
        slot       integer PRIMARY KEY CHECK (slot >= 1),
        holder     uuid,
        held_since timestamptz,
        CONSTRAINT held_since_when_held CHECK ((holder IS NULL) = (held_since IS NULL))
      );
    `,
  },
];
