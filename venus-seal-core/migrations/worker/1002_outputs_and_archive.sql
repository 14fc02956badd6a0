-- Bounded growth: large stage outputs (PC1 and C1 output; a 32 GiB
-- sector's C1 output is about 20 MiB) live in a table of their own, one
-- row per output, so that reading a sector's row never reads them; they
-- are deleted once the sector is finished or aborted.
CREATE TABLE sector_outputs (
    job INTEGER NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (job, name)
);

-- Finished and aborted sectors move here, so that start-up reads only the
-- sectors it resumes. A job is in exactly one of `sectors` and
-- `sectors_archive`.
CREATE TABLE sectors_archive (
    job INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    record TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Terminal records written by an earlier release are archived without
-- their large outputs (a record that is not valid JSON is moved as it is:
-- loading it reports it corrupt, as before).
INSERT INTO sectors_archive (job, state, record, updated_at)
    SELECT job, state,
           CASE WHEN json_valid(record)
                THEN json_set(record, '$.pc1_output', NULL, '$.c1_output', NULL)
                ELSE record END,
           updated_at
    FROM sectors WHERE state IN ('Finished', 'Aborted');
DELETE FROM sectors WHERE state IN ('Finished', 'Aborted');
