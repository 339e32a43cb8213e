-- PostgreSQL's 0011 gives the columns joined to licenses.id its collation. SQLite compares
-- all text the same way (BINARY): nothing to change, kept so the two histories stay in step.
SELECT 1;
