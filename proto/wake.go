package proto

// WakeOrder asks a relay or a Shoal agent to send the Wake-on-LAN magic
// packet (internal/wol) for one computer of its site: to 255.255.255.255
// and, when set, to Broadcast, on UDP ports 9 and 7. It travels in
// RelayJobs.Wake and JobsResponse.Wake; central hands each order to one
// sender only.
type WakeOrder struct {
	ID  uint   `json:"id"`
	MAC string `json:"mac"`
	// Broadcast is the directed broadcast address of the computer's
	// network, empty when central does not know it.
	Broadcast string `json:"broadcast,omitempty"`
}
