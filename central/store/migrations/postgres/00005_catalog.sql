-- Software catalog and change history (central/inventory Catalog and
-- History): when a software name was first reported, the dictionary rules
-- that merge names into titles and give them categories, and each
-- computer's change history (software installed, removed, upgraded;
-- hardware, OS, address and site changes), pruned after
-- inventory.history_retention.
-- +goose Up
ALTER TABLE "software_names" ADD "first_seen" timestamptz;
CREATE TABLE "software_rules" ("id" bigserial,"pattern" text NOT NULL,"title" text,"category" text,"position" bigint,"created_at" timestamptz,"updated_at" timestamptz,PRIMARY KEY ("id"));
CREATE TABLE "computer_history" ("id" bigserial,"computer_id" bigint NOT NULL,"at" timestamptz NOT NULL,"kind" text NOT NULL,"subject" text,"old" text,"new" text,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_computer_history_at" ON "computer_history" ("at");
CREATE INDEX IF NOT EXISTS "idx_computer_history_computer_at" ON "computer_history" ("computer_id","at");

-- +goose Down
DROP TABLE "computer_history";
DROP TABLE "software_rules";
ALTER TABLE "software_names" DROP COLUMN "first_seen";
