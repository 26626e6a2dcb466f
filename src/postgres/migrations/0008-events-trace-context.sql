-- name: events: the order's trace context, for their deliveries' spans

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
