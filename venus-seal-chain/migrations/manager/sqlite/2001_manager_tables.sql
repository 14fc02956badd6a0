-- The manager store, as release 8e445b8 created it at start-up (IF NOT
-- EXISTS: a database of that release is adopted as it is).

CREATE TABLE IF NOT EXISTS manager_numbers (
    miner BIGINT PRIMARY KEY,
    next_number BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS manager_sectors (
    miner BIGINT NOT NULL,
    number BIGINT NOT NULL,
    version BIGINT NOT NULL,
    queued BIGINT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (miner, number)
);

CREATE INDEX IF NOT EXISTS manager_sectors_queued ON manager_sectors (queued);

CREATE TABLE IF NOT EXISTS manager_deals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    position BIGINT NOT NULL,
    miner BIGINT,
    size BIGINT NOT NULL,
    deal TEXT NOT NULL
);
