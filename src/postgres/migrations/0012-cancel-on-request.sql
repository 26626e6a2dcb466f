-- name: cancel on request: a mark on the order's run, ordered against its finish by the row's lock

-- A cancel asked for the order's run under way (POST /orders/{id}/cancel),
-- on whichever instance: the run's owner is told (NOTIFY order_cancel,
-- and its recovery pass looks for marks it missed) and cancels its steps;
-- a run claimed by recovery with the mark is canceled, never resumed.
ALTER TABLE orders ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;

-- A new run starts unmarked, as it starts unfenced.
CREATE OR REPLACE FUNCTION orders_new_run_unfenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.fence := 0;
  NEW.cancel_requested := false;
  RETURN NEW;
END $$;

-- Mark the order's run under way canceled, and tell its owner; or say
-- how the order ended. The mark takes the row's lock, as a finish does:
-- whichever commits first, the other sees it. Nothing for an order
-- unknown or past its replay window.
CREATE FUNCTION order_cancel_request(p_order text)
RETURNS TABLE (state text, run bigint, kind text) LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY UPDATE orders o SET cancel_requested = true
                WHERE o.order_id = p_order AND o.state = 'running'
            RETURNING o.state, o.run, o.kind;
  IF FOUND THEN
    PERFORM pg_notify('order_cancel', p_order);
    RETURN;
  END IF;
  RETURN QUERY SELECT o.state, o.run, o.kind FROM orders o
                WHERE o.order_id = p_order AND NOT (o.state = 'done' AND o.replay_until <= now());
END $$;

-- The one place a cancel racing the order's own end is decided: a
-- success is not recorded over a cancel marked first. The finish answers
-- cancel_requested and records nothing; its caller refunds what the run
-- charged, then records it canceled. Any other outcome is recorded as
-- it is: a failure has undone what stood already.
CREATE OR REPLACE FUNCTION order_finish(p_order text, p_run bigint, p_owner uuid, p_fence integer, p_kind text, p_replay text, p_replay_ms bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE o orders;
BEGIN
  PERFORM set_config('synchronous_commit', 'on', true);
  IF p_kind = 'ok' THEN
    SELECT * INTO o FROM orders
     WHERE order_id = p_order AND run = p_run AND owner = p_owner AND fence = p_fence AND state = 'running'
       FOR UPDATE;
    IF FOUND AND o.cancel_requested THEN RETURN 'cancel_requested'; END IF;
  END IF;
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

-- Which events an outcome makes: src/events/order-event.ts, typesOfOutcome, in SQL.
CREATE OR REPLACE FUNCTION orders_outcome_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_run_refunded bigint;
BEGIN
  SELECT coalesce(refunded, 0) INTO v_run_refunded FROM provider_payments WHERE order_id = NEW.order_id AND run = NEW.run;
  v_run_refunded := coalesce(v_run_refunded, 0);
  PERFORM events_emit(NEW.order_id, NEW.run, NEW.kind, CASE
    WHEN NEW.kind = 'ok' THEN ARRAY['order.succeeded']
    WHEN NEW.kind = 'compensation_failed' THEN ARRAY['order.failed', 'payment.refund_failed']
    WHEN NEW.kind IN ('interrupted', 'canceled') AND v_run_refunded > 0
      THEN ARRAY['order.' || NEW.kind, 'payment.refunded']
    WHEN NEW.kind IN ('interrupted', 'canceled') THEN ARRAY['order.' || NEW.kind]
    WHEN v_run_refunded > 0 THEN ARRAY['order.failed', 'payment.refunded']
    ELSE ARRAY['order.failed'] END);
  RETURN NULL;
END $$;

-- The owner's recovery pass looks for marks whose NOTIFY it missed: few rows, found without a scan.
CREATE INDEX orders_cancel_requested ON orders (owner) WHERE state = 'running' AND cancel_requested;
