-- Idempotent allocation: the key a worker saved before asking for a
-- sector (`AllocateSpec.AllocationKey`) and the sector it was answered
-- with, written in the allocation's transaction, so that a worker that
-- dies before saving the answer gets the same number when it asks again.
-- Requests without a key (damocles' workers, earlier releases) add no row.
CREATE TABLE manager_allocations (
    key TEXT PRIMARY KEY,
    miner BIGINT NOT NULL,
    number BIGINT NOT NULL
);
