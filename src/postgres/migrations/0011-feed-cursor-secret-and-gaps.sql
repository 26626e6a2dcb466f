-- name: the feed: a secret its cursors are signed with, and each client's newest event forgotten

-- The secret every instance signs and checks feed cursors with
-- (src/events/feed-cursor.ts): written once, by the first instance that
-- finds none (random bytes from Node, not SQL's random()).
CREATE TABLE feed_secrets (
  name   text PRIMARY KEY,
  secret bytea NOT NULL
);

-- Per client, the newest feed position (xid, seq) of an event forgotten
-- past EVENT_RETENTION_DAYS: a cursor behind it has a gap, said (410
-- events_gone), never skipped. Written by the housekeeping that forgets
-- them (pg-webhook-lanes.ts).
CREATE TABLE events_forgotten (
  client text PRIMARY KEY,
  xid    xid8 NOT NULL,
  seq    bigint NOT NULL
);
