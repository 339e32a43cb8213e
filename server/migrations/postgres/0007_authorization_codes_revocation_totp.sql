-- Authorization codes (RFC 6749 §4.1 with PKCE, RFC 7636): one use each, a minute long,
-- stored hashed. A replayed code revokes the login it started (its refresh family).
CREATE TABLE authorization_codes (
    code_hash       TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,            -- BASE64URL(SHA-256(code_verifier))
    nonce           TEXT,                     -- OpenID Connect: echoed in the ID token
    family          TEXT NOT NULL,            -- the refresh token family its tokens start
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ
);

-- Access tokens revoked before they expire: by their `jti`, or every token of a login by its
-- `sid` (the refresh family). A row may go once the last token it names has expired.
CREATE TABLE revoked_tokens (
    token_id    TEXT PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- The optional second factor (RFC 6238 TOTP): the shared secret, and the last time step
-- used, so that one code signs in once.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
