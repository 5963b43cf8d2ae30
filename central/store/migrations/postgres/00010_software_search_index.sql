-- Software search reads the computers that have a name (and a version
-- range) from one index, without the table: the name_id index becomes
-- (name_id, version_key, computer_id). The old index is dropped so that an
-- ingest still writes one name-ordered index (docs/BENCHMARKS.md, "Inventory
-- search"); the previous release's queries on name_id use the new index's
-- first column.
-- +goose Up
CREATE INDEX IF NOT EXISTS "idx_softwares_name_version" ON "softwares" ("name_id","version_key","computer_id");
DROP INDEX IF EXISTS "idx_softwares_name_id";

-- +goose Down
CREATE INDEX IF NOT EXISTS "idx_softwares_name_id" ON "softwares" ("name_id");
DROP INDEX IF EXISTS "idx_softwares_name_version";
