-- Pruning deletes the tasks that finished before a cutoff: find them by
-- state and finishing time without scanning the queue.
CREATE INDEX IF NOT EXISTS c2_tasks_finished ON c2_tasks (state, updated_at);
