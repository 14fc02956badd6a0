-- The C2 task queue, as release 8e445b8 created it at start-up (IF NOT
-- EXISTS: a database of that release is adopted as it is).

CREATE TABLE IF NOT EXISTS c2_tasks (
    id TEXT PRIMARY KEY,
    miner BIGINT NOT NULL,
    number BIGINT NOT NULL,
    digest TEXT NOT NULL,
    proof_type TEXT NOT NULL,
    c1_output TEXT NOT NULL,
    state TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at BIGINT,
    attempts BIGINT NOT NULL,
    proof TEXT,
    error_level TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS c2_tasks_state ON c2_tasks (state, created_at);
