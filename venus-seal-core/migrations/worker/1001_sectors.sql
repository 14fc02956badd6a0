-- The worker's sector records, as release 8e445b8 created them at start-up
-- (IF NOT EXISTS: a database of that release is adopted as it is).
CREATE TABLE IF NOT EXISTS sectors (
    job INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
