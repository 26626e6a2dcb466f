-- name: a passing outcome keeps its answer to be shown, never replayed

-- A run that ends in an outcome a retry should not be told again (a
-- timeout, an outage, a hang-up: `replay` stays NULL, so a retry runs the
-- order anew) kept nothing of its steps but what the step journal records,
-- which is only an order with a deadline of its own: a timed-out order on
-- the service's deadline showed no step in its timeline, though its 504
-- listed them. `answer` keeps that answer for the timeline alone; nothing
-- reads it to decide anything (order_begin replays `replay` only).
ALTER TABLE orders ADD COLUMN answer text;

-- A new run starts without its last run's answer, however it starts.
CREATE OR REPLACE FUNCTION orders_new_run_unfenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.fence := 0;
  NEW.cancel_requested := false;
  NEW.recoveries := 0;
  NEW.handed_over := false;
  NEW.handovers := 0;
  NEW.answer := NULL;
  RETURN NEW;
END $$;

-- Migration 8's batched finish, which also writes the answer of each run
-- it records with a passing outcome — only once the finish says the run is
-- on record with that outcome (a run fenced out, or recorded otherwise by
-- another, keeps none). A new overload: an instance of the version before,
-- in a rolling deploy, still calls the old one (its runs keep no answer).
-- The answer's write changes neither `state` nor `run`: no trigger fires.
CREATE FUNCTION order_finish_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[], p_kinds text[], p_replays text[], p_replay_ms bigint, p_trace_ids text[], p_trace_span_ids text[], p_answers text[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE v_kind text;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    PERFORM set_config('order_threads.trace_id', coalesce(p_trace_ids[i], ''), true),
            set_config('order_threads.trace_span_id', coalesce(p_trace_span_ids[i], ''), true);
    v_kind := order_finish(p_orders[i], p_runs[i], p_owners[i], p_fences[i], p_kinds[i], p_replays[i], p_replay_ms);
    IF p_answers[i] IS NOT NULL AND v_kind = p_kinds[i] THEN
      UPDATE orders SET answer = p_answers[i] WHERE order_id = p_orders[i] AND run = p_runs[i] AND state = 'done';
    END IF;
    RETURN NEXT v_kind;
  END LOOP;
  PERFORM set_config('order_threads.trace_id', '', true), set_config('order_threads.trace_span_id', '', true);
END $$;
