-- name: orders listed newest first, and an order's events found by its id

-- GET /orders pages newest first by (received_at, run), for every client
-- (the admin) or one: each index is scanned backwards from the page's
-- position (src/postgres/pg-order-list.ts).
CREATE INDEX orders_listed ON orders (received_at, run);
CREATE INDEX orders_listed_by_client ON orders (client, received_at, run);
-- "What failed in the last hour" finds its few rows among many without
-- passing over every success.
CREATE INDEX orders_failed_listed ON orders (received_at, run) WHERE state = 'done' AND kind <> 'ok';
-- An order's timeline reads its events, and their deliveries (an event's
-- own deletion, past retention, finds its deliveries by it too).
CREATE INDEX events_by_order ON events (order_id);
CREATE INDEX event_deliveries_by_event ON event_deliveries (event_seq);
-- Its first column serves whatever read orders_by_client: one index, not two to keep up on every write.
DROP INDEX orders_by_client;
