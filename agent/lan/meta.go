package lan

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-project/shoal/proto"
)

// ErrBadMeta reports node metadata that does not parse, is too large or
// names another node or site.
var ErrBadMeta = errors.New("lan: bad node metadata")

// metaVersion is the first byte of the metadata encoding. A later version
// may append fields; parsers of version 1 read the three below and ignore
// what follows only when the version is higher.
const metaVersion = 1

// meta is a node's memberlist metadata: exactly its peer ID, its site and
// its build version (STYLE rule 15). It is encoded and parsed only here.
type meta struct {
	PeerID  string
	Site    string
	Version string
}

// encode returns version byte, then each field as a uvarint length and its
// bytes. It fails when the result exceeds memberlist.MetaMaxSize (512).
func (m meta) encode() ([]byte, error) {
	b := []byte{metaVersion}
	for _, s := range []string{m.PeerID, m.Site, m.Version} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("encode metadata: %d bytes, limit %d: %w", len(b), memberlist.MetaMaxSize, ErrBadMeta)
	}
	return b, nil
}

// parseMeta decodes metadata; peer ID and site must not be empty.
func parseMeta(b []byte) (meta, error) {
	if len(b) > memberlist.MetaMaxSize {
		return meta{}, fmt.Errorf("parse metadata: %d bytes, limit %d: %w", len(b), memberlist.MetaMaxSize, ErrBadMeta)
	}
	if len(b) == 0 || b[0] < metaVersion {
		return meta{}, fmt.Errorf("parse metadata: no version: %w", ErrBadMeta)
	}
	version, rest := b[0], b[1:]
	var fields [3]string
	for i := range fields {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return meta{}, fmt.Errorf("parse metadata: field %d truncated: %w", i, ErrBadMeta)
		}
		fields[i] = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) > 0 && version == metaVersion {
		return meta{}, fmt.Errorf("parse metadata: %d trailing bytes: %w", len(rest), ErrBadMeta)
	}
	m := meta{PeerID: fields[0], Site: fields[1], Version: fields[2]}
	if m.PeerID == "" || m.Site == "" {
		return meta{}, fmt.Errorf("parse metadata: empty peer ID or site: %w", ErrBadMeta)
	}
	return m, nil
}

// Record exchange messages, used both as memberlist user messages (gossip
// broadcasts and direct TCP messages) and as push-pull state: one kind
// byte, then a JSON array of signed peer records.
const (
	// msgRecords carries records to verify and cache.
	msgRecords byte = 1
	// msgAsk carries the sender's own record and asks the receiver to
	// answer with its own record in a msgRecords.
	msgAsk byte = 2
)

const (
	// maxRecords bounds the record cache (and so the push-pull state):
	// a site has at most this many enrolled agents.
	maxRecords = 10000
	// maxStateBytes bounds a decoded push-pull state or message.
	maxStateBytes = 8 << 20
)

func encodeRecords(kind byte, recs []proto.SignedPeerRecord) ([]byte, error) {
	body, err := json.Marshal(recs)
	if err != nil {
		return nil, fmt.Errorf("encode records: %w", err)
	}
	return append([]byte{kind}, body...), nil
}

func decodeRecords(b []byte) (byte, []proto.SignedPeerRecord, error) {
	if len(b) < 1 || len(b) > maxStateBytes {
		return 0, nil, fmt.Errorf("decode records: %d bytes", len(b))
	}
	if b[0] != msgRecords && b[0] != msgAsk {
		return 0, nil, fmt.Errorf("decode records: unknown kind %d", b[0])
	}
	var recs []proto.SignedPeerRecord
	if err := json.Unmarshal(b[1:], &recs); err != nil {
		return 0, nil, fmt.Errorf("decode records: %w", err)
	}
	if len(recs) > maxRecords {
		return 0, nil, fmt.Errorf("decode records: %d records, limit %d", len(recs), maxRecords)
	}
	return b[0], recs, nil
}

// parseRecord decodes a record without verifying it: enough to find the
// cache entry it would replace before paying for a signature check.
func parseRecord(s proto.SignedPeerRecord) (proto.PeerRecord, error) {
	var r proto.PeerRecord
	if err := json.Unmarshal(s.Record, &r); err != nil {
		return r, fmt.Errorf("parse peer record: %w: %w", proto.ErrBadPeerRecord, err)
	}
	return r, nil
}
