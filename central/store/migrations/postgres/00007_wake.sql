-- Wake-on-LAN requests (central/wake): a relay or an awake Shoal agent of
-- the computer's site sends the magic packet.
-- +goose Up
CREATE TABLE "wake_requests" ("id" bigserial,"computer_id" bigint NOT NULL,"site_id" bigint,"mac" text,"broadcast" text,"reason" text,"requested_by" text,"requested_at" timestamptz,"expires_at" timestamptz,"sent_at" timestamptz,"sent_by" text,"woken_at" timestamptz,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_wake_requests_requested_at" ON "wake_requests" ("requested_at");
CREATE INDEX IF NOT EXISTS "idx_wake_requests_site_id" ON "wake_requests" ("site_id");
CREATE INDEX IF NOT EXISTS "idx_wake_requests_computer_id" ON "wake_requests" ("computer_id");

-- +goose Down
DROP TABLE "wake_requests";
