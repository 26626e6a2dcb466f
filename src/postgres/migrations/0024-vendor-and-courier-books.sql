-- name: the vendor's and the courier service's books, idempotent and fenced

-- The simulated vendor's and courier service's books: every request a step
-- sent them, one row each, as the service received it (src/ledger/
-- service-books.ts). A step may run again after its instance was taken
-- over — an instance paused past its lease finishes its copy of a step the
-- survivor also ran — so what happened outside is counted here, not in
-- order_steps: one row 'applied' per (order_id, run, step) at most (the
-- index below holds it), the others counted as what they were.
CREATE TABLE service_requests (
  -- The order's key (client:order_id, as provider_payments has it) and its run.
  order_id    text NOT NULL,
  client      text NOT NULL GENERATED ALWAYS AS (split_part(order_id, ':', 1)) STORED,
  run         bigint NOT NULL,
  step        text NOT NULL,
  -- The claim's fence of the run as its caller held it (orders.fence then).
  fence       integer NOT NULL,
  -- The instance identity that held the claim; NULL when unknown.
  instance    uuid,
  answer      text NOT NULL CHECK (answer IN ('applied', 'duplicate', 'stale')),
  received_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX service_requests_applied_once ON service_requests (order_id, run, step) WHERE answer = 'applied';
CREATE INDEX service_requests_by_order ON service_requests (order_id);

-- A request under its key, answered as the service's rule says (answerTo in
-- service-books.ts): refused 'stale' if a request with a higher fence was
-- received under the key before, else 'duplicate' if one was applied, else
-- 'applied'. Invariant: the requests of one key are decided one at a time,
-- each seeing every one before it — the key's advisory lock, held until
-- commit, makes them so (there is no row of the key to lock before the
-- first) — so the effect is applied once, and never behind a newer claim.
CREATE FUNCTION service_request(p_order text, p_run bigint, p_step text, p_fence integer, p_instance uuid)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_highest integer;
  v_applied boolean;
  v_answer text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('order-threads:service:' || p_step || ':' || p_run || ':' || p_order, 0));
  SELECT max(fence), coalesce(bool_or(answer = 'applied'), false) INTO v_highest, v_applied
    FROM service_requests WHERE order_id = p_order AND run = p_run AND step = p_step;
  v_answer := CASE WHEN p_fence < v_highest THEN 'stale' WHEN v_applied THEN 'duplicate' ELSE 'applied' END;
  INSERT INTO service_requests (order_id, run, step, fence, instance, answer)
    VALUES (p_order, p_run, p_step, p_fence, p_instance, v_answer);
  RETURN v_answer;
END $$;

-- Requests sent together, each as service_request; the caller sends them
-- ordered by key, so two batches take their keys' locks in one order.
CREATE FUNCTION service_request_many(p_orders text[], p_runs bigint[], p_steps text[], p_fences integer[],
                                     p_instances uuid[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    RETURN NEXT service_request(p_orders[i], p_runs[i], p_steps[i], p_fences[i], p_instances[i]);
  END LOOP;
END $$;
