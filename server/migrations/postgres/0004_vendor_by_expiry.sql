-- "Which of this vendor's licenses expire next?" is the renewal question IT staff ask most;
-- without this index the planner walks the expiry index and filters out other vendors.
CREATE INDEX licenses_by_vendor_expires ON licenses (org_id, vendor_key, expires_sort, id) WHERE deleted_at IS NULL;
