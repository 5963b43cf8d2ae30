-- Fleet hygiene (central/inventory): every merge of a duplicate computer is
-- recorded for the duplicates page (and a split one is never merged
-- again), and computers.updated_at is indexed for the groups sweep, which
-- reads the computers changed since its last pass.
-- +goose Up
CREATE INDEX IF NOT EXISTS "idx_computers_updated_at" ON "computers" ("updated_at");
CREATE TABLE "computer_merges" ("id" bigserial,"at" timestamptz,"target_id" bigint NOT NULL,"target_device_id" text,"merged_id" bigint,"merged_device_id" text,"merged_name" text,"merged_serial" text,"merged_mac" text,"reason" text,"actor" text,"split_at" timestamptz,"split_id" bigint,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_computer_merges_merged_device_id" ON "computer_merges" ("merged_device_id");
CREATE INDEX IF NOT EXISTS "idx_computer_merges_target_id" ON "computer_merges" ("target_id");
CREATE INDEX IF NOT EXISTS "idx_computer_merges_at" ON "computer_merges" ("at");

-- +goose Down
DROP TABLE "computer_merges";
DROP INDEX "idx_computers_updated_at";
