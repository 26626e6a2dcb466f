-- name: a run claimed by recovery fences out its own finish

-- The run's fencing token: 0 as begun, raised by every claim of
-- recovery. A finish carries the token its run was begun (or claimed)
-- with, and is refused once a claim has raised it — also when the
-- claimer is the instance that began the run, which the owner alone
-- cannot tell apart (recovery of its own runs left unfinished).
ALTER TABLE orders ADD COLUMN fence integer NOT NULL DEFAULT 0;

-- A new run starts unfenced, however it starts (order_begin's three
-- ways): the column resets whenever the run number moves on.
CREATE FUNCTION orders_new_run_unfenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.fence := 0;
  RETURN NEW;
END $$;
CREATE TRIGGER new_run_unfenced BEFORE UPDATE OF run ON orders
  FOR EACH ROW WHEN (NEW.run IS DISTINCT FROM OLD.run) EXECUTE FUNCTION orders_new_run_unfenced();

-- Replaced, not overloaded: a finish without a fence must fail, not slip past one.
DROP FUNCTION order_finish_many(text[], bigint[], uuid[], text[], text[], bigint);
DROP FUNCTION order_finish(text, bigint, uuid, text, text, bigint);

-- Record how a run ended. Invariant: an outcome is recorded once, by
-- the run's owner holding the run's current fence, while the run is
-- under way — so once recovery has claimed a run (and is voiding its
-- payment), no finish from before the claim can record it, whoever
-- sends it. A caller waiting on another instance is told in the same
-- transaction (NOTIFY is sent at commit). Committed synchronously:
-- this is what a client is told. Returns the kind on record for the
-- run: p_kind, or, if the run was taken over, what the taker recorded
-- (or will: interrupted).
CREATE FUNCTION order_finish(p_order text, p_run bigint, p_owner uuid, p_fence integer, p_kind text, p_replay text, p_replay_ms bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE o orders;
BEGIN
  PERFORM set_config('synchronous_commit', 'on', true);
  UPDATE orders SET state = 'done', owner = NULL, kind = p_kind, replay = p_replay, finished_at = now(),
         replay_until = now() + p_replay_ms * interval '1 millisecond'
   WHERE order_id = p_order AND run = p_run AND owner = p_owner AND fence = p_fence AND state = 'running'
   RETURNING * INTO o;
  IF FOUND THEN
    IF o.watched THEN PERFORM pg_notify('order_done', p_order); END IF;
    RETURN p_kind;
  END IF;
  SELECT * INTO o FROM orders WHERE order_id = p_order;
  RETURN CASE WHEN FOUND AND o.run = p_run AND o.state = 'done' THEN o.kind ELSE 'interrupted' END;
END $$;

CREATE FUNCTION order_finish_many(p_orders text[], p_runs bigint[], p_owners uuid[], p_fences integer[], p_kinds text[], p_replays text[], p_replay_ms bigint)
RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_orders, 1), 0) LOOP
    RETURN NEXT order_finish(p_orders[i], p_runs[i], p_owners[i], p_fences[i], p_kinds[i], p_replays[i], p_replay_ms);
  END LOOP;
END $$;
