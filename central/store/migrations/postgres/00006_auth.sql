-- Delegation (central/auth): custom roles, a user's scope (sites and
-- TAGs) and source (local or ldap), the user an API token acts for.
-- +goose Up
ALTER TABLE "api_tokens" ADD COLUMN "owner" text NOT NULL DEFAULT '';
ALTER TABLE "ui_users" ADD COLUMN "scope_sites" text NOT NULL DEFAULT '';
ALTER TABLE "ui_users" ADD COLUMN "scope_tags" text NOT NULL DEFAULT '';
ALTER TABLE "ui_users" ADD COLUMN "source" text NOT NULL DEFAULT 'local';
CREATE TABLE "roles" ("id" bigserial,"name" text NOT NULL,"permissions" text NOT NULL DEFAULT '',"description" text,"created_at" timestamptz,"updated_at" timestamptz,PRIMARY KEY ("id"));
CREATE UNIQUE INDEX IF NOT EXISTS "idx_roles_name" ON "roles" ("name");

-- +goose Down
DROP TABLE "roles";
ALTER TABLE "ui_users" DROP COLUMN "source";
ALTER TABLE "ui_users" DROP COLUMN "scope_tags";
ALTER TABLE "ui_users" DROP COLUMN "scope_sites";
ALTER TABLE "api_tokens" DROP COLUMN "owner";
