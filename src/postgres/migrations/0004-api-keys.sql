-- name: API keys issued by npm run keys

-- Keys issued to clients in Postgres (besides API_KEYS): only their
-- SHA-256 is kept, never the key, which is shown once when issued.
-- A client may have several (rotation); revoking a client revokes them
-- all. Every instance reads the live ones (and hears of a change on
-- the api_keys channel), so a revoked key is refused everywhere within
-- a second.
CREATE TABLE api_keys (
  key_hash   bytea PRIMARY KEY,
  client     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_by_client ON api_keys (client);
