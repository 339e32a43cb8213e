-- Columns joined to licenses.id compare in its collation ("C"): with the database default on
-- one side, PostgreSQL could use the index on neither and scanned purchases once per license
-- of a permission check (5 s at 6,000 licenses). Checked by tests/tests/server/schema.rs.
ALTER TABLE assignments ALTER COLUMN license_id TYPE TEXT COLLATE "C";
ALTER TABLE purchases ALTER COLUMN license_id TYPE TEXT COLLATE "C";
ALTER TABLE license_owners ALTER COLUMN license_id TYPE TEXT COLLATE "C";
