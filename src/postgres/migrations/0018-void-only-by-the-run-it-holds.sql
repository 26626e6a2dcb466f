-- name: a holder's void goes through only while it holds the run under way

-- Replaces migration 15's, which refused a holder's void only while the
-- run was under way under another owner or fence. A lost instance woken
-- after the run it gave up had been taken over, resumed and recorded ok
-- elsewhere found the run done: no longer under way, its late undo went
-- through, and the refund gave back the money of the success on record.
--
-- Now a void sent by a holder goes through only if the run is under way
-- under that very owner and fence — held by the row's lock (FOR SHARE)
-- until commit, so a claim or a finish comes wholly before or after. A
-- run done, taken over, run again or forgotten is not the holder's: its
-- money is whoever's holds it now, and the answer is 'not_held'. A run's
-- own undo always comes before its finish, so none of its voids is
-- refused. A caller holding no run (NULL owner: recovery voiding a run
-- its claim made its own, or a failed order's payment voided after its
-- record) is not fenced, as before.
CREATE OR REPLACE FUNCTION provider_void_held_many(p_orders text[], p_runs bigint[], p_refuses boolean[],
                                                   p_owners uuid[], p_fences integer[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE o orders;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    IF p_owners[i] IS NOT NULL THEN
      SELECT * INTO o FROM orders WHERE order_id = p_orders[i] AND run = p_runs[i] FOR SHARE;
      IF NOT FOUND OR o.state <> 'running' OR o.owner IS DISTINCT FROM p_owners[i] OR o.fence <> p_fences[i] THEN
        RETURN NEXT 'not_held';
        CONTINUE;
      END IF;
    END IF;
    RETURN NEXT provider_void(p_orders[i], p_runs[i], p_refuses[i]);
  END LOOP;
END $$;
