/**
 * The durable mode's tables and functions, as migrations (applied by
 * ./migrations.ts at every start). docs/durability.md explains every column
 * and the transaction that moves it. Until the first release, migration 1
 * may still be edited in place; after it, never.
 *
 * The transitions that must be one atomic decision are plpgsql functions:
 * each is one round trip, and each keeps the invariant written above it.
 * Statements inside a function each see what committed before them (READ
 * COMMITTED), so "insert, or read what is there" needs no retry loop in the
 * client.
 *
 * No foreign keys between the tables, on purpose: `provider_payments` are
 * the simulated provider's books, which the service reaches only through the
 * provider's calls; `owner` and `holder` name instances whose rows are
 * deleted once their orders have been taken over, and a missing instance
 * counts as one whose lease has expired.
 *
 * Order ids are stored as given, except that NUL (which Postgres text cannot
 * hold) and backslash are escaped (storedKey in database.ts); answers are stored as
 * JSON text, which can hold any string.
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
        -- Courier steps of this instance waiting for a slot it could not get:
        -- instances holding more than their share give slots back.
        couriers_wanted integer NOT NULL DEFAULT 0 CHECK (couriers_wanted >= 0)
      );

      -- Runs are numbered across all orders, for good: an order's row is
      -- deleted once its replay window has passed, and a new order under the
      -- same id must not meet the old run's payment in the provider's books.
      CREATE SEQUENCE order_runs AS bigint;

      -- One row per order_id (the idempotency key): its current run, who runs
      -- it, and once done, how it ended and the answer a retry gets again.
      CREATE TABLE orders (
        order_id     text PRIMARY KEY,
        fingerprint  text NOT NULL,
        -- The current run, from order_runs: with order_id, the provider's key.
        run          bigint NOT NULL,
        -- Runs of this order_id so far (GET /orders/{id} shows it).
        runs         integer NOT NULL CHECK (runs >= 1),
        state        text NOT NULL CHECK (state IN ('running', 'done')),
        owner        uuid,
        -- A caller on another instance waits for this run: its end is
        -- announced with NOTIFY (only then: NOTIFY serializes commits).
        watched      boolean NOT NULL DEFAULT false,
        -- 'ok' or the failure kind; the answer itself only when it is final.
        kind         text,
        replay       text,
        received_at  timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz,
        replay_until timestamptz,
        CONSTRAINT running_has_an_owner CHECK ((state = 'running') = (owner IS NOT NULL)),
        CONSTRAINT done_has_an_outcome CHECK ((state = 'done') = (kind IS NOT NULL AND finished_at IS NOT NULL AND replay_until IS NOT NULL))
      );
      -- Recovery looks for running orders of instances whose lease expired.
      CREATE INDEX orders_running_by_owner ON orders (owner) WHERE state = 'running';
      -- The sweep deletes outcomes past their replay window.
      CREATE INDEX orders_done_by_replay_until ON orders (replay_until) WHERE state = 'done';

      -- The simulated payment provider's books, one row per (order_id, run):
      -- its idempotency key. The same rules as the in-memory provider.
      CREATE TABLE provider_payments (
        order_id   text NOT NULL,
        run        bigint NOT NULL,
        charged    bigint NOT NULL DEFAULT 0 CHECK (charged >= 0),
        refunded   bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= charged),
        -- A void arrived: no charge of this run is taken any more.
        voided     boolean NOT NULL DEFAULT false,
        -- The run paid with the test card: every charge of it is declined.
        declined   boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (order_id, run)
      );

      -- COURIERS slots shared by every instance. A slot is free when it has
      -- no holder or its holder's lease has expired.
      CREATE TABLE courier_slots (
        slot       integer PRIMARY KEY CHECK (slot >= 1),
        holder     uuid,
        held_since timestamptz,
        CONSTRAINT held_since_when_held CHECK ((holder IS NULL) = (held_since IS NULL))
      );

      -- Begin a run of an order: the one decision every instance asks for.
      -- Invariant: at most one run of an order_id is under way, across all
      -- instances (the primary key arbitrates; the row lock orders the rest).
      -- started: a new run, owned by p_owner; running: one is under way;
      -- replay: its final answer is on record; reused: another order's id.
      CREATE FUNCTION order_begin(p_order text, p_fingerprint text, p_owner uuid,
                                  OUT begun text, OUT begun_run bigint, OUT begun_replay text)
      LANGUAGE plpgsql AS $$
      DECLARE o orders;
      BEGIN
        LOOP
          INSERT INTO orders (order_id, fingerprint, run, runs, state, owner)
            VALUES (p_order, p_fingerprint, nextval('order_runs'), 1, 'running', p_owner)
            ON CONFLICT (order_id) DO NOTHING
            RETURNING run INTO begun_run;
          IF FOUND THEN begun := 'started'; RETURN; END IF;
          SELECT * INTO o FROM orders WHERE order_id = p_order FOR UPDATE;
          -- Deleted by the sweep between the two statements: insert again.
          CONTINUE WHEN NOT FOUND;
          IF o.state = 'done' AND o.replay_until <= now() THEN
            -- Past its replay window: forgotten, with the provider's books of
            -- it (as in memory), and the id free for any order.
            DELETE FROM provider_payments WHERE order_id = p_order;
            UPDATE orders SET fingerprint = p_fingerprint, run = nextval('order_runs'), runs = 1, state = 'running',
                   owner = p_owner, watched = false, kind = NULL, replay = NULL, received_at = now(),
                   finished_at = NULL, replay_until = NULL
             WHERE order_id = p_order RETURNING run INTO begun_run;
            begun := 'started'; RETURN;
          END IF;
          IF o.fingerprint <> p_fingerprint THEN begun := 'reused'; RETURN; END IF;
          IF o.state = 'running' THEN begun := 'running'; begun_run := o.run; RETURN; END IF;
          IF o.replay IS NOT NULL THEN begun := 'replay'; begun_run := o.run; begun_replay := o.replay; RETURN; END IF;
          -- Done without a final answer (timeout, interrupted…): a new run.
          UPDATE orders SET run = nextval('order_runs'), runs = o.runs + 1, state = 'running', owner = p_owner,
                 watched = false, kind = NULL, received_at = now(), finished_at = NULL, replay_until = NULL
           WHERE order_id = p_order RETURNING run INTO begun_run;
          begun := 'started'; RETURN;
        END LOOP;
      END $$;

      -- Record how a run ended. Invariant: an outcome is recorded once, by
      -- the run's owner, while the run is under way; a caller waiting on
      -- another instance is told in the same transaction (NOTIFY is sent at
      -- commit). Committed synchronously: this is what a client is told.
      -- Returns the kind on record for the run: p_kind, or, if the run was
      -- taken over, what the taker recorded (or will: interrupted).
      CREATE FUNCTION order_finish(p_order text, p_run bigint, p_owner uuid, p_kind text, p_replay text, p_replay_ms bigint)
      RETURNS text LANGUAGE plpgsql AS $$
      DECLARE o orders;
      BEGIN
        PERFORM set_config('synchronous_commit', 'on', true);
        UPDATE orders SET state = 'done', owner = NULL, kind = p_kind, replay = p_replay, finished_at = now(),
               replay_until = now() + p_replay_ms * interval '1 millisecond'
         WHERE order_id = p_order AND run = p_run AND owner = p_owner AND state = 'running'
         RETURNING * INTO o;
        IF FOUND THEN
          IF o.watched THEN PERFORM pg_notify('order_done', p_order); END IF;
          RETURN p_kind;
        END IF;
        SELECT * INTO o FROM orders WHERE order_id = p_order;
        RETURN CASE WHEN FOUND AND o.run = p_run AND o.state = 'done' THEN o.kind ELSE 'interrupted' END;
      END $$;

      -- The provider's charge. Invariant: a run is charged at most once, and
      -- never after it was voided; a declined run stays declined.
      CREATE FUNCTION provider_charge(p_order text, p_run bigint, p_amount bigint, p_decline boolean,
                                      OUT answer text, OUT counted boolean)
      LANGUAGE plpgsql AS $$
      DECLARE p provider_payments;
      BEGIN
        INSERT INTO provider_payments (order_id, run, charged, declined)
          VALUES (p_order, p_run, CASE WHEN p_decline THEN 0 ELSE p_amount END, p_decline)
          ON CONFLICT (order_id, run) DO NOTHING;
        IF FOUND THEN
          answer := CASE WHEN p_decline THEN 'declined' ELSE 'charged' END;
          counted := true;
          RETURN;
        END IF;
        SELECT * INTO p FROM provider_payments WHERE order_id = p_order AND run = p_run;
        answer := CASE WHEN p.voided THEN 'voided' WHEN p.charged > 0 THEN 'charged' ELSE 'declined' END;
        counted := false;
      END $$;

      -- The provider's void. Invariant: afterwards the run holds no money
      -- (unless the test switch refuses) and never will: a charge still on
      -- its way is refused. Idempotent: a second void changes nothing.
      CREATE FUNCTION provider_void(p_order text, p_run bigint, p_refuse boolean, OUT answer text)
      LANGUAGE plpgsql AS $$
      DECLARE p provider_payments;
      BEGIN
        INSERT INTO provider_payments AS pp (order_id, run, voided) VALUES (p_order, p_run, true)
          ON CONFLICT (order_id, run) DO UPDATE SET voided = true
          RETURNING * INTO p;
        IF p.charged = p.refunded THEN answer := 'nothing_to_refund'; RETURN; END IF;
        IF p_refuse THEN answer := 'refused'; RETURN; END IF;
        UPDATE provider_payments SET refunded = charged WHERE order_id = p_order AND run = p_run;
        answer := 'refunded';
      END $$;

      -- The same, for many orders at once, in one transaction: what the
      -- service sends (src/postgres/batcher.ts). One answer per element, in
      -- order; callers sort the elements, so two batches lock rows in the
      -- same order and never wait for each other.
      CREATE FUNCTION order_begin_many(p_orders text[], p_fingerprints text[], p_owners uuid[])
      RETURNS TABLE (begun text, begun_run bigint, begun_replay text)
      LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
          RETURN QUERY SELECT * FROM order_begin(p_orders[i], p_fingerprints[i], p_owners[i]);
        END LOOP;
      END $$;

      CREATE FUNCTION order_finish_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_kinds text[], p_replays text[], p_replay_ms bigint)
      RETURNS SETOF text LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
          RETURN NEXT order_finish(p_orders[i], p_runs[i], p_owners[i], p_kinds[i], p_replays[i], p_replay_ms);
        END LOOP;
      END $$;

      CREATE FUNCTION provider_charge_many(p_orders text[], p_runs bigint[], p_amounts bigint[], p_declines boolean[])
      RETURNS TABLE (answer text, counted boolean)
      LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
          RETURN QUERY SELECT * FROM provider_charge(p_orders[i], p_runs[i], p_amounts[i], p_declines[i]);
        END LOOP;
      END $$;

      CREATE FUNCTION provider_void_many(p_orders text[], p_runs bigint[], p_refuses boolean[])
      RETURNS SETOF text LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
          RETURN NEXT provider_void(p_orders[i], p_runs[i], p_refuses[i]);
        END LOOP;
      END $$;

      -- The courier pool's size: COURIERS of the instance that starts when no
      -- other is alive; an instance starting beside live ones follows the
      -- table (and says so if its COURIERS differs).
      CREATE FUNCTION courier_pool_size(p_couriers integer) RETURNS integer
      LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended('order-threads:courier_slots', 0));
        IF NOT EXISTS (SELECT 1 FROM instances WHERE lease_until > now()) THEN
          DELETE FROM courier_slots WHERE slot > p_couriers;
          INSERT INTO courier_slots (slot) SELECT generate_series(1, p_couriers) ON CONFLICT DO NOTHING;
        END IF;
        RETURN (SELECT count(*) FROM courier_slots);
      END $$;

      -- Take up to p_n free courier slots. Invariant: a slot has at most one
      -- live holder, and only an instance whose own lease holds takes one —
      -- so never more slots lent than COURIERS, across all instances.
      -- Slots p_me holds without knowing it (a take whose answer was lost)
      -- count as free to it. Committed synchronously: an instance must never
      -- lend a slot that Postgres could forget it holds.
      CREATE FUNCTION courier_take(p_me uuid, p_n integer, p_known integer[]) RETURNS SETOF integer
      LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM set_config('synchronous_commit', 'on', true);
        RETURN QUERY
          UPDATE courier_slots s SET holder = p_me, held_since = now()
           WHERE s.slot IN (SELECT c.slot FROM courier_slots c
                             WHERE c.holder IS NULL
                                OR (c.holder = p_me AND c.slot <> ALL (p_known))
                                OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = c.holder AND i.lease_until > now())
                             ORDER BY c.slot LIMIT p_n FOR UPDATE SKIP LOCKED)
             AND EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = p_me AND i.lease_until > now())
          RETURNING s.slot;
      END $$;
    `,
  },
  {
    id: 2,
    name: 'a run claimed by recovery fences out its own finish',
    sql: `
      -- The run's fencing token: 0 as begun, raised by every claim of
      -- recovery. A finish carries the token its run was begun (or claimed)
      -- with, and is refused once a claim has raised it — also when the
      -- claimer is the instance that began the run, which the owner alone
      -- cannot tell apart (recovery of its own runs left unfinished).
      ALTER TABLE orders ADD COLUMN fence integer NOT NULL DEFAULT 0;

      -- A new run starts unfenced, however it starts (order_begin's three
      -- ways): the column resets whenever the run number moves on.
      CREATE FUNCTION orders_new_run_unfenced() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.fence := 0;
        RETURN NEW;
      END $$;
      CREATE TRIGGER new_run_unfenced BEFORE UPDATE OF run ON orders
        FOR EACH ROW WHEN (NEW.run IS DISTINCT FROM OLD.run) EXECUTE FUNCTION orders_new_run_unfenced();

      -- Replaced, not overloaded: a finish without a fence must fail, not slip past one.
      DROP FUNCTION order_finish_many(text[], bigint[], uuid[], text[], text[], bigint);
      DROP FUNCTION order_finish(text, bigint, uuid, text, text, bigint);

      -- Record how a run ended. Invariant: an outcome is recorded once, by
      -- the run's owner holding the run's current fence, while the run is
      -- under way — so once recovery has claimed a run (and is voiding its
      -- payment), no finish from before the claim can record it, whoever
      -- sends it. A caller waiting on another instance is told in the same
      -- transaction (NOTIFY is sent at commit). Committed synchronously:
      -- this is what a client is told. Returns the kind on record for the
      -- run: p_kind, or, if the run was taken over, what the taker recorded
      -- (or will: interrupted).
      CREATE FUNCTION order_finish(p_order text, p_run bigint, p_owner uuid, p_fence integer, p_kind text, p_replay text, p_replay_ms bigint)
      RETURNS text LANGUAGE plpgsql AS $$
      DECLARE o orders;
      BEGIN
        PERFORM set_config('synchronous_commit', 'on', true);
        UPDATE orders SET state = 'done', owner = NULL, kind = p_kind, replay = p_replay, finished_at = now(),
               replay_until = now() + p_replay_ms * interval '1 millisecond'
         WHERE order_id = p_order AND run = p_run AND owner = p_owner AND fence = p_fence AND state = 'running'
         RETURNING * INTO o;
        IF FOUND THEN
          IF o.watched THEN PERFORM pg_notify('order_done', p_order); END IF;
          RETURN p_kind;
        END IF;
        SELECT * INTO o FROM orders WHERE order_id = p_order;
        RETURN CASE WHEN FOUND AND o.run = p_run AND o.state = 'done' THEN o.kind ELSE 'interrupted' END;
      END $$;

      CREATE FUNCTION order_finish_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[], p_kinds text[], p_replays text[], p_replay_ms bigint)
      RETURNS SETOF text LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
          RETURN NEXT order_finish(p_orders[i], p_runs[i], p_owners[i], p_fences[i], p_kinds[i], p_replays[i], p_replay_ms);
        END LOOP;
      END $$;
    `,
  },
  {
    id: 3,
    name: "every order and every payment is its client's",
    sql: `
      -- An order is its client's: the same order_id from two clients is two
      -- orders. The key every row is filed under, order_id, becomes
      -- client:order_id (a client's name has no colon, so the first one
      -- splits it; storedKey in database.ts), so every function and
      -- statement keeps working on one text key, and two clients' rows can
      -- never meet. Rows from before clients existed were the one anonymous
      -- client's (open mode). The client is also a column of its own, for
      -- whoever reads the tables by client.
      UPDATE orders SET order_id = 'anonymous:' || order_id;
      UPDATE provider_payments SET order_id = 'anonymous:' || order_id;
      ALTER TABLE orders ADD COLUMN client text NOT NULL GENERATED ALWAYS AS (split_part(order_id, ':', 1)) STORED;
      ALTER TABLE provider_payments ADD COLUMN client text NOT NULL GENERATED ALWAYS AS (split_part(order_id, ':', 1)) STORED;
      CREATE INDEX orders_by_client ON orders (client);
    `,
  },
  {
    id: 4,
    name: 'API keys issued by npm run keys',
    sql: `
      -- Keys issued to clients in Postgres (besides API_KEYS): only their
      -- SHA-256 is kept, never the key, which is shown once when issued.
      -- A client may have several (rotation); revoking a client revokes them
      -- all. Every instance reads the live ones (and hears of a change on
      -- the api_keys channel), so a revoked key is refused everywhere within
      -- a second.
      CREATE TABLE api_keys (
        key_hash   bytea PRIMARY KEY,
        client     text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      );
      CREATE INDEX api_keys_by_client ON api_keys (client);
    `,
  },
  {
    id: 5,
    name: 'the alarm of a refused refund is raised by someone, at least once',
    sql: `
      -- A run recorded compensation_failed (the provider refused its refund)
      -- needs its alarm raised — an error line a person reads — at least
      -- once, whatever became of the instance that ran it: one that dies
      -- between the outcome's commit and its line would otherwise leave the
      -- money with nobody told. alarm_by: the instance whose lease covers the
      -- alarm until it is raised — the run's owner as it finished, then
      -- whichever recovery claims it once that lease has expired (as
      -- recovery claims a lost instance's runs). alarm_raised_at: when the
      -- line was written (set after it, so a death in between raises it
      -- again, never not at all). Rows from before this migration count as
      -- not raised: the first recovery pass raises them.
      ALTER TABLE orders ADD COLUMN alarm_by uuid, ADD COLUMN alarm_raised_at timestamptz;

      -- Every finish (order_finish: by the owner, or by recovery recording
      -- interrupted) names who must raise the run's alarm, if it has one,
      -- and starts it not raised.
      CREATE FUNCTION orders_run_finished() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.alarm_by := CASE WHEN NEW.kind = 'compensation_failed' THEN OLD.owner END;
        NEW.alarm_raised_at := NULL;
        RETURN NEW;
      END $$;
      CREATE TRIGGER run_finished BEFORE UPDATE OF state ON orders
        FOR EACH ROW WHEN (OLD.state = 'running' AND NEW.state = 'done') EXECUTE FUNCTION orders_run_finished();

      -- Recovery looks for alarms not raised at every pass: few rows, found without a scan.
      CREATE INDEX orders_alarm_not_raised ON orders (order_id) WHERE kind = 'compensation_failed' AND alarm_raised_at IS NULL;
    `,
  },
  {
    id: 6,
    name: 'events: an outbox written with the change it reports, webhook endpoints, deliveries',
    sql: `
      -- The outbox (docs/durable-instances.md 3.12). An event row is inserted by a
      -- trigger of the very UPDATE that records the fact it reports — an
      -- order's outcome (order_finish, by its owner or by recovery recording
      -- interrupted), a refund of a run already done (provider_void) — so the
      -- two commit or roll back together, whoever writes. xid: the inserting
      -- transaction, for a feed that never skips a row committed late.
      CREATE TABLE events (
        seq        bigserial PRIMARY KEY,
        xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
        id         text NOT NULL UNIQUE DEFAULT 'evt_' || replace(gen_random_uuid()::text, '-', ''),
        client     text NOT NULL,
        order_id   text NOT NULL,
        run        bigint NOT NULL,
        type       text NOT NULL,
        kind       text NOT NULL,
        charged    bigint NOT NULL,
        refunded   bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX events_feed ON events (client, xid, seq);
      CREATE INDEX events_by_age ON events (created_at);

      -- Webhook endpoints, shared by every instance; a client sees only its own.
      CREATE TABLE webhook_endpoints (
        id         text PRIMARY KEY,
        client     text NOT NULL,
        url        text NOT NULL,
        secret     text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        disabled   text CHECK (disabled IN ('gone', 'failing'))
      );
      CREATE INDEX webhook_endpoints_by_client ON webhook_endpoints (client);

      -- One row per event and endpoint it is owed to, written with the event.
      -- done_at: delivered, or given up (outcome says which).
      CREATE TABLE event_deliveries (
        endpoint_id      text NOT NULL REFERENCES webhook_endpoints ON DELETE CASCADE,
        event_seq        bigint NOT NULL REFERENCES events ON DELETE CASCADE,
        order_id         text NOT NULL,
        failures         integer NOT NULL DEFAULT 0,
        first_attempt_at timestamptz,
        done_at          timestamptz,
        outcome          text,
        PRIMARY KEY (endpoint_id, event_seq)
      );
      CREATE INDEX event_deliveries_lane ON event_deliveries (endpoint_id, order_id, event_seq) WHERE done_at IS NULL;
      CREATE INDEX event_deliveries_waiting ON event_deliveries (event_seq) WHERE done_at IS NULL;

      -- Which instance runs each graphile-worker pool: a job locked by the
      -- pool of an instance whose lease has expired is let go at once
      -- (graphile-worker itself waits four hours), and run again elsewhere.
      CREATE TABLE webhook_queue_pools (
        pool_id     text PRIMARY KEY,
        instance_id uuid NOT NULL,
        started_at  timestamptz NOT NULL DEFAULT now()
      );

      -- Append events of a run, with the order's money now, and owe each to
      -- every enabled endpoint of the client: a delivery row, and the lane's
      -- job (graphile-worker, added in this same transaction: one job per
      -- endpoint and order, which delivers that lane's events in order).
      CREATE FUNCTION events_emit(p_order text, p_run bigint, p_kind text, p_types text[]) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        v_client text := split_part(p_order, ':', 1);
        v_charged bigint;
        v_refunded bigint;
        v_type text;
        v_seq bigint;
        v_endpoint record;
      BEGIN
        SELECT coalesce(sum(charged), 0), coalesce(sum(refunded), 0) INTO v_charged, v_refunded
          FROM provider_payments WHERE order_id = p_order;
        FOREACH v_type IN ARRAY p_types LOOP
          INSERT INTO events (client, order_id, run, type, kind, charged, refunded)
               VALUES (v_client, p_order, p_run, v_type, p_kind, v_charged, v_refunded)
            RETURNING seq INTO v_seq;
          INSERT INTO event_deliveries (endpoint_id, event_seq, order_id)
               SELECT id, v_seq, p_order FROM webhook_endpoints WHERE client = v_client AND disabled IS NULL;
        END LOOP;
        FOR v_endpoint IN SELECT id FROM webhook_endpoints WHERE client = v_client AND disabled IS NULL LOOP
          PERFORM graphile_worker.add_job('webhook_lane',
            json_build_object('endpoint', v_endpoint.id, 'order', p_order),
            queue_name := 'webhook:' || v_endpoint.id || ':' || p_order,
            job_key := 'webhook:' || v_endpoint.id || ':' || p_order,
            job_key_mode := 'preserve_run_at',
            -- The lane reschedules itself; graphile-worker's own retries are only for a lost Postgres, never given up.
            max_attempts := 32767);
        END LOOP;
      END $$;

      -- Which events an outcome makes: src/events/order-event.ts, typesOfOutcome, in SQL.
      CREATE FUNCTION orders_outcome_events() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE v_run_refunded bigint;
      BEGIN
        SELECT coalesce(refunded, 0) INTO v_run_refunded FROM provider_payments WHERE order_id = NEW.order_id AND run = NEW.run;
        v_run_refunded := coalesce(v_run_refunded, 0);
        PERFORM events_emit(NEW.order_id, NEW.run, NEW.kind, CASE
          WHEN NEW.kind = 'ok' THEN ARRAY['order.succeeded']
          WHEN NEW.kind = 'interrupted' AND v_run_refunded > 0 THEN ARRAY['order.interrupted', 'payment.refunded']
          WHEN NEW.kind = 'interrupted' THEN ARRAY['order.interrupted']
          WHEN NEW.kind = 'compensation_failed' THEN ARRAY['order.failed', 'payment.refund_failed']
          WHEN v_run_refunded > 0 THEN ARRAY['order.failed', 'payment.refunded']
          ELSE ARRAY['order.failed'] END);
        RETURN NULL;
      END $$;
      CREATE TRIGGER outcome_events AFTER UPDATE OF state ON orders
        FOR EACH ROW WHEN (OLD.state = 'running' AND NEW.state = 'done') EXECUTE FUNCTION orders_outcome_events();

      -- A refund of a run whose outcome is on record already: its own event, after the outcome's.
      CREATE FUNCTION payments_refund_events() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE o orders;
      BEGIN
        SELECT * INTO o FROM orders WHERE order_id = NEW.order_id AND run = NEW.run AND state = 'done';
        IF FOUND THEN PERFORM events_emit(NEW.order_id, NEW.run, o.kind, ARRAY['payment.refunded']); END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER refund_events AFTER UPDATE OF refunded ON provider_payments
        FOR EACH ROW WHEN (NEW.refunded > OLD.refunded) EXECUTE FUNCTION payments_refund_events();
    `,
  },
  {
    id: 7,
    name: 'webhooks: one delivery job per order, for all its endpoints',
    sql: `
      -- One graphile-worker job per order rather than per endpoint and order:
      -- each job is a claim, a completion and a queue row, the bulk of what a
      -- delivery cost (docs/durable-instances.md 3.12). The order's named queue keeps
      -- its events in order for every endpoint. 'replace': a new event of the
      -- order is delivered now, to the healthy endpoints too, rather than after
      -- a failing endpoint's backoff (which it only brings forward).
      CREATE OR REPLACE FUNCTION events_emit(p_order text, p_run bigint, p_kind text, p_types text[]) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        v_client text := split_part(p_order, ':', 1);
        v_charged bigint;
        v_refunded bigint;
        v_type text;
        v_seq bigint;
        v_owed boolean := false;
      BEGIN
        SELECT coalesce(sum(charged), 0), coalesce(sum(refunded), 0) INTO v_charged, v_refunded
          FROM provider_payments WHERE order_id = p_order;
        FOREACH v_type IN ARRAY p_types LOOP
          INSERT INTO events (client, order_id, run, type, kind, charged, refunded)
               VALUES (v_client, p_order, p_run, v_type, p_kind, v_charged, v_refunded)
            RETURNING seq INTO v_seq;
          INSERT INTO event_deliveries (endpoint_id, event_seq, order_id)
               SELECT id, v_seq, p_order FROM webhook_endpoints WHERE client = v_client AND disabled IS NULL;
          v_owed := v_owed OR FOUND;
        END LOOP;
        IF v_owed THEN
          PERFORM graphile_worker.add_job('webhook_lane', json_build_object('order', p_order),
            queue_name := 'webhook:' || p_order, job_key := 'webhook:' || p_order, job_key_mode := 'replace',
            -- The job reschedules itself; graphile-worker's own retries are only for a lost Postgres, never given up.
            max_attempts := 32767);
        END IF;
      END $$;
    `,
  },
  {
    id: 8,
    name: "events: the order's trace context, for their deliveries' spans",
    sql: `
      -- The trace of the request that recorded the outcome (its trace id and
      -- its server span's id), on each event it made: the deliveries' spans
      -- link to it. Null for an untraced order, for events made elsewhere (a
      -- refund by the voider, recovery's outcome), and for events before 8.
      ALTER TABLE events ADD COLUMN trace_id text, ADD COLUMN trace_span_id text;

      -- The finish sets it for its own order only, in its own transaction,
      -- as a transaction-local setting (a batched finish carries many orders'
      -- traces), and takes it away again before the next order's. A new
      -- overload: an instance of the version before, in a rolling deploy,
      -- still calls the old one (its events without a trace).
      CREATE FUNCTION order_finish_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[], p_kinds text[], p_replays text[], p_replay_ms bigint, p_trace_ids text[], p_trace_span_ids text[])
      RETURNS SETOF text LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
          PERFORM set_config('order_threads.trace_id', coalesce(p_trace_ids[i], ''), true),
                  set_config('order_threads.trace_span_id', coalesce(p_trace_span_ids[i], ''), true);
          RETURN NEXT order_finish(p_orders[i], p_runs[i], p_owners[i], p_fences[i], p_kinds[i], p_replays[i], p_replay_ms);
        END LOOP;
        PERFORM set_config('order_threads.trace_id', '', true), set_config('order_threads.trace_span_id', '', true);
      END $$;

      CREATE OR REPLACE FUNCTION events_emit(p_order text, p_run bigint, p_kind text, p_types text[]) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        v_client text := split_part(p_order, ':', 1);
        v_trace_id text := nullif(current_setting('order_threads.trace_id', true), '');
        v_trace_span_id text := nullif(current_setting('order_threads.trace_span_id', true), '');
        v_charged bigint;
        v_refunded bigint;
        v_type text;
        v_seq bigint;
        v_owed boolean := false;
      BEGIN
        SELECT coalesce(sum(charged), 0), coalesce(sum(refunded), 0) INTO v_charged, v_refunded
          FROM provider_payments WHERE order_id = p_order;
        FOREACH v_type IN ARRAY p_types LOOP
          INSERT INTO events (client, order_id, run, type, kind, charged, refunded, trace_id, trace_span_id)
               VALUES (v_client, p_order, p_run, v_type, p_kind, v_charged, v_refunded, v_trace_id, v_trace_span_id)
            RETURNING seq INTO v_seq;
          INSERT INTO event_deliveries (endpoint_id, event_seq, order_id)
               SELECT id, v_seq, p_order FROM webhook_endpoints WHERE client = v_client AND disabled IS NULL;
          v_owed := v_owed OR FOUND;
        END LOOP;
        IF v_owed THEN
          PERFORM graphile_worker.add_job('webhook_lane', json_build_object('order', p_order),
            queue_name := 'webhook:' || p_order, job_key := 'webhook:' || p_order, job_key_mode := 'replace',
            max_attempts := 32767);
        END IF;
      END $$;
    `,
  },
  {
    id: 9,
    name: "priority tiers: a key's tier, and the tier of an order's latest run",
    sql: `
      -- A key's priority tier (issue 31; npm run keys -- tier): NULL leaves
      -- the client's to CLIENT_TIERS (standard if not named there).
      ALTER TABLE api_keys ADD COLUMN tier text CHECK (tier IN ('critical', 'standard', 'free'));

      -- The tier the order's latest run ran at (GET /orders/{order_id}): set
      -- by the begin that starts the run. NULL for runs begun before 9, or by
      -- an instance of the version before in a rolling deploy.
      ALTER TABLE orders ADD COLUMN tier text;

      -- A new overload, with each run's tier: an instance of the version
      -- before still calls the old one. The row was just locked by the begin,
      -- in the same transaction: the update waits for no one.
      CREATE FUNCTION order_begin_many(p_orders text[], p_fingerprints text[], p_owners uuid[], p_tiers text[])
      RETURNS TABLE (begun text, begun_run bigint, begun_replay text)
      LANGUAGE plpgsql AS $$
      DECLARE r record;
      BEGIN
        FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
          SELECT * INTO r FROM order_begin(p_orders[i], p_fingerprints[i], p_owners[i]);
          IF r.begun = 'started' THEN
            UPDATE orders SET tier = p_tiers[i] WHERE order_id = p_orders[i];
          END IF;
          begun := r.begun;
          begun_run := r.begun_run;
          begun_replay := r.begun_replay;
          RETURN NEXT;
        END LOOP;
      END $$;
    `,
  },
  {
    id: 10,
    name: "webhooks: each delivery job flagged with its client, for the client's share of the sends",
    sql: `
      -- A client holding its share of the sends has its jobs left unclaimed
      -- (graphile-worker's forbiddenFlags) rather than claimed and put back:
      -- each job says whose it is. Jobs added before 10 have no flag and are
      -- claimed as before (and put back, if their client's share is full).
      CREATE OR REPLACE FUNCTION events_emit(p_order text, p_run bigint, p_kind text, p_types text[]) RETURNS void
      LANGUAGE plpgsql AS $$
      DECLARE
        v_client text := split_part(p_order, ':', 1);
        v_trace_id text := nullif(current_setting('order_threads.trace_id', true), '');
        v_trace_span_id text := nullif(current_setting('order_threads.trace_span_id', true), '');
        v_charged bigint;
        v_refunded bigint;
        v_type text;
        v_seq bigint;
        v_owed boolean := false;
      BEGIN
        SELECT coalesce(sum(charged), 0), coalesce(sum(refunded), 0) INTO v_charged, v_refunded
          FROM provider_payments WHERE order_id = p_order;
        FOREACH v_type IN ARRAY p_types LOOP
          INSERT INTO events (client, order_id, run, type, kind, charged, refunded, trace_id, trace_span_id)
               VALUES (v_client, p_order, p_run, v_type, p_kind, v_charged, v_refunded, v_trace_id, v_trace_span_id)
            RETURNING seq INTO v_seq;
          INSERT INTO event_deliveries (endpoint_id, event_seq, order_id)
               SELECT id, v_seq, p_order FROM webhook_endpoints WHERE client = v_client AND disabled IS NULL;
          v_owed := v_owed OR FOUND;
        END LOOP;
        IF v_owed THEN
          PERFORM graphile_worker.add_job('webhook_lane', json_build_object('order', p_order),
            queue_name := 'webhook:' || p_order, job_key := 'webhook:' || p_order, job_key_mode := 'replace',
            max_attempts := 32767, flags := ARRAY['client:' || v_client]);
        END IF;
      END $$;
    `,
  },
];
