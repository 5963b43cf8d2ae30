// Package tracker will hold the tracker: which peer of which site holds which
// fragment, and the per-site WAN-owner leases that make a fragment cross a
// branch uplink once. It runs inside central by default and as
// shoal-tracker at scale. See docs/ARCHITECTURE.md, section 1; the
// peer-to-peer issue builds it.
package tracker
