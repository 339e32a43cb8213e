-- Organizations: the tenant boundary. `revision` is bumped by every write transaction
-- and is the position of the org's change feed.
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    revision    BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    role        TEXT NOT NULL CHECK (role IN ('manager', 'employee')),
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Keys the server signs its tokens with; retired keys keep verifying.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    private_pkcs8  TEXT NOT NULL,
    public_key     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    retired_at     TIMESTAMPTZ
);

CREATE TABLE licenses (
    id             TEXT COLLATE "C" PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES orgs(id),
    product        TEXT COLLATE "C" NOT NULL,
    name           TEXT NOT NULL,
    name_key       TEXT COLLATE "C" NOT NULL,              -- lowercase name, for case-insensitive sort
    kind           TEXT COLLATE "C" NOT NULL,
    vendor         TEXT NOT NULL,
    vendor_key     TEXT COLLATE "C" NOT NULL,              -- lowercase vendor, for filter and sort
    cost_amount    BIGINT NOT NULL CHECK (cost_amount >= 0),
    cost_currency  TEXT NOT NULL,
    seats          BIGINT CHECK (seats IS NULL OR seats >= 1),
    seats_sort     BIGINT NOT NULL,           -- seats, or a sentinel above every real count
    seats_used     BIGINT NOT NULL DEFAULT 0,
    added          DATE NOT NULL,              
    expires        DATE,                       
    expires_sort   DATE NOT NULL,              -- expires, or 9999-12-31 for "never"
    owner_level    TEXT,
    owner_eids     TEXT,                       -- JSON array text
    license_key    TEXT,
    notes          TEXT NOT NULL DEFAULT '',
    assignments    TEXT NOT NULL DEFAULT '[]',  -- JSON copy of the assignment rows, for one-query reads
    search         TEXT NOT NULL,              -- lowercase text that `q` searches
    version        BIGINT NOT NULL,
    revision       BIGINT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    deleted_at     TIMESTAMPTZ,
    deleted_by     TEXT
);

-- One index per sortable column, led by the org and ending with the id tie-breaker, so a
-- filtered, sorted keyset page is an index range scan. Partial: removed licenses never list.
CREATE INDEX licenses_by_id ON licenses (org_id, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_product ON licenses (org_id, product, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_name ON licenses (org_id, name_key, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_kind ON licenses (org_id, kind, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_vendor ON licenses (org_id, vendor_key, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_cost ON licenses (org_id, cost_amount, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_seats ON licenses (org_id, seats_sort, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_seats_used ON licenses (org_id, seats_used, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_added ON licenses (org_id, added, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_by_expires ON licenses (org_id, expires_sort, id) WHERE deleted_at IS NULL;
CREATE INDEX licenses_removed ON licenses (org_id, deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE assignments (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    license_id  TEXT NOT NULL REFERENCES licenses(id),
    employee    TEXT,
    device      TEXT,
    since       TIMESTAMPTZ NOT NULL,
    CHECK ((employee IS NULL) <> (device IS NULL))
);
CREATE UNIQUE INDEX assignments_one_per_employee ON assignments (license_id, employee) WHERE employee IS NOT NULL;
CREATE UNIQUE INDEX assignments_one_per_device ON assignments (license_id, device) WHERE device IS NOT NULL;
CREATE INDEX assignments_by_employee ON assignments (org_id, employee, license_id) WHERE employee IS NOT NULL;
CREATE INDEX assignments_by_device ON assignments (org_id, device, license_id) WHERE device IS NOT NULL;
CREATE INDEX assignments_by_license ON assignments (license_id, since);

CREATE TABLE audit (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    record_type  TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    before       TEXT,
    after        TEXT,
    request_id   TEXT,
    client_addr  TEXT
);
CREATE INDEX audit_by_org ON audit (org_id, id);
CREATE INDEX audit_by_record ON audit (org_id, record_id, id);
CREATE INDEX audit_by_actor ON audit (org_id, actor, id);
