-- Groups and desired-state assignments (central/groups).
-- +goose Up
CREATE TABLE "computer_groups" ("id" bigserial,"name" text NOT NULL,"description" text,"filter" text,"evaluated_at" timestamptz,"created_at" timestamptz,"updated_at" timestamptz,PRIMARY KEY ("id"));
CREATE UNIQUE INDEX IF NOT EXISTS "idx_computer_groups_name" ON "computer_groups" ("name");
CREATE TABLE "group_members" ("group_id" bigint,"computer_id" bigint,"since" timestamptz,PRIMARY KEY ("group_id","computer_id"));
CREATE INDEX IF NOT EXISTS "idx_group_members_computer_id" ON "group_members" ("computer_id");
CREATE TABLE "assignments" ("id" bigserial,"package_id" text NOT NULL,"target" text NOT NULL,"group_id" bigint,"site_id" bigint,"filter" text,"after_package_id" text,"baseline" boolean,"stage_size" bigint,"stage_percent" bigint,"max_failure_percent" bigint,"paused" boolean,"paused_reason" text,"forgiven_failures" bigint,"created_at" timestamptz,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_assignments_site_id" ON "assignments" ("site_id");
CREATE INDEX IF NOT EXISTS "idx_assignments_group_id" ON "assignments" ("group_id");
CREATE INDEX IF NOT EXISTS "idx_assignments_package_id" ON "assignments" ("package_id");
CREATE TABLE "assignment_members" ("assignment_id" bigint,"computer_id" bigint,"deployment_id" bigint,"skipped" boolean,"since" timestamptz,PRIMARY KEY ("assignment_id","computer_id"));
CREATE INDEX IF NOT EXISTS "idx_assignment_members_deployment_id" ON "assignment_members" ("deployment_id");
CREATE INDEX IF NOT EXISTS "idx_assignment_members_computer_id" ON "assignment_members" ("computer_id");

-- +goose Down
DROP TABLE "assignment_members";
DROP TABLE "assignments";
DROP TABLE "group_members";
DROP TABLE "computer_groups";
