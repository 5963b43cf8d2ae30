-- Deployment windows of sites and groups, reboot after install of
-- assignments (central/deploy window.go).
-- +goose Up
ALTER TABLE `sites` ADD `deploy_window` text;
ALTER TABLE `computer_groups` ADD `deploy_window` text;
ALTER TABLE `assignments` ADD `reboot` numeric;

-- +goose Down
ALTER TABLE `assignments` DROP COLUMN `reboot`;
ALTER TABLE `computer_groups` DROP COLUMN `deploy_window`;
ALTER TABLE `sites` DROP COLUMN `deploy_window`;
