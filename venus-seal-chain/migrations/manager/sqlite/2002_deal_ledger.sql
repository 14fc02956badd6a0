-- The deal queue becomes the deals' ledger: a deal handed to a sector
-- stays in its row (assigned to the sector) instead of being deleted, so
-- the hand-out and the sector's record are written in one transaction
-- and an aborted sector's deals go back to their old place; a deal no
-- sector can activate any more is kept with the reason. Rows of earlier
-- releases are all queued (NULL everywhere).

ALTER TABLE manager_deals ADD COLUMN start_epoch BIGINT;
ALTER TABLE manager_deals ADD COLUMN sector_miner BIGINT;
ALTER TABLE manager_deals ADD COLUMN sector_number BIGINT;
ALTER TABLE manager_deals ADD COLUMN expired TEXT;

CREATE INDEX manager_deals_sector ON manager_deals (sector_miner, sector_number);
