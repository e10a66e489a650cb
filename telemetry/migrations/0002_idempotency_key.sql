-- Idempotency key of a batch run: the Idempotency-Key request header of its POST.
-- Nullable, so the rows stored before this migration (and posts without the
-- header) stay valid; SQLite lets a unique index hold any number of NULLs.
-- The unique index is what makes a repeated or concurrent post store one run.

ALTER TABLE batch_runs ADD COLUMN idempotency_key TEXT;

CREATE UNIQUE INDEX idx_batch_runs_idempotency_key ON batch_runs(idempotency_key);
