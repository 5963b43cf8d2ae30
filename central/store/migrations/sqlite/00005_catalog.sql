-- Software catalog and change history (central/inventory Catalog and
-- History): when a software name was first reported, the dictionary rules
-- that merge names into titles and give them categories, and each
-- computer's change history (software installed, removed, upgraded;
-- hardware, OS, address and site changes), pruned after
-- inventory.history_retention.
-- +goose Up
ALTER TABLE `software_names` ADD `first_seen` datetime;
CREATE TABLE `software_rules` (`id` integer PRIMARY KEY AUTOINCREMENT,`pattern` text NOT NULL,`title` text,`category` text,`position` integer,`created_at` datetime,`updated_at` datetime);
CREATE TABLE `computer_history` (`id` integer PRIMARY KEY AUTOINCREMENT,`computer_id` integer NOT NULL,`at` datetime NOT NULL,`kind` text NOT NULL,`subject` text,`old` text,`new` text);
CREATE INDEX `idx_computer_history_at` ON `computer_history`(`at`);
CREATE INDEX `idx_computer_history_computer_at` ON `computer_history`(`computer_id`,`at`);

-- +goose Down
DROP TABLE `computer_history`;
DROP TABLE `software_rules`;
ALTER TABLE `software_names` DROP COLUMN `first_seen`;
