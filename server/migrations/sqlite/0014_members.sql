-- Members are listed with when a token was last issued to them: their newest refresh token,
-- found by this index instead of a scan of every login per member.
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_name, created_at);
