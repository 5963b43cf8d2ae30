-- Deployment windows of sites and groups, reboot after install of
-- assignments (central/deploy window.go), per-group agent timings.
-- +goose Up
ALTER TABLE `sites` ADD `deploy_window` text;
ALTER TABLE `computer_groups` ADD `deploy_window` text;
ALTER TABLE `assignments` ADD `reboot` numeric;
ALTER TABLE `computer_groups` ADD `prolog_freq_hours` integer;
ALTER TABLE `computer_groups` ADD `ocs_timings` text;

-- +goose Down
ALTER TABLE `computer_groups` DROP COLUMN `ocs_timings`;
ALTER TABLE `computer_groups` DROP COLUMN `prolog_freq_hours`;
ALTER TABLE `assignments` DROP COLUMN `reboot`;
ALTER TABLE `computer_groups` DROP COLUMN `deploy_window`;
ALTER TABLE `sites` DROP COLUMN `deploy_window`;
