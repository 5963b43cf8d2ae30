// Package source names where fragments are read from: the Source interface
// that the agent's fetcher reads through and that central, relays and LAN
// peers implement (agent/client, internal/p2p), the kinds used for
// bytes-by-source accounting, and ErrBusy, which a source wraps when it is
// alive but cannot answer now. It sits apart from the fetcher so that the
// fragment protocol, shared by agent and relay, does not import the agent.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/shoal-project/shoal/proto"
)

// Kinds of sources, for bytes-by-source accounting.
const (
	KindCentral = "central"
	KindRelay   = "relay"
	KindPeer    = "peer"
)

// ErrBusy is wrapped by a source's error when the source is alive but
// cannot answer now (a peer at its upload limit, a relay still fetching
// the fragment from upstream). It does not count against a relay's
// health.
var ErrBusy = errors.New("fetch: source busy")

// ErrSeeding is wrapped by a source's error when it hands the fragment to
// other peers of the site first (a relay super-seeding a fragment it just
// stored) and the requester, a swarm download, should take it from them.
// It wraps ErrBusy: the source is alive.
var ErrSeeding = fmt.Errorf("fetch: source seeds this fragment to other peers first: %w", ErrBusy)

// Source is somewhere fragments can be read from.
type Source interface {
	// Kind is KindCentral, KindRelay or KindPeer.
	Kind() string
	// Fetch opens the bytes of fragment f of package pkg. The bytes are
	// not trusted: the fetcher verifies them against f.CID.
	Fetch(ctx context.Context, pkg string, f proto.Fragment) (io.ReadCloser, error)
}
