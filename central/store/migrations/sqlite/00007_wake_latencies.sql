-- Wake-on-LAN requests (central/wake): a relay or an awake Shoal agent of
-- the computer's site sends the magic packet. Per-group OCS DOWNLOAD
-- latencies (central/groups).
-- +goose Up
CREATE TABLE `wake_requests` (`id` integer PRIMARY KEY AUTOINCREMENT,`computer_id` integer NOT NULL,`site_id` integer,`mac` text,`broadcast` text,`reason` text,`requested_by` text,`requested_at` datetime,`expires_at` datetime,`sent_at` datetime,`sent_by` text,`woken_at` datetime);
CREATE INDEX `idx_wake_requests_requested_at` ON `wake_requests`(`requested_at`);
CREATE INDEX `idx_wake_requests_site_id` ON `wake_requests`(`site_id`);
CREATE INDEX `idx_wake_requests_computer_id` ON `wake_requests`(`computer_id`);

ALTER TABLE `computer_groups` ADD `cycle_latency` integer;
ALTER TABLE `computer_groups` ADD `frag_latency` integer;
ALTER TABLE `computer_groups` ADD `period_latency` integer;

-- +goose Down
ALTER TABLE `computer_groups` DROP COLUMN `period_latency`;
ALTER TABLE `computer_groups` DROP COLUMN `frag_latency`;
ALTER TABLE `computer_groups` DROP COLUMN `cycle_latency`;
DROP TABLE `wake_requests`;
