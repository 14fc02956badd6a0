-- The manager store, as release 8e445b8 created it at start-up (IF NOT
-- EXISTS: a database of that release is adopted as it is).

-- The lock that release takes around the same statements, so that one of
-- its processes starting beside this one does not race on them.
SELECT pg_advisory_xact_lock(7351150);

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
    id BIGSERIAL PRIMARY KEY,
    position BIGINT NOT NULL,
    miner BIGINT,
    size BIGINT NOT NULL,
    deal TEXT NOT NULL
);
