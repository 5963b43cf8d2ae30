package api

import "time"

// ComputerMerge is one computer merged into another: by the duplicate rule
// (reason "rule": same name, serial and MAC), by an OLD_DEVICEID
// ("old_device_id") or by an administrator ("manual"). When MergedID is
// TargetID, the computer kept its row and took the new device ID.
type ComputerMerge struct {
	ID             uint       `json:"id"`
	At             time.Time  `json:"at"`
	TargetID       uint       `json:"target_id"`
	TargetDeviceID string     `json:"target_device_id"`
	MergedID       uint       `json:"merged_id"`
	MergedDeviceID string     `json:"merged_device_id"`
	MergedName     string     `json:"merged_name"`
	MergedSerial   string     `json:"merged_serial,omitempty"`
	MergedMAC      string     `json:"merged_mac,omitempty"`
	Reason         string     `json:"reason"`
	Actor          string     `json:"actor"`
	SplitAt        *time.Time `json:"split_at,omitempty"`
	SplitID        *uint      `json:"split_id,omitempty"`
}

// MergeRequest names the computer to merge into the one in the path; it
// is deleted.
type MergeRequest struct {
	From uint `json:"from"`
}

// StalePurge is the automatic purge of computers not seen for Days days
// (0: off, the default; at most 3650).
type StalePurge struct {
	Days int `json:"days"`
}
