-- name: every list filter an index range, for one client too

-- A client's GET /orders?state=succeeded (and each other ending of its own,
-- and failed) read its orders newest first and passed over each its filter
-- did not keep: a client whose own history is 60,000 failures made each page
-- of its successes a scan of all of them, 16-21 ms of a read connection
-- every client shares. Migration 20 made each ending a range for all
-- clients (the admin's list); these make it one for a client, scanned
-- backwards from the page's position (src/postgres/pg-order-list.ts).
-- `done` needs none: it passes over the running only, as few as the orders
-- in flight; the running are read off orders_running_by_owner whole and
-- sorted, for the same reason.
CREATE INDEX orders_ended_listed_by_client ON orders (client, kind, received_at, run) WHERE state = 'done';
CREATE INDEX orders_failed_listed_by_client ON orders (client, received_at, run)
  WHERE state = 'done' AND kind NOT IN ('ok', 'canceled', 'interrupted', 'dead_lettered');
