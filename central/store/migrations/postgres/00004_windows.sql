-- Deployment windows of sites and groups, reboot after install of
-- assignments (central/deploy window.go), per-group agent timings.
-- +goose Up
ALTER TABLE "sites" ADD COLUMN "deploy_window" text;
ALTER TABLE "computer_groups" ADD COLUMN "deploy_window" text;
ALTER TABLE "assignments" ADD COLUMN "reboot" boolean;
ALTER TABLE "computer_groups" ADD COLUMN "prolog_freq_hours" bigint;
ALTER TABLE "computer_groups" ADD COLUMN "ocs_timings" text;

-- +goose Down
ALTER TABLE "computer_groups" DROP COLUMN "ocs_timings";
ALTER TABLE "computer_groups" DROP COLUMN "prolog_freq_hours";
ALTER TABLE "assignments" DROP COLUMN "reboot";
ALTER TABLE "computer_groups" DROP COLUMN "deploy_window";
ALTER TABLE "sites" DROP COLUMN "deploy_window";
