-- Groups and desired-state assignments (central/groups).
-- +goose Up
CREATE TABLE `computer_groups` (`id` integer PRIMARY KEY AUTOINCREMENT,`name` text NOT NULL,`description` text,`filter` text,`evaluated_at` datetime,`created_at` datetime,`updated_at` datetime);
CREATE UNIQUE INDEX `idx_computer_groups_name` ON `computer_groups`(`name`);
CREATE TABLE `group_members` (`group_id` integer,`computer_id` integer,`since` datetime,PRIMARY KEY (`group_id`,`computer_id`));
CREATE INDEX `idx_group_members_computer_id` ON `group_members`(`computer_id`);
CREATE TABLE `assignments` (`id` integer PRIMARY KEY AUTOINCREMENT,`package_id` text NOT NULL,`target` text NOT NULL,`group_id` integer,`site_id` integer,`filter` text,`after_package_id` text,`baseline` numeric,`stage_size` integer,`stage_percent` integer,`max_failure_percent` integer,`paused` numeric,`paused_reason` text,`forgiven_failures` integer,`created_at` datetime);
CREATE INDEX `idx_assignments_site_id` ON `assignments`(`site_id`);
CREATE INDEX `idx_assignments_group_id` ON `assignments`(`group_id`);
CREATE INDEX `idx_assignments_package_id` ON `assignments`(`package_id`);
CREATE TABLE `assignment_members` (`assignment_id` integer,`computer_id` integer,`deployment_id` integer,`skipped` numeric,`since` datetime,PRIMARY KEY (`assignment_id`,`computer_id`));
CREATE INDEX `idx_assignment_members_deployment_id` ON `assignment_members`(`deployment_id`);
CREATE INDEX `idx_assignment_members_computer_id` ON `assignment_members`(`computer_id`);

-- +goose Down
DROP TABLE `assignment_members`;
DROP TABLE `assignments`;
DROP TABLE `group_members`;
DROP TABLE `computer_groups`;
