-- A purchase's identity — the SHA-256 of what was bought: product, owner level, the owners
-- sorted, Hierarchy Provider, dates — is unique among the purchases of live licenses, so a
-- duplicate purchase is refused by this index instead of by reading earlier purchases inside
-- the organization's write lock. `removed` follows the license's removal. Both are derived:
-- lm-server fills in the identity of earlier purchases when it starts (and after a restore),
-- the oldest of two equal live purchases keeping it.
ALTER TABLE purchases ADD COLUMN identity TEXT;
ALTER TABLE purchases ADD COLUMN removed BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE purchases SET removed = (SELECT l.deleted_at IS NOT NULL FROM licenses l WHERE l.id = purchases.license_id);
CREATE UNIQUE INDEX purchases_by_identity ON purchases (org_id, identity) WHERE NOT removed;
