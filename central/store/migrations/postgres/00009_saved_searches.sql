-- Saved inventory searches, private or shared (GET /searches).
-- +goose Up
CREATE TABLE "saved_searches" ("id" bigserial,"name" text NOT NULL,"description" text,"owner" text NOT NULL,"shared" boolean,"filter" text,"created_at" timestamptz,"updated_at" timestamptz,PRIMARY KEY ("id"));
CREATE INDEX "idx_saved_searches_owner" ON "saved_searches" ("owner");
CREATE UNIQUE INDEX "idx_saved_searches_name" ON "saved_searches" ("name");

-- +goose Down
DROP TABLE "saved_searches";
