package api

import "time"

// Wake is a Wake-on-LAN request for a computer and what came of it:
// POST /computers/{id}/wake, GET /computers/{id}/wakes. A relay or an
// awake Shoal agent of the computer's site sends the magic packet.
type Wake struct {
	ID         uint   `json:"id"`
	ComputerID uint   `json:"computer_id"`
	MAC        string `json:"mac"`
	// Reason is "manual" (an admin asked) or "window" (a deployment
	// window opens soon).
	Reason      string     `json:"reason"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	// SentBy names the relay or agent that sent the packet.
	SentBy  string     `json:"sent_by,omitempty"`
	WokenAt *time.Time `json:"woken_at,omitempty"`
	// State is "waiting" (for a sender), "sent", "woken" (the computer
	// contacted central after the request, within wake.woken_within),
	// "not woken", or "no sender" (no relay or awake Shoal agent of its
	// site took the request in time).
	State string `json:"state"`
}
