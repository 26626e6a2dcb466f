-- name: a finish says whether the outcome on record is its own

-- Migration 12's finish answers the kind on record when its own write did
-- not land — the run fenced out and ended by whoever took it over — and
-- the caller cannot tell that answer from its own: an instance paused past
-- its lease woke, found the outcome the survivor had recorded for its run,
-- and answered its waiting client with its own result under that kind, a
-- body no replay of the order ever gives. The same transition, which now
-- also says whether it wrote the outcome (`here`); the caller answers the
-- record's own answer when it did not.
CREATE FUNCTION order_finish_here(p_order text, p_run bigint, p_owner uuid, p_fence integer, p_kind text,
                                  p_replay text, p_replay_ms bigint, OUT kind text, OUT here boolean)
LANGUAGE plpgsql AS $$
DECLARE o orders;
BEGIN
  PERFORM set_config('synchronous_commit', 'on', true);
  here := false;
  IF p_kind = 'ok' THEN
    SELECT * INTO o FROM orders
     WHERE order_id = p_order AND run = p_run AND owner = p_owner AND fence = p_fence AND state = 'running'
       FOR UPDATE;
    IF FOUND AND o.cancel_requested THEN kind := 'cancel_requested'; RETURN; END IF;
  END IF;
  UPDATE orders SET state = 'done', owner = NULL, kind = p_kind, replay = p_replay, finished_at = now(),
         replay_until = now() + p_replay_ms * interval '1 millisecond'
   WHERE order_id = p_order AND run = p_run AND owner = p_owner AND fence = p_fence AND state = 'running'
   RETURNING * INTO o;
  IF FOUND THEN
    IF o.watched THEN PERFORM pg_notify('order_done', p_order); END IF;
    kind := p_kind;
    here := true;
    RETURN;
  END IF;
  SELECT * INTO o FROM orders WHERE order_id = p_order;
  kind := CASE WHEN FOUND AND o.run = p_run AND o.state = 'done' THEN o.kind ELSE 'interrupted' END;
END $$;

-- Migration 21's batched finish over it: the answer of a passing outcome
-- is written only by the finish that recorded it (before, by any finish
-- whose kind matched what another had recorded).
CREATE FUNCTION order_finish_here_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[],
                                       p_kinds text[], p_replays text[], p_replay_ms bigint, p_trace_ids text[],
                                       p_trace_span_ids text[], p_answers text[])
RETURNS TABLE (kind text, here boolean) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    PERFORM set_config('order_threads.trace_id', coalesce(p_trace_ids[i], ''), true),
            set_config('order_threads.trace_span_id', coalesce(p_trace_span_ids[i], ''), true);
    SELECT * INTO r FROM order_finish_here(p_orders[i], p_runs[i], p_owners[i], p_fences[i], p_kinds[i], p_replays[i],
                                           p_replay_ms);
    IF p_answers[i] IS NOT NULL AND r.here THEN
      UPDATE orders SET answer = p_answers[i] WHERE order_id = p_orders[i] AND run = p_runs[i] AND state = 'done';
    END IF;
    kind := r.kind;
    here := r.here;
    RETURN NEXT;
  END LOOP;
  PERFORM set_config('order_threads.trace_id', '', true), set_config('order_threads.trace_span_id', '', true);
END $$;
