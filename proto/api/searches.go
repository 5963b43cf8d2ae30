package api

import "time"

// SavedSearch is an inventory search kept under a name: GET /searches.
// A private one is seen and used only by its owner; a shared one by every
// caller. Dynamic groups reuse one by copying its Search (GroupRequest).
type SavedSearch struct {
	ID          uint   `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Owner is the caller that saved it (a user, or token:NAME).
	Owner  string `json:"owner"`
	Shared bool   `json:"shared"`
	// Search holds query parameters of GET /computers, as Group.Search
	// does; a time such as contact_since=24h stays relative to each use.
	Search    map[string]string `json:"search"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// SavedSearchRequest creates or replaces a saved search: POST /searches,
// PUT /searches/{id}.
type SavedSearchRequest struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Shared      bool              `json:"shared,omitempty"`
	Search      map[string]string `json:"search"`
}

// QuerySavedSearch names a saved search (its ID or name) in GET /computers
// and GET /computers/export: its criteria apply, and parameters given
// beside it override them.
const QuerySavedSearch = "saved_search"

// ComputerCSVHeader is the header line of GET /computers/export.
var ComputerCSVHeader = []string{"id", "name", "os_name", "os_version", "arch", "ip_addr", "mac", "serial", "site",
	"tag", "user_id", "processor_type", "processor_count", "memory_mb", "source", "first_seen", "last_inventory", "last_contact"}
