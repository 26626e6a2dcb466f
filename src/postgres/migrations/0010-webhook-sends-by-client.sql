-- name: webhooks: each delivery job flagged with its client, for the client's share of the sends

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
