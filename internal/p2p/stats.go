package p2p

import "maps"

// Stats counts a node's fragment exchange since it was created.
type Stats struct {
	// Requests counts fragment requests received; the others count their
	// outcomes.
	Requests  int64 `json:"requests"`
	Served    int64 `json:"served"`
	NotFound  int64 `json:"not_found"`
	Forbidden int64 `json:"forbidden"`
	Busy      int64 `json:"busy"`
	Errors    int64 `json:"errors"`
	// BytesServed counts fragment bytes sent; BytesFetched fragment bytes
	// received through Sources.
	BytesServed  int64 `json:"bytes_served"`
	BytesFetched int64 `json:"bytes_fetched"`
	// Peers breaks the counts down by remote peer ID.
	Peers map[string]PeerStats `json:"peers"`
}

// PeerStats counts the exchange with one peer.
type PeerStats struct {
	Requests     int64 `json:"requests"`
	Served       int64 `json:"served"`
	Refused      int64 `json:"refused"`
	BytesServed  int64 `json:"bytes_served"`
	Fetched      int64 `json:"fetched"`
	BytesFetched int64 `json:"bytes_fetched"`
}

// Stats returns a copy of the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.stats
	s.Peers = maps.Clone(n.stats.Peers)
	return s
}

// countServe records one request's outcome; n.mu must not be held.
func (n *Node) countServe(peerID, status string, bytes int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.stats.Peers[peerID]
	n.stats.Requests++
	p.Requests++
	switch status {
	case statusOK:
		n.stats.Served++
		p.Served++
	case statusNotFound:
		n.stats.NotFound++
		p.Refused++
	case statusForbidden:
		n.stats.Forbidden++
		p.Refused++
	case statusBusy:
		n.stats.Busy++
		p.Refused++
	default:
		n.stats.Errors++
		p.Refused++
	}
	n.stats.BytesServed += bytes
	p.BytesServed += bytes
	n.stats.Peers[peerID] = p
}

// countFetch records bytes received from a peer.
func (n *Node) countFetch(peerID string, bytes int64, complete bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.stats.Peers[peerID]
	n.stats.BytesFetched += bytes
	p.BytesFetched += bytes
	if complete {
		p.Fetched++
	}
	n.stats.Peers[peerID] = p
}
