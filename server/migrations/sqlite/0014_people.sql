-- Members are listed with when a token was last issued to them: their newest refresh token,
-- found by this index instead of a scan of every login per member.
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_name, created_at);

-- An organization's settings, changed by its managers (`PATCH /v1/org`): the name people
-- see, the currency new licenses default to, and the days before expiry daemons alert at
-- (JSON, e.g. [30,7,1,0]); NULL: the defaults.
ALTER TABLE orgs ADD COLUMN display_name TEXT;
ALTER TABLE orgs ADD COLUMN default_currency TEXT;
ALTER TABLE orgs ADD COLUMN alert_days TEXT;
