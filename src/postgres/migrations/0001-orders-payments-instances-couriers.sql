-- name: orders, provider payments, instances, courier slots

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
