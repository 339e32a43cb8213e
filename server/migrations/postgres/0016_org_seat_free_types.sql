-- The member types (level 0 of the hierarchy) whose members use their units' seat licenses
-- without taking a seat, as an organization's managers set them (JSON, e.g. ["teacher"]);
-- NULL: none besides the server's `--seat-free-type`.
ALTER TABLE orgs ADD COLUMN seat_free_types TEXT;
