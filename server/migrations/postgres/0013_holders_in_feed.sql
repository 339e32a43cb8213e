-- Holders reach daemons through the change feed as their own small changes: each assignment
-- row records the revision it was made (or its license restored) at, and a released one
-- leaves a tombstone for the feed until the retention purges it, as a removed license does.
-- Rows made before this take their license's revision: the feed serves them with it. A
-- tombstone names its holder: an employee's feed carries their own holders only.
ALTER TABLE assignments ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
UPDATE assignments SET revision = l.revision FROM licenses l WHERE l.id = assignments.license_id;
CREATE INDEX assignments_by_revision ON assignments (org_id, revision);

CREATE TABLE released_assignments (
    org_id      TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    id          TEXT NOT NULL,
    license_id  TEXT COLLATE "C" NOT NULL,
    employee    TEXT,
    device      TEXT,
    released_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, revision, id)
);
CREATE INDEX released_assignments_by_age ON released_assignments (released_at);
CREATE INDEX released_assignments_by_employee ON released_assignments (org_id, employee, revision)
    WHERE employee IS NOT NULL;
