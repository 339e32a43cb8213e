-- Removed licenses are purged after a retention period. A change-feed cursor older than the
-- newest purged revision may have missed a removal and must resync from 0.
ALTER TABLE orgs ADD COLUMN purged_through INTEGER NOT NULL DEFAULT 0;
