-- The built-in authorization server: passwords, OAuth clients, device codes, refresh tokens.
ALTER TABLE users ADD COLUMN password_hash TEXT;          -- Argon2id PHC string; NULL: no password login
ALTER TABLE users ADD COLUMN failed_logins BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TIMESTAMPTZ;    -- after too many failed logins

CREATE TABLE oauth_clients (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    secret_hash    TEXT,                      -- Argon2id; NULL for public clients
    redirect_uris  TEXT NOT NULL DEFAULT '[]', -- JSON array
    grants         TEXT NOT NULL,             -- JSON array of grant types
    org_id         TEXT,                      -- client_credentials: the org and role it acts as
    role           TEXT,
    created_at     TIMESTAMPTZ NOT NULL
);

-- Pending device authorizations (RFC 8628). Codes are stored hashed.
CREATE TABLE device_codes (
    device_code_hash  TEXT PRIMARY KEY,
    user_code         TEXT NOT NULL UNIQUE,
    client_id         TEXT NOT NULL,
    scope             TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    user_name         TEXT,
    requested_from    TEXT,                      -- the client address that asked, shown on approval
    interval_secs     BIGINT NOT NULL,
    last_polled_at    TIMESTAMPTZ,
    expires_at        TIMESTAMPTZ NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL
);

-- Refresh tokens, rotated on every use; a family is every token descended from one login.
CREATE TABLE refresh_tokens (
    token_hash   TEXT PRIMARY KEY,
    family       TEXT NOT NULL,
    user_name    TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    scope        TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
