-- name: runs handed over at a graceful stop, claimable at once

-- An instance stopping gracefully (SIGTERM, a rolling restart) with a run
-- its drain cannot wait for stops the run's steps and hands the run over,
-- rather than cancel it and void its payment: `handed_over` makes the run
-- claimable by any live instance's recovery at once, although its owner's
-- lease still holds (the owner is still draining what it can finish);
-- the claim clears it. `handovers`: how many of the run's claims took it
-- from an instance that handed it over, not one that was lost: those are
-- no sign that the order brings its instances down, and do not count
-- towards ORDER_RECOVERIES_MAX.
ALTER TABLE orders ADD COLUMN handed_over boolean NOT NULL DEFAULT false;
ALTER TABLE orders ADD COLUMN handovers integer NOT NULL DEFAULT 0;

-- A new run starts unfenced, unmarked, never recovered and never handed over, however it starts.
CREATE OR REPLACE FUNCTION orders_new_run_unfenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.fence := 0;
  NEW.cancel_requested := false;
  NEW.recoveries := 0;
  NEW.handed_over := false;
  NEW.handovers := 0;
  RETURN NEW;
END $$;

-- Hand runs over. Invariant: only the run's owner holding the run's
-- current fence hands it over, while it is under way; and the hand-over
-- raises the fence, so that nothing its instance still sends for the run —
-- a step's record, a finish, a void — lands after it: from here on the run
-- and its payment are whoever claims it next. One notification for the
-- statement, at commit: the live instances look for runs to claim at once.
-- Answers, per run, whether it was handed over.
CREATE FUNCTION order_hand_over_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[])
RETURNS SETOF boolean LANGUAGE plpgsql AS $$
DECLARE v_handed boolean; v_any boolean := false;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    UPDATE orders SET handed_over = true, fence = fence + 1
     WHERE order_id = p_orders[i] AND run = p_runs[i] AND owner = p_owners[i] AND fence = p_fences[i]
       AND state = 'running';
    v_handed := FOUND;
    v_any := v_any OR v_handed;
    RETURN NEXT v_handed;
  END LOOP;
  IF v_any THEN
    PERFORM pg_notify('runs_handed_over', '');
  END IF;
END $$;
