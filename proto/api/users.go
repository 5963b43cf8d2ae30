package api

import "time"

// User is a person who logs in to the UI and the API: GET /users.
type User struct {
	ID   uint   `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Sites (names) and Tags limit the user to the computers of those
	// sites or with those OCS TAGs; both empty is the whole fleet.
	Sites []string `json:"sites,omitempty"`
	Tags  []string `json:"tags,omitempty"`
	// Source is "local" (password in central) or "ldap" (directory
	// account; role and scope come from its groups at each login).
	Source    string     `json:"source"`
	LastLogin *time.Time `json:"last_login,omitempty"`
}

// UserRequest creates a user (POST /users) or replaces one's role, scope
// and, when set, password (PUT /users/:id).
type UserRequest struct {
	Name     string   `json:"name,omitempty"`
	Password string   `json:"password,omitempty"`
	Role     string   `json:"role"`
	Sites    []string `json:"sites,omitempty"`
	Tags     []string `json:"tags,omitempty"`
}

// Role is a role: built-in (admin, readonly) or custom: GET /roles.
type Role struct {
	ID          uint     `json:"id,omitempty"`
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	Description string   `json:"description,omitempty"`
	BuiltIn     bool     `json:"built_in,omitempty"`
}

// RoleRequest creates (POST /roles) or replaces (PUT /roles/:id) a custom
// role.
type RoleRequest struct {
	Name        string   `json:"name,omitempty"`
	Permissions []string `json:"permissions"`
	Description string   `json:"description,omitempty"`
}
