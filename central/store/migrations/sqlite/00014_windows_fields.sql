-- The Windows agents' HARDWARE fields (central/inventory Snapshot): the
-- user domain, registered organization and owner, product ID and key.
-- +goose Up
ALTER TABLE `computers` ADD `user_domain` text;
ALTER TABLE `computers` ADD `win_company` text;
ALTER TABLE `computers` ADD `win_owner` text;
ALTER TABLE `computers` ADD `win_prod_id` text;
ALTER TABLE `computers` ADD `win_prod_key` text;

-- +goose Down
ALTER TABLE `computers` DROP COLUMN `win_prod_key`;
ALTER TABLE `computers` DROP COLUMN `win_prod_id`;
ALTER TABLE `computers` DROP COLUMN `win_owner`;
ALTER TABLE `computers` DROP COLUMN `win_company`;
ALTER TABLE `computers` DROP COLUMN `user_domain`;
