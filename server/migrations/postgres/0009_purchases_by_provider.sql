-- A permission check asks which remote Hierarchy Providers an organization's purchases use.
CREATE INDEX purchases_by_provider ON purchases (org_id, hierarchy_provider);
