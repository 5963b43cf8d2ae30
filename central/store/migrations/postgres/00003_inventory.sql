-- Inventory read right (central/inventory): the kernel apart from the OS
-- version, the last logged user, monitors, printers, video, local users, and
-- software rows numbered by name (software_names) with a sortable version
-- key for indexed, version-aware search. Rows stored before are numbered
-- when the store opens (backfillSoftwareNames).
-- +goose Up
ALTER TABLE "computers" ADD "kernel_version" text;
ALTER TABLE "computers" ADD "last_logged_user" text;
ALTER TABLE "softwares" ADD "name_id" bigint NOT NULL DEFAULT 0;
ALTER TABLE "softwares" ADD "version_key" text;
CREATE INDEX IF NOT EXISTS "idx_softwares_name_id" ON "softwares" ("name_id");
CREATE TABLE "monitors" ("id" bigserial,"computer_id" bigint NOT NULL,"name" text,"manufacturer" text,"caption" text,"description" text,"type" text,"serial" text,"port" text,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_monitors_computer_id" ON "monitors" ("computer_id");
CREATE TABLE "printers" ("id" bigserial,"computer_id" bigint NOT NULL,"name" text,"driver" text,"port" text,"description" text,"server_name" text,"share_name" text,"resolution" text,"comment" text,"shared" text,"network" text,"serial" text,"status" text,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_printers_computer_id" ON "printers" ("computer_id");
CREATE TABLE "videos" ("id" bigserial,"computer_id" bigint NOT NULL,"name" text,"chipset" text,"memory_mb" bigint,"resolution" text,"pci_slot" text,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_videos_computer_id" ON "videos" ("computer_id");
CREATE TABLE "local_users" ("id" bigserial,"computer_id" bigint NOT NULL,"login" text,"name" text,"uid" text,"g_id" text,"home" text,"shell" text,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_local_users_computer_id" ON "local_users" ("computer_id");
CREATE TABLE "software_names" ("id" bigint,"name" text NOT NULL,PRIMARY KEY ("id"));

-- +goose Down
DROP TABLE "software_names";
DROP TABLE "local_users";
DROP TABLE "videos";
DROP TABLE "printers";
DROP TABLE "monitors";
DROP INDEX "idx_softwares_name_id";
ALTER TABLE "softwares" DROP COLUMN "version_key";
ALTER TABLE "softwares" DROP COLUMN "name_id";
ALTER TABLE "computers" DROP COLUMN "last_logged_user";
ALTER TABLE "computers" DROP COLUMN "kernel_version";
