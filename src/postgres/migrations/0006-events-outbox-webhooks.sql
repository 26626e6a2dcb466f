-- name: events: an outbox written with the change it reports, webhook endpoints, deliveries

-- The outbox (docs/durability.md#events-the-outbox). An event row is inserted by a
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
