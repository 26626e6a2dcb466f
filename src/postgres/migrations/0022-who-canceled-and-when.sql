-- name: who canceled an order's run, and when

-- A cancel marked the run (migration 12) and nothing said by whom: the
-- audit line went to the log of whichever instance took the request, and
-- only for the admin's. The order's timeline now says who asked first —
-- the client's name or admin, and which admin key by its fingerprint —
-- and when, from the mark itself. `canceled_run` names the run they are
-- of: a later run's readers see none (nothing needs resetting them).
ALTER TABLE orders ADD COLUMN canceled_by text, ADD COLUMN canceled_by_key text, ADD COLUMN canceled_at timestamptz,
  ADD COLUMN canceled_run bigint;

-- Migration 17's cancel, and who asked: written while the row is still
-- locked by it (one transaction), for the first to ask of the run only. A
-- new overload: an instance of the version before still calls the old
-- one, whose marks say no one.
CREATE FUNCTION order_cancel_request(p_order text, p_actor text, p_actor_key text)
RETURNS TABLE (state text, run bigint, kind text) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  SELECT * INTO r FROM order_cancel_request(p_order);
  IF NOT FOUND THEN RETURN; END IF;
  IF r.state = 'running' THEN
    UPDATE orders o SET canceled_by = p_actor, canceled_by_key = p_actor_key, canceled_at = now(), canceled_run = r.run
     WHERE o.order_id = p_order AND o.canceled_run IS DISTINCT FROM r.run;
  END IF;
  state := r.state;
  run := r.run;
  kind := r.kind;
  RETURN NEXT;
END $$;
