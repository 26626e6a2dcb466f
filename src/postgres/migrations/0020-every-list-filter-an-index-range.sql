-- name: every list filter an index range

-- GET /orders?state=succeeded (and the admin's) read the client's orders, or
-- everyone's, newest first and passed over each that failed: a client whose
-- own history is 60,000 failures made each page of its successes a scan of
-- all of them, 16-21 ms of a read connection every clients share. Each
-- filter of a done order now has an index of its own, for a client and for
-- all, scanned backwards from the page's position: a page reads its own
-- rows (src/postgres/pg-order-list.ts). `done` needs none: it passes over the
-- running only, as few as the orders in flight; the running are read off
-- orders_running_by_owner whole and sorted, for the same reason.
CREATE INDEX orders_succeeded_listed ON orders (received_at, run) WHERE kind = 'ok';
CREATE INDEX orders_succeeded_listed_by_client ON orders (client, received_at, run) WHERE kind = 'ok';
CREATE INDEX orders_failed_listed_by_client ON orders (client, received_at, run) WHERE state = 'done' AND kind <> 'ok';
