package p2p

import "github.com/libp2p/go-libp2p/p2p/muxer/yamux"

// muxer returns libp2p's yamux transport with the connection write
// timeout (also the keep-alive answer's) derived from cfg.MinPeerRate
// (Config.connWriteTimeout) instead of yamux's fixed 10s. cfg must have
// its defaults.
func muxer(cfg Config) *yamux.Transport {
	t := *yamux.DefaultTransport
	t.ConnectionWriteTimeout = cfg.connWriteTimeout()
	return &t
}
