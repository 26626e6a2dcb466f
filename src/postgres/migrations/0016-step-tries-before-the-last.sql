-- name: a step's tries before its last, and the steps a lost instance left unended

-- Every try of a step that did not end it, one row each, beside the step's
-- row in order_steps (its last try): a try whose worker thread was lost
-- under it before the step ran again on another (`thread_died`,
-- `thread_terminated`), written by the statement that records the step's
-- end; and a step of a run whose instance was lost before its end was
-- recorded (`lost`: under way there, or ended unrecorded), written by the
-- recovery claim that takes the run over, from the run's start (or from
-- the claim before, which resumed it there) to the claim, its thread
-- unknown. `attempt` as in order_steps: the run's
-- takeover it belongs to (1: its first instance).
--
-- Its columns are order_steps' but the result and the money, which only a
-- step's end has.
CREATE TABLE order_step_tries (LIKE order_steps INCLUDING CONSTRAINTS);
ALTER TABLE order_step_tries
  DROP COLUMN result,
  DROP COLUMN money,
  DROP CONSTRAINT order_steps_outcome_check,
  ADD CONSTRAINT order_step_tries_outcome_check CHECK (outcome IN ('thread_died', 'thread_terminated', 'lost'));
CREATE INDEX order_step_tries_by_order ON order_step_tries (order_id);

-- When the order's latest run began: its own deadline's start (deadline_at
-- is set from it as a run begins, or is redriven), else when it was received.
CREATE FUNCTION order_run_started_at(o orders) RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT coalesce(o.deadline_at - (o.request::json ->> 'deadlineMs')::bigint * interval '1 millisecond', o.received_at)
$$;

-- Record a step's end (migration 14's, whose invariants hold), and in the
-- same statement its tries before the last (p_tries: JSON, [{thread, fate,
-- started_ms, ended_ms}], the times from the step's dispatch; NULL when it
-- had one try). The step's row is its last try's, which began as the try
-- before it ended. Tries of a step whose record is refused (fenced, or
-- recorded ok before) are not recorded either. A new overload: an instance
-- of the version before still calls migration 14's, and records no tries.
CREATE FUNCTION order_step_record(p_order text, p_run bigint, p_owner uuid, p_fence integer, p_step text,
                                  p_thread integer, p_duration_ms double precision, p_outcome text, p_result text,
                                  p_tries text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_dispatched timestamptz := now() - p_duration_ms * interval '1 millisecond';
  v_last_began double precision :=
    coalesce((SELECT max(t.ended_ms) FROM json_to_recordset(p_tries::json) AS t(ended_ms float8)), 0);
BEGIN
  IF NOT order_step_record(p_order, p_run, p_owner, p_fence, p_step, p_thread, p_duration_ms - v_last_began,
                           p_outcome, p_result) THEN
    RETURN false;
  END IF;
  INSERT INTO order_step_tries (order_id, run, step, attempt, thread, instance, started_at, ended_at, outcome)
    SELECT p_order, p_run, p_step, s.attempt, t.thread, p_owner,
           v_dispatched + t.started_ms * interval '1 millisecond', v_dispatched + t.ended_ms * interval '1 millisecond',
           'thread_' || t.fate
      FROM order_steps s, json_to_recordset(p_tries::json) AS t(thread integer, fate text, started_ms float8, ended_ms float8)
     WHERE s.order_id = p_order AND s.run = p_run AND s.step = p_step;
  RETURN true;
END $$;

CREATE FUNCTION order_step_record_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[],
                                       p_steps text[], p_threads integer[], p_durations_ms double precision[],
                                       p_outcomes text[], p_results text[], p_tries text[])
RETURNS SETOF boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    RETURN NEXT order_step_record(p_orders[i], p_runs[i], p_owners[i], p_fences[i], p_steps[i], p_threads[i],
                                  p_durations_ms[i], p_outcomes[i], p_results[i], p_tries[i]);
  END LOOP;
END $$;
