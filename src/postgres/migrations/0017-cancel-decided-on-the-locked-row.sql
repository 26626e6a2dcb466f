-- name: a cancel decides on the one row it locks

-- Replaces migration 12's: that one marked with an UPDATE, and when the
-- UPDATE found nothing, answered from a SELECT run after it. A begin that
-- committed in between (the row inserted, invisible to the UPDATE, seen
-- by the SELECT) was answered "under way" with no mark set and no owner
-- told: the cancel waited for the run, which then recorded its success,
-- and the client was told 200 to a cancel that canceled nothing.
--
-- Now the answer and the mark come from one row version, held by its
-- lock until commit: under way, it is marked and its owner told; a
-- row not committed yet is not found (the cancel came before the
-- order), as a finish committed first is seen done.
CREATE OR REPLACE FUNCTION order_cancel_request(p_order text)
RETURNS TABLE (state text, run bigint, kind text) LANGUAGE plpgsql AS $$
DECLARE o orders;
BEGIN
  SELECT * INTO o FROM orders WHERE order_id = p_order FOR UPDATE;
  IF NOT FOUND OR (o.state = 'done' AND o.replay_until <= now()) THEN RETURN; END IF;
  IF o.state = 'running' THEN
    UPDATE orders SET cancel_requested = true WHERE order_id = p_order;
    PERFORM pg_notify('order_cancel', p_order);
  END IF;
  RETURN QUERY SELECT o.state, o.run, o.kind;
END $$;
