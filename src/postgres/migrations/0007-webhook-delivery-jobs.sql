-- name: webhooks: one delivery job per order, for all its endpoints

-- One graphile-worker job per order rather than per endpoint and order:
-- each job is a claim, a completion and a queue row, the bulk of what a
-- delivery cost (docs/decisions/graphile-worker-over-pg-boss.md). The order's named queue keeps
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
