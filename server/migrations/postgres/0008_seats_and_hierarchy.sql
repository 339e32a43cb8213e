-- The built-in Hierarchy Provider: named, numbered levels (members are level 0), entities,
-- and who belongs to what. An entity is known by its type and external id (EID).
CREATE TABLE hierarchy_levels (
    org_id  TEXT NOT NULL REFERENCES orgs(id),
    name    TEXT NOT NULL,
    level   BIGINT NOT NULL CHECK (level >= 0),
    PRIMARY KEY (org_id, name)
);
CREATE TABLE entities (
    org_id  TEXT NOT NULL REFERENCES orgs(id),
    type    TEXT NOT NULL,
    eid     TEXT NOT NULL,
    name    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, type, eid)
);
CREATE INDEX entities_by_eid ON entities (org_id, eid);
CREATE TABLE memberships (
    org_id       TEXT NOT NULL REFERENCES orgs(id),
    member_type  TEXT NOT NULL,
    member_eid   TEXT NOT NULL,
    parent_type  TEXT NOT NULL,
    parent_eid   TEXT NOT NULL,
    PRIMARY KEY (org_id, member_type, member_eid, parent_type, parent_eid)
);
CREATE INDEX memberships_by_parent ON memberships (org_id, parent_type, parent_eid);

-- Products and the permissions they grant (JSON array of strings).
CREATE TABLE products (
    org_id       TEXT NOT NULL REFERENCES orgs(id),
    eid          TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    permissions  TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, eid)
);

-- Who owns which license, one row per owner: how a permission check finds the licenses of a
-- user's units with an index lookup. Kept in step with licenses.owner_level / owner_eids.
CREATE TABLE license_owners (
    license_id  TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    owner_type  TEXT NOT NULL,
    owner_eid   TEXT NOT NULL,
    PRIMARY KEY (license_id, owner_type, owner_eid)
);
CREATE INDEX license_owners_by_owner ON license_owners (org_id, owner_type, owner_eid);
INSERT INTO license_owners (license_id, org_id, owner_type, owner_eid)
    SELECT l.id, l.org_id, l.owner_level, j.value
    FROM licenses l, jsonb_array_elements_text(l.owner_eids::jsonb) j
    WHERE l.owner_level IS NOT NULL AND l.owner_eids IS NOT NULL;

-- A license bought through the purchase API: who bought it, from when it is valid, and the
-- Hierarchy Provider its owners live in (NULL: the built-in one).
CREATE TABLE purchases (
    license_id          TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES orgs(id),
    purchaser           TEXT NOT NULL,
    hierarchy_provider  TEXT,
    valid_from          DATE NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL
);

-- A seat taken implicitly by a permission check is an assignment marked `redeemed`; it is
-- released when its license ends or its holder leaves the owning unit. `last_seen` is the
-- holder's latest permission check.
ALTER TABLE assignments ADD COLUMN redeemed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE assignments ADD COLUMN last_seen TIMESTAMPTZ;
