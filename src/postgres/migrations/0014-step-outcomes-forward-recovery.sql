-- name: each step's outcome recorded as it ends, so that a run taken over resumes

-- What a run taken over needs to run on: the order as it was asked for
-- (its JSON), and when its own deadline (deadline_ms) passes. Both NULL
-- for an order on the service's deadline (ORDER_TIMEOUT_MS): its
-- deadline has long passed by the time its instance's lease expires,
-- so it is never resumed. `recoveries`: how often recovery took the run
-- over; past ORDER_RECOVERIES_MAX it is no longer resumed.
ALTER TABLE orders ADD COLUMN request text;
ALTER TABLE orders ADD COLUMN deadline_at timestamptz;
ALTER TABLE orders ADD COLUMN recoveries integer NOT NULL DEFAULT 0;

-- A new run starts unfenced, unmarked and never recovered, however it starts.
CREATE OR REPLACE FUNCTION orders_new_run_unfenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.fence := 0;
  NEW.cancel_requested := false;
  NEW.recoveries := 0;
  RETURN NEW;
END $$;

-- One row per step of a run that ended while its run was under way:
-- `attempt` is the run's takeover it ended in (1: its first instance),
-- `thread` the worker thread of its last try, `instance` the one that
-- ran it, `outcome` its status and `result` the step's outcome as the
-- answer shows it — what a resume puts in its place instead of running
-- it again. `money`: the run's money at the provider (charged less
-- refunded) read in the same statement that records the step.
CREATE TABLE order_steps (
  order_id   text NOT NULL,
  run        bigint NOT NULL,
  step       text NOT NULL,
  attempt    integer NOT NULL CHECK (attempt >= 1),
  thread     integer,
  instance   uuid NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at   timestamptz NOT NULL,
  outcome    text NOT NULL CHECK (outcome IN ('ok', 'error', 'canceled')),
  result     text NOT NULL,
  money      bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (order_id, run, step)
);

-- A new overload, with each run's request and own deadline: an instance
-- of the version before still calls the one of migration 9 (its runs are
-- never resumed, as before).
CREATE FUNCTION order_begin_many(p_orders text[], p_fingerprints text[], p_owners uuid[], p_tiers text[],
                                 p_requests text[], p_deadline_ms bigint[])
RETURNS TABLE (begun text, begun_run bigint, begun_replay text)
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    SELECT * INTO r FROM order_begin(p_orders[i], p_fingerprints[i], p_owners[i]);
    IF r.begun = 'started' THEN
      UPDATE orders SET tier = p_tiers[i], request = p_requests[i],
             deadline_at = now() + p_deadline_ms[i] * interval '1 millisecond'
       WHERE order_id = p_orders[i];
    END IF;
    begun := r.begun;
    begun_run := r.begun_run;
    begun_replay := r.begun_replay;
    RETURN NEXT;
  END LOOP;
END $$;

-- Record a step's end. Invariant: recorded only by the run's owner
-- holding the run's current fence while it is under way (a lost
-- instance's late word is dropped, as its finish is), and a step
-- recorded ok stays so: a resume never runs it again, so nothing may
-- record over it. The order's row is held (FOR SHARE) until commit, so
-- a claim by recovery comes wholly before or after: a step is never
-- recorded under a fence a claim has raised. Answers whether it was recorded.
CREATE FUNCTION order_step_record(p_order text, p_run bigint, p_owner uuid, p_fence integer, p_step text,
                                  p_thread integer, p_duration_ms double precision, p_outcome text, p_result text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE o orders;
BEGIN
  SELECT * INTO o FROM orders
   WHERE order_id = p_order AND run = p_run AND owner = p_owner AND fence = p_fence AND state = 'running'
     FOR SHARE;
  IF NOT FOUND THEN RETURN false; END IF;
  INSERT INTO order_steps AS s (order_id, run, step, attempt, thread, instance, started_at, ended_at, outcome, result, money)
    SELECT p_order, p_run, p_step, o.recoveries + 1, p_thread, p_owner,
           now() - p_duration_ms * interval '1 millisecond', now(), p_outcome, p_result,
           coalesce((SELECT p.charged - p.refunded FROM provider_payments p WHERE p.order_id = p_order AND p.run = p_run), 0)
    ON CONFLICT (order_id, run, step) DO UPDATE
      SET attempt = excluded.attempt, thread = excluded.thread, instance = excluded.instance,
          started_at = excluded.started_at, ended_at = excluded.ended_at, outcome = excluded.outcome,
          result = excluded.result, money = excluded.money
      WHERE s.outcome <> 'ok';
  RETURN FOUND;
END $$;

CREATE FUNCTION order_step_record_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[],
                                       p_steps text[], p_threads integer[], p_durations_ms double precision[],
                                       p_outcomes text[], p_results text[])
RETURNS SETOF boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    RETURN NEXT order_step_record(p_orders[i], p_runs[i], p_owners[i], p_fences[i], p_steps[i], p_threads[i],
                                  p_durations_ms[i], p_outcomes[i], p_results[i]);
  END LOOP;
END $$;

-- Which events an outcome makes: src/events/order-event.ts, typesOfOutcome,
-- in SQL. A run parked after ORDER_RECOVERIES_MAX takeovers says so.
CREATE OR REPLACE FUNCTION orders_outcome_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_run_refunded bigint;
BEGIN
  SELECT coalesce(refunded, 0) INTO v_run_refunded FROM provider_payments WHERE order_id = NEW.order_id AND run = NEW.run;
  v_run_refunded := coalesce(v_run_refunded, 0);
  PERFORM events_emit(NEW.order_id, NEW.run, NEW.kind, CASE
    WHEN NEW.kind = 'ok' THEN ARRAY['order.succeeded']
    WHEN NEW.kind = 'compensation_failed' THEN ARRAY['order.failed', 'payment.refund_failed']
    WHEN NEW.kind IN ('interrupted', 'canceled', 'dead_lettered') AND v_run_refunded > 0
      THEN ARRAY['order.' || NEW.kind, 'payment.refunded']
    WHEN NEW.kind IN ('interrupted', 'canceled', 'dead_lettered') THEN ARRAY['order.' || NEW.kind]
    WHEN v_run_refunded > 0 THEN ARRAY['order.failed', 'payment.refunded']
    ELSE ARRAY['order.failed'] END);
  RETURN NULL;
END $$;

-- The admin's redrive of an order that ended in one of p_kinds (parked, or
-- failed by the infrastructure): a new run of it, owned by p_owner, which
-- starts after the steps of the run before that are named in p_carried
-- and were recorded ok there (their rows copied to the new run). Refused
-- while the run before holds money (charged, not all refunded): only an
-- order whose money is settled is sent on. The new run's deadline is the
-- order's own, from now. Answers: unknown, not_redrivable (with its kind),
-- money_unsettled, or redriven (with the new run).
CREATE FUNCTION order_redrive(p_order text, p_owner uuid, p_kinds text[], p_carried text[],
                              OUT answer text, OUT outcome text, OUT new_run bigint, OUT fingerprint text,
                              OUT request text)
LANGUAGE plpgsql AS $$
DECLARE o orders; p provider_payments;
BEGIN
  PERFORM set_config('synchronous_commit', 'on', true);
  SELECT * INTO o FROM orders WHERE order_id = p_order FOR UPDATE;
  IF NOT FOUND OR (o.state = 'done' AND o.replay_until <= now()) THEN answer := 'unknown'; RETURN; END IF;
  outcome := o.kind;
  IF o.state <> 'done' OR o.kind <> ALL (p_kinds) OR o.request IS NULL THEN
    answer := 'not_redrivable'; RETURN;
  END IF;
  SELECT * INTO p FROM provider_payments WHERE order_id = p_order AND run = o.run;
  IF FOUND AND p.charged <> p.refunded THEN answer := 'money_unsettled'; RETURN; END IF;
  UPDATE orders SET run = nextval('order_runs'), runs = o.runs + 1, state = 'running', owner = p_owner,
         watched = false, kind = NULL, replay = NULL, finished_at = NULL, replay_until = NULL,
         deadline_at = now() + (o.request::json ->> 'deadlineMs')::bigint * interval '1 millisecond'
   WHERE order_id = p_order RETURNING run INTO new_run;
  INSERT INTO order_steps (order_id, run, step, attempt, thread, instance, started_at, ended_at, outcome, result, money)
    SELECT s.order_id, new_run, s.step, s.attempt, s.thread, s.instance, s.started_at, s.ended_at, s.outcome, s.result, 0
      FROM order_steps s
     WHERE s.order_id = p_order AND s.run = o.run AND s.outcome = 'ok' AND s.step = ANY (p_carried);
  answer := 'redriven';
  fingerprint := o.fingerprint;
  request := o.request;
END $$;
