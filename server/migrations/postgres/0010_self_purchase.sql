-- Whether employees may buy seat licenses for their own units, and how many seats at most:
-- NULL (the default) means only managers buy.
ALTER TABLE orgs ADD COLUMN self_purchase_max_seats BIGINT;
