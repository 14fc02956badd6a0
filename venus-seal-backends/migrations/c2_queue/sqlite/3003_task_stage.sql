-- The queue proves other stages than C2 (snap_prove, window_post,
-- winning_post): each task names its stage; the tasks queued before are
-- C2s. For another stage, `c1_output` holds the whole task's JSON and
-- `proof` its output's JSON, hex-encoded as a C2's proof bytes are.
ALTER TABLE c2_tasks ADD COLUMN stage TEXT NOT NULL DEFAULT 'c2';

-- A prover claims the oldest queued task among the stages it proves.
CREATE INDEX IF NOT EXISTS c2_tasks_stage ON c2_tasks (stage, state, created_at);
