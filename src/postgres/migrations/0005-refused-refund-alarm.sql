-- name: the alarm of a refused refund is raised by someone, at least once

-- A run recorded compensation_failed (the provider refused its refund)
-- needs its alarm raised — an error line a person reads — at least
-- once, whatever became of the instance that ran it: one that dies
-- between the outcome's commit and its line would otherwise leave the
-- money with nobody told. alarm_by: the instance whose lease covers the
-- alarm until it is raised — the run's owner as it finished, then
-- whichever recovery claims it once that lease has expired (as
-- recovery claims a lost instance's runs). alarm_raised_at: when the
-- line was written (set after it, so a death in between raises it
-- again, never not at all). Rows from before this migration count as
-- not raised: the first recovery pass raises them.
ALTER TABLE orders ADD COLUMN alarm_by uuid, ADD COLUMN alarm_raised_at timestamptz;

-- Every finish (order_finish: by the owner, or by recovery recording
-- interrupted) names who must raise the run's alarm, if it has one,
-- and starts it not raised.
CREATE FUNCTION orders_run_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.alarm_by := CASE WHEN NEW.kind = 'compensation_failed' THEN OLD.owner END;
  NEW.alarm_raised_at := NULL;
  RETURN NEW;
END $$;
CREATE TRIGGER run_finished BEFORE UPDATE OF state ON orders
  FOR EACH ROW WHEN (OLD.state = 'running' AND NEW.state = 'done') EXECUTE FUNCTION orders_run_finished();

-- Recovery looks for alarms not raised at every pass: few rows, found without a scan.
CREATE INDEX orders_alarm_not_raised ON orders (order_id) WHERE kind = 'compensation_failed' AND alarm_raised_at IS NULL;
