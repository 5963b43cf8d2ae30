package p2p

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/shoal-project/shoal/proto"
)

// Response statuses.
const (
	statusOK        = "ok"
	statusNotFound  = "not_found"
	statusForbidden = "forbidden"
	statusBusy      = "busy"
	statusError     = "error"
)

// errHeader reports a header that is too long, empty or not valid JSON.
var errHeader = errors.New("p2p: bad message header")

// request opens every fragment stream: the requester's hello (its peer
// record) and the fragment it wants, in one header.
type request struct {
	// Record is the requester's central-signed peer record.
	Record proto.SignedPeerRecord `json:"record"`
	// Package is the package ID the fragment belongs to (for logs and
	// accounting; fragments are addressed by CID alone).
	Package string `json:"package"`
	CID     string `json:"cid"`
	Size    int64  `json:"size"`
	// Swarm says the requester can get the fragment from other peers of
	// its site: a node that super-seeds (Config.SeedCopies) may answer
	// busy with Seeding set (seed.go). Older nodes ignore it.
	Swarm bool `json:"swarm,omitempty"`
}

// response answers a request. With status ok, exactly Size raw bytes
// follow it and Record is the server's own peer record.
type response struct {
	Status  string                  `json:"status"`
	Size    int64                   `json:"size,omitempty"`
	Record  *proto.SignedPeerRecord `json:"record,omitempty"`
	Message string                  `json:"message,omitempty"`
	// Seeding marks a busy answer to a swarm request: the fragment is
	// being handed to other peers of the site, take it from them.
	Seeding bool `json:"seeding,omitempty"`
}

// writeHeader writes v as a 4-byte big-endian length and its JSON.
func writeHeader(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode header: %w", err)
	}
	if len(b) > MaxHeaderSize {
		return fmt.Errorf("encode header: %d bytes, limit %d: %w", len(b), MaxHeaderSize, errHeader)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	return nil
}

// readHeader reads one header into v. A length of 0 or above
// MaxHeaderSize is refused before anything more is read.
func readHeader(r io.Reader, v any) error {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return fmt.Errorf("read header length: %w", err)
	}
	n := binary.BigEndian.Uint32(lb[:])
	if n == 0 || n > MaxHeaderSize {
		return fmt.Errorf("read header: length %d, limit %d: %w", n, MaxHeaderSize, errHeader)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read header: %w: %w", errHeader, err)
	}
	return nil
}
