-- Members reach daemons through the change feed, as licenses and holders do: a change of a
-- member (joined, role, status, second factor) or of an invitation (made, resent, revoked,
-- accepted) records the organization's revision it was made at.
ALTER TABLE users ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
ALTER TABLE invitations ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

-- Today's members and open invitations come with the next revision of their organization,
-- so a feed read from the start has them.
UPDATE orgs SET revision = revision + 1
 WHERE id IN (SELECT org_id FROM users UNION SELECT org_id FROM invitations);
UPDATE users SET revision = (SELECT o.revision FROM orgs o WHERE o.id = users.org_id);
UPDATE invitations SET revision = (SELECT o.revision FROM orgs o WHERE o.id = invitations.org_id);

CREATE INDEX users_by_revision ON users (org_id, revision);
CREATE INDEX invitations_by_revision ON invitations (org_id, revision);
