-- A TAG search, and every query of a TAG-scoped user, finds its computers
-- from (key_name, key_value, computer_id) instead of scanning every
-- account info row (docs/BENCHMARKS.md, "One pass per search"). A few rows
-- per computer: ingest writes one small entry more per TAG.
-- +goose Up
CREATE INDEX IF NOT EXISTS "idx_account_infos_value" ON "account_infos" ("key_name","key_value","computer_id");

-- +goose Down
DROP INDEX IF EXISTS "idx_account_infos_value";
