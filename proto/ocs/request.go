package ocs

import (
	"fmt"
	"strings"
)

// QUERY values an agent sends.
const (
	QueryProlog    = "PROLOG"
	QueryInventory = "INVENTORY"
	QueryDownload  = "DOWNLOAD" // a package result (§6.8)
	QueryNotify    = "NOTIFY"   // Windows agent: an IP address changed
	QuerySNMP      = "SNMP"
	QueryUpdate    = "UPDATE" // legacy agent self-update
)

// MaxDeviceIDLen is the longest DEVICEID accepted; the real server stores it
// in a VARCHAR(255).
const MaxDeviceIDLen = 255

// Request is the envelope of every agent POST. Each scalar is read from the
// attribute of <REQUEST> first and then from the child element of the same
// name (XML::Simple semantics), so the Unix agent's attribute-only download
// result, the Windows agent's mixed form and the element form of PROLOG and
// INVENTORY all parse the same way. DeviceID falls back to CONTENT/DEVICEID.
// Values are trimmed.
type Request struct {
	Query    string // PROLOG, INVENTORY, DOWNLOAD, …; as sent
	DeviceID string // valid per ValidDeviceID once parsed
	ID       string // DOWNLOAD: the package ID
	Err      string // DOWNLOAD: the result code (§6.8), raw
	Type     string // NOTIFY: TYPE=IP
}

// ParseRequest parses the envelope of an agent request. It reads the whole
// document (CONTENT must be well-formed too) but does not build the
// inventory. It rejects a DOCTYPE, a root other than <REQUEST>, a missing
// QUERY (ErrQuery) and a missing or malformed DEVICEID (ErrDeviceID); every
// query is checked, UPDATE included. Declared charsets ISO-8859-1,
// Windows-1252 and ISO-8859-15 are converted to UTF-8.
func ParseRequest(doc []byte) (*Request, error) {
	req, _, err := parse(doc, false, Limits{})
	if err != nil {
		return nil, fmt.Errorf("parse request: %w", err)
	}
	return req, nil
}

// ParseInventory parses the CONTENT of an INVENTORY request, with the same
// rules as ParseRequest. Inventory.DeviceID is the envelope's DEVICEID. It
// does not check that QUERY is INVENTORY (a --local .ocs file parses too).
func ParseInventory(doc []byte) (*Inventory, error) {
	_, inv, err := parse(doc, true, Limits{})
	if err != nil {
		return nil, fmt.Errorf("parse inventory: %w", err)
	}
	return inv, nil
}

// Parse reads the envelope and, when QUERY is INVENTORY, the inventory, in a
// single pass over the document. inv is nil for other queries. Use it in the
// request handler instead of ParseRequest followed by ParseInventory.
func Parse(doc []byte) (req *Request, inv *Inventory, err error) {
	return ParseLimited(doc, Limits{})
}

// ParseLimited is Parse with explicit Limits (zero fields take the
// defaults). A document past a limit is ErrTooLarge.
func ParseLimited(doc []byte, lim Limits) (req *Request, inv *Inventory, err error) {
	req, inv, err = parse(doc, true, lim)
	if err != nil {
		return nil, nil, fmt.Errorf("parse request: %w", err)
	}
	if req.Query != QueryInventory {
		inv = nil
	}
	return req, inv, nil
}

// envelope collects the attribute and the element value of every scalar so
// that attributes can win whatever the document order.
type envelope struct {
	attr, elem Request
	content    string // CONTENT/DEVICEID
}

// scalar returns the field of set that holds the named scalar, or nil.
func scalar(set *Request, name string) *string {
	switch name {
	case "QUERY":
		return &set.Query
	case "DEVICEID":
		return &set.DeviceID
	case "ID":
		return &set.ID
	case "ERR":
		return &set.Err
	case "TYPE":
		return &set.Type
	}
	return nil
}

func (e *envelope) request() *Request {
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return &Request{
		Query:    pick(e.attr.Query, e.elem.Query),
		DeviceID: pick(pick(e.attr.DeviceID, e.elem.DeviceID), e.content),
		ID:       pick(e.attr.ID, e.elem.ID),
		Err:      pick(e.attr.Err, e.elem.Err),
		Type:     pick(e.attr.Type, e.elem.Type),
	}
}

// parse walks a REQUEST document once. With withInventory it also builds the
// inventory from CONTENT; otherwise CONTENT is only scanned for DEVICEID.
func parse(doc []byte, withInventory bool, lim Limits) (*Request, *Inventory, error) {
	r := newReader(doc, lim)
	root, err := r.root("REQUEST")
	if err != nil {
		return nil, nil, err
	}
	var env envelope
	for _, a := range root.Attr {
		if p := scalar(&env.attr, localName(a.Name)); p != nil && *p == "" {
			*p = strings.TrimSpace(a.Value)
		}
	}
	var inv *Inventory
	if withInventory {
		inv = &Inventory{}
	}
	for {
		c, ok, err := r.child(1)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		name := localName(c.Name)
		if name == "CONTENT" {
			if err := parseContent(r, c, inv, &env.content); err != nil {
				return nil, nil, err
			}
			continue
		}
		p := scalar(&env.elem, name)
		if p == nil {
			if err := r.skip(); err != nil {
				return nil, nil, err
			}
			continue
		}
		v, err := r.text()
		if err != nil {
			return nil, nil, err
		}
		if *p == "" {
			*p = v
		}
	}
	req := env.request()
	if req.Query == "" {
		return nil, nil, ErrQuery
	}
	if req.DeviceID == "" {
		return nil, nil, fmt.Errorf("deviceid missing: %w", ErrDeviceID)
	}
	if !ValidDeviceID(req.DeviceID) {
		return nil, nil, fmt.Errorf("deviceid %q: %w", truncate(req.DeviceID, 80), ErrDeviceID)
	}
	if inv != nil {
		inv.DeviceID = req.DeviceID
	}
	return req, inv, nil
}

// ValidDeviceID reports whether id matches ^.+-\d{4}(-\d{2}){5}$, the check
// of the real server (hostname, then the creation time as
// -YYYY-MM-DD-HH-MM-SS), and is at most MaxDeviceIDLen bytes long.
func ValidDeviceID(id string) bool {
	const stamp = len("-2006-01-02-15-04-05")
	if len(id) <= stamp || len(id) > MaxDeviceIDLen {
		return false
	}
	host, tail := id[:len(id)-stamp], id[len(id)-stamp:]
	// '.' in the pattern matches anything but a newline.
	if strings.IndexByte(host, '\n') >= 0 {
		return false
	}
	for i := range len(tail) {
		c := tail[i]
		switch i {
		case 0, 5, 8, 11, 14, 17:
			if c != '-' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// Marshal writes the request the way the Unix agent 2.10 does, so that a
// test agent can speak to a server byte for byte like the real one:
// a DOWNLOAD result is a single <REQUEST/> element with sorted attributes and
// no XML declaration; any other query has a declaration and its scalars as
// child elements, sorted by name.
func (r *Request) Marshal() ([]byte, error) {
	if r.Query == "" {
		return nil, fmt.Errorf("marshal request: %w", ErrQuery)
	}
	if !ValidDeviceID(r.DeviceID) {
		return nil, fmt.Errorf("marshal request: deviceid %q: %w", truncate(r.DeviceID, 80), ErrDeviceID)
	}
	fields := []struct{ name, value string }{ // sorted by name, as XML::Simple writes them
		{"DEVICEID", r.DeviceID}, {"ERR", r.Err}, {"ID", r.ID}, {"QUERY", r.Query}, {"TYPE", r.Type},
	}
	var w xmlWriter
	if r.Query == QueryDownload {
		w.raw("<REQUEST")
		for _, f := range fields {
			if f.value != "" {
				w.attr(f.name, f.value)
			}
		}
		w.raw(" />\n")
		return w.bytes(), nil
	}
	w.raw(xmlDeclDouble + "<REQUEST>\n")
	for _, f := range fields {
		if f.value != "" {
			w.elem(1, f.name, f.value)
		}
	}
	w.raw("</REQUEST>\n")
	return w.bytes(), nil
}
