-- A removed client is kept, marked, so every replica learns within seconds that its tokens
-- no longer count (the same way it learns of disabled users).
ALTER TABLE oauth_clients ADD COLUMN removed_at TIMESTAMPTZ;

-- API keys: long-lived bearer credentials of a user, for scripts and machines.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,          -- public part, shown in lists and the audit log
    secret_hash   TEXT NOT NULL UNIQUE,      -- SHA-256 of the whole key
    user_name     TEXT NOT NULL,
    label         TEXT NOT NULL,             -- what it is for
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_keys_by_user ON api_keys (user_name);
