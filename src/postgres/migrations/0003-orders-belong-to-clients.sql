-- name: every order and every payment is its client's

-- An order is its client's: the same order_id from two clients is two
-- orders. The key every row is filed under, order_id, becomes
-- client:order_id (a client's name has no colon, so the first one
-- splits it; storedKey in database.ts), so every function and
-- statement keeps working on one text key, and two clients' rows can
-- never meet. Rows from before clients existed were the one anonymous
-- client's (open mode). The client is also a column of its own, for
-- whoever reads the tables by client.
UPDATE orders SET order_id = 'anonymous:' || order_id;
UPDATE provider_payments SET order_id = 'anonymous:' || order_id;
ALTER TABLE orders ADD COLUMN client text NOT NULL GENERATED ALWAYS AS (split_part(order_id, ':', 1)) STORED;
ALTER TABLE provider_payments ADD COLUMN client text NOT NULL GENERATED ALWAYS AS (split_part(order_id, ':', 1)) STORED;
CREATE INDEX orders_by_client ON orders (client);
