-- Wake-on-LAN requests (central/wake): a relay or an awake Shoal agent of
-- the computer's site sends the magic packet. Per-group OCS DOWNLOAD
-- latencies (central/groups).
-- +goose Up
CREATE TABLE "wake_requests" ("id" bigserial,"computer_id" bigint NOT NULL,"site_id" bigint,"mac" text,"broadcast" text,"reason" text,"requested_by" text,"requested_at" timestamptz,"expires_at" timestamptz,"sent_at" timestamptz,"sent_by" text,"woken_at" timestamptz,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_wake_requests_requested_at" ON "wake_requests" ("requested_at");
CREATE INDEX IF NOT EXISTS "idx_wake_requests_site_id" ON "wake_requests" ("site_id");
CREATE INDEX IF NOT EXISTS "idx_wake_requests_computer_id" ON "wake_requests" ("computer_id");

ALTER TABLE "computer_groups" ADD COLUMN "cycle_latency" bigint;
ALTER TABLE "computer_groups" ADD COLUMN "frag_latency" bigint;
ALTER TABLE "computer_groups" ADD COLUMN "period_latency" bigint;

-- +goose Down
ALTER TABLE "computer_groups" DROP COLUMN "period_latency";
ALTER TABLE "computer_groups" DROP COLUMN "frag_latency";
ALTER TABLE "computer_groups" DROP COLUMN "cycle_latency";
DROP TABLE "wake_requests";
