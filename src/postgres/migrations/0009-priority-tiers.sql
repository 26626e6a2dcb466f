-- name: priority tiers: a key's tier, and the tier of an order's latest run

-- A key's priority tier (npm run keys -- tier): NULL leaves
-- the client's to CLIENT_TIERS (standard if not named there).
ALTER TABLE api_keys ADD COLUMN tier text CHECK (tier IN ('critical', 'standard', 'free'));

-- The tier the order's latest run ran at (GET /orders/{order_id}): set
-- by the begin that starts the run. NULL for runs begun before 9, or by
-- an instance of the version before in a rolling deploy.
ALTER TABLE orders ADD COLUMN tier text;

-- A new overload, with each run's tier: an instance of the version
-- before still calls the old one. The row was just locked by the begin,
-- in the same transaction: the update waits for no one.
CREATE FUNCTION order_begin_many(p_orders text[], p_fingerprints text[], p_owners uuid[], p_tiers text[])
RETURNS TABLE (begun text, begun_run bigint, begun_replay text)
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    SELECT * INTO r FROM order_begin(p_orders[i], p_fingerprints[i], p_owners[i]);
    IF r.begun = 'started' THEN
      UPDATE orders SET tier = p_tiers[i] WHERE order_id = p_orders[i];
    END IF;
    begun := r.begun;
    begun_run := r.begun_run;
    begun_replay := r.begun_replay;
    RETURN NEXT;
  END LOOP;
END $$;
