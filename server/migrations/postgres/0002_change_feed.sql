-- The change feed reads licenses, live and removed, in revision order.
CREATE INDEX licenses_by_revision ON licenses (org_id, revision);
