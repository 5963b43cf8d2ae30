package ocs

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers (the HTTP edge) can map them to status codes with
// errors.Is: ErrTooLarge to 413, the others to 400.
var (
	// ErrEncoding reports a body that is neither zlib, gzip nor plain XML,
	// or whose compressed stream is corrupt or truncated.
	ErrEncoding = errors.New("ocs: bad body encoding")
	// ErrTooLarge reports a body whose decompressed size exceeds the limit
	// given to Decode (zip-bomb protection).
	ErrTooLarge = errors.New("ocs: body too large")
	// ErrXML reports malformed XML, a DOCTYPE or other directive, an
	// unsupported charset, or a wrong root element.
	ErrXML = errors.New("ocs: bad xml")
	// ErrDeviceID reports a DEVICEID that is missing or does not match
	// ^.+-\d{4}(-\d{2}){5}$.
	ErrDeviceID = errors.New("ocs: bad deviceid")
	// ErrQuery reports a request without a QUERY.
	ErrQuery = errors.New("ocs: missing query")
	// ErrInvalid reports a value that cannot be marshalled for, or was not
	// understood from, the agents: a non-numeric package ID, an unknown
	// action, a missing TIMEOUT, a non-numeric FRAGS in an info file and so
	// on.
	ErrInvalid = errors.New("ocs: invalid value")
)

// DefaultMaxXML is the decompressed size limit Decode applies when it is
// given a limit of zero or less. The largest real inventories (Windows
// machines with thousands of software rows) stay well under 10 MiB.
const DefaultMaxXML = 32 << 20

// Encoding is the transfer encoding of a request or reply body.
type Encoding int

// The body encodings the real server accepts. Agents send Zlib; a reply must
// use the encoding of its request, because the Unix agent can only inflate
// zlib.
const (
	// Zlib is RFC 1950 (2-byte header, deflate data, Adler-32 trailer), the
	// encoding of every real agent.
	Zlib Encoding = iota
	// Gzip is RFC 1952, sent by a Unix agent whose Perl lacks Compress::Zlib.
	Gzip
	// Plain is uncompressed XML.
	Plain
)

// Reply content types. The reference server labels every reply
// ContentTypeCompressed, which the OCS agents and FusionInventory ignore
// (they sniff the body). The GLPI agent (1.5 and later) picks its decoder
// from the reply's Content-Type and reads "application/x-compressed" as
// none it knows, so it drops the reply ("can't uncompress content"); it
// labels its own requests ContentTypeZlib or ContentTypeGzip.
const (
	ContentTypeCompressed = "application/x-compressed"
	ContentTypeZlib       = "application/x-compress-zlib"
	ContentTypeGzip       = "application/x-compress-gzip"
)

// ReplyContentType returns the Content-Type of a reply in encoding enc to a
// request labelled requestType: the request's own label when it is
// ContentTypeZlib or ContentTypeGzip and matches enc (the GLPI agent and
// FusionInventory), else ContentTypeCompressed as the reference server
// writes it.
func ReplyContentType(requestType string, enc Encoding) string {
	mt, _, _ := strings.Cut(requestType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case mt == ContentTypeZlib && enc == Zlib:
		return ContentTypeZlib
	case mt == ContentTypeGzip && enc == Gzip:
		return ContentTypeGzip
	}
	return ContentTypeCompressed
}

// String returns "zlib", "gzip" or "plain".
func (e Encoding) String() string {
	switch e {
	case Zlib:
		return "zlib"
	case Gzip:
		return "gzip"
	case Plain:
		return "plain"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

// Decode sniffs the encoding of an agent's body and returns the XML bytes.
//
// The body is zlib when it starts with 0x78 followed by 0x01, 0x5e, 0x9c or
// 0xda; gzip when it starts with 0x1f 0x8b; and plain when, after an optional
// UTF-8 byte order mark and whitespace, it starts with '<'. Anything else,
// including an empty body, is ErrEncoding, as is a corrupt or truncated
// stream. maxXML bounds the decompressed size (DefaultMaxXML when maxXML <=
// 0); a body that would inflate past it is ErrTooLarge, and inflation stops
// as soon as the limit is crossed. For a plain body the returned slice is
// body itself.
func Decode(body []byte, maxXML int64) ([]byte, Encoding, error) {
	if maxXML <= 0 {
		maxXML = DefaultMaxXML
	}
	switch {
	case len(body) == 0:
		return nil, 0, fmt.Errorf("decode body: empty: %w", ErrEncoding)
	case isZlib(body):
		zr, err := getZlibReader(body)
		if err != nil {
			return nil, 0, fmt.Errorf("decode zlib body: %w: %w", ErrEncoding, err)
		}
		defer zlibReaders.Put(zr)
		xml, err := inflate(zr, maxXML)
		if err != nil {
			return nil, 0, fmt.Errorf("decode zlib body: %w", err)
		}
		return xml, Zlib, nil
	case len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b:
		gr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, 0, fmt.Errorf("decode gzip body: %w: %w", ErrEncoding, err)
		}
		xml, err := inflate(gr, maxXML)
		if err != nil {
			return nil, 0, fmt.Errorf("decode gzip body: %w", err)
		}
		return xml, Gzip, nil
	case isPlain(body):
		if int64(len(body)) > maxXML {
			return nil, 0, fmt.Errorf("decode plain body: %d bytes over limit %d: %w", len(body), maxXML, ErrTooLarge)
		}
		return body, Plain, nil
	}
	return nil, 0, fmt.Errorf("decode body: unknown encoding (first bytes % x): %w", body[:min(len(body), 4)], ErrEncoding)
}

// zlibReaders recycles decompressors (each holds ~40 KB of state).
var zlibReaders sync.Pool

func getZlibReader(body []byte) (io.ReadCloser, error) {
	if zr, ok := zlibReaders.Get().(io.ReadCloser); ok {
		if err := zr.(zlib.Resetter).Reset(bytes.NewReader(body), nil); err != nil {
			return nil, err
		}
		return zr, nil
	}
	return zlib.NewReader(bytes.NewReader(body))
}

// isZlib reports whether b starts with a zlib header for deflate with a 32 KiB
// window and one of the four standard compression levels.
func isZlib(b []byte) bool {
	if len(b) < 2 || b[0] != 0x78 {
		return false
	}
	switch b[1] {
	case 0x01, 0x5e, 0x9c, 0xda:
		return true
	}
	return false
}

// isPlain reports whether b, after an optional UTF-8 BOM and XML whitespace,
// starts with '<'.
func isPlain(b []byte) bool {
	b = bytes.TrimPrefix(b, utf8BOM)
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '<':
			return true
		}
		return false
	}
	return false
}

// inflate reads r to its end, but never more than max bytes.
func inflate(r io.ReadCloser, max int64) ([]byte, error) {
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, max+1))
	if int64(len(out)) > max {
		return nil, fmt.Errorf("inflate: over limit %d: %w", max, ErrTooLarge)
	}
	if err != nil {
		return nil, fmt.Errorf("inflate: %w: %w", ErrEncoding, err)
	}
	return out, nil
}

// zlibWriters and gzipWriters recycle compressors: a new flate compressor
// allocates about a megabyte, which dominated the cost of a PROLOG.
var (
	zlibWriters = sync.Pool{New: func() any {
		w, _ := zlib.NewWriterLevel(nil, zlib.DefaultCompression)
		return w
	}}
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
		return w
	}}
)

// Encode compresses xml in the given encoding. Replies must use the encoding
// of the request they answer. For Plain the returned slice is xml itself.
func Encode(enc Encoding, xml []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case Zlib:
		zw := zlibWriters.Get().(*zlib.Writer)
		defer zlibWriters.Put(zw)
		zw.Reset(&buf)
		w = zw
	case Gzip:
		gw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(gw)
		gw.Reset(&buf)
		w = gw
	case Plain:
		return xml, nil
	default:
		return nil, fmt.Errorf("encode %s: %w", enc, ErrEncoding)
	}
	if _, err := w.Write(xml); err != nil {
		return nil, fmt.Errorf("encode %s: %w", enc, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", enc, err)
	}
	return buf.Bytes(), nil
}
