-- name: orders listed by how they ended, each ending as itself

-- GET /orders?state=… lists an order canceled, interrupted or dead-lettered
-- as that, no longer as failed (src/domain/lifecycle.ts, OWN_ENDINGS): each
-- ending is a range of one index, scanned backwards from the page's position
-- (src/postgres/pg-order-list.ts), as every other filter of the list is.
CREATE INDEX orders_ended_listed ON orders (kind, received_at, run) WHERE state = 'done';
-- The failed: every other ending but success, as the list's condition says it.
DROP INDEX orders_failed_listed;
CREATE INDEX orders_failed_listed ON orders (received_at, run)
  WHERE state = 'done' AND kind NOT IN ('ok', 'canceled', 'interrupted', 'dead_lettered');
