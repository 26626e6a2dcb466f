-- name: a void sent by a run's lost instance is dropped once the run is taken over

-- The void as the instance that holds a run sends it, with the run's owner
-- and fence as it knows them: refused ('fenced') while the run is under
-- way under another owner or a later fence. Its instance was lost — paused
-- past its lease — and the run was taken over and resumed under the same
-- idempotency key: the lost one's late undo (the refund of the run it gave
-- up on) would give back the resumed run's payment behind it, or refuse
-- its charge still to come. The order's row is held (FOR SHARE) until
-- commit, so a claim by recovery comes wholly before — the void is refused
-- — or after, and then finds the run voided and does not resume it. A
-- caller that holds no run (NULL owner: recovery voiding a run it claimed,
-- which its claim made its own) is not fenced.
CREATE FUNCTION provider_void_held_many(p_orders text[], p_runs bigint[], p_refuses boolean[], p_owners uuid[],
                                        p_fences integer[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE o orders;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    IF p_owners[i] IS NOT NULL THEN
      SELECT * INTO o FROM orders WHERE order_id = p_orders[i] AND run = p_runs[i] FOR SHARE;
      IF FOUND AND o.state = 'running' AND (o.owner IS DISTINCT FROM p_owners[i] OR o.fence <> p_fences[i]) THEN
        RETURN NEXT 'fenced';
        CONTINUE;
      END IF;
    END IF;
    RETURN NEXT provider_void(p_orders[i], p_runs[i], p_refuses[i]);
  END LOOP;
END $$;
