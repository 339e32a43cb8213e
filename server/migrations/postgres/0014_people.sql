-- Members are listed with when a token was last issued to them: their newest refresh token,
-- found by this index instead of a scan of every login per member.
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_name, created_at);

-- An organization's settings, changed by its managers (`PATCH /v1/org`): the name people
-- see, the currency new licenses default to, and the days before expiry daemons alert at
-- (JSON, e.g. [30,7,1,0]); NULL: the defaults.
ALTER TABLE orgs ADD COLUMN display_name TEXT;
ALTER TABLE orgs ADD COLUMN default_currency TEXT;
ALTER TABLE orgs ADD COLUMN alert_days TEXT;

-- One-time links a manager hands over: an invitation to join (a new member chooses their
-- password) or a password reset (a member chooses a new one). The code is kept as its
-- SHA-256; a link is used once, until it expires or is revoked or replaced.
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    code_hash   TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('invite', 'reset')),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('manager', 'employee')),
    note        TEXT,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX invitations_by_org ON invitations (org_id, created_at);
CREATE INDEX invitations_by_name ON invitations (name) WHERE used_at IS NULL AND revoked_at IS NULL;

-- A rotated client secret: the previous one keeps working until the grace period chosen at
-- rotation ends, so the service using it can move over without an outage.
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_until TIMESTAMPTZ;
