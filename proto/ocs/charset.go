package ocs

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// cp1252 maps the bytes 0x80–0x9f of Windows-1252 to Unicode. The five
// undefined positions map to the C1 control of the same value, as the WHATWG
// encoding standard does. The bytes 0xa0–0xff equal their code points.
var cp1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8d, 'Ž', 0x8f,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9d, 'ž', 'Ÿ',
}

// latin9 lists the eight positions where ISO-8859-15 differs from
// ISO-8859-1.
var latin9 = map[byte]rune{
	0xa4: '€', 0xa6: 'Š', 0xa8: 'š', 0xb4: 'Ž', 0xb8: 'ž', 0xbc: 'Œ', 0xbd: 'œ', 0xbe: 'Ÿ',
}

// eightBit is a single-byte charset: the rune of every byte from 0x80 up.
type eightBit [128]rune

var (
	windows1252 = func() *eightBit {
		var t eightBit
		for i := range t {
			t[i] = rune(0x80 + i)
		}
		copy(t[:32], cp1252[:])
		return &t
	}()
	iso885915 = func() *eightBit {
		var t eightBit
		for i := range t {
			t[i] = rune(0x80 + i)
		}
		for b, r := range latin9 {
			t[b-0x80] = r
		}
		return &t
	}()
)

// charsetTable returns the table for a declared charset label, nil for
// UTF-8, and ok=false for a charset this package cannot read. ISO-8859-1 and
// US-ASCII are read as Windows-1252, its superset in every printable
// position, as web browsers do: Windows machines that declare Latin-1 often
// send Windows-1252 bytes such as 0x80 (€) or 0x92 (’).
func charsetTable(label string) (t *eightBit, ok bool) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "", "utf-8", "utf8":
		return nil, true
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso-8859-1:1987", "iso_8859-1:1987",
		"latin1", "latin-1", "l1", "cp819", "ibm819", "iso-ir-100", "csisolatin1",
		"us-ascii", "ascii", "ansi_x3.4-1968",
		"windows-1252", "cp1252", "x-cp1252", "win-1252", "cp-1252":
		return windows1252, true
	case "iso-8859-15", "iso8859-15", "iso_8859-15", "latin9", "latin-9", "l9":
		return iso885915, true
	}
	return nil, false
}

// charsetReader is the xml.Decoder CharsetReader: it converts the 8-bit
// charsets that Windows and old Unix agents declare to UTF-8.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	t, ok := charsetTable(label)
	if !ok {
		return nil, fmt.Errorf("charset %q not supported: %w", truncate(label, 40), ErrXML)
	}
	if t == nil {
		return input, nil
	}
	return &eightBitReader{src: input, table: t}, nil
}

// eightBitReader converts a single-byte charset to UTF-8 on the fly.
type eightBitReader struct {
	src    io.Reader
	table  *eightBit
	in     [512]byte
	outBuf [3 * 512]byte // a rune below U+FFFF takes at most 3 bytes
	out    []byte        // converted bytes not yet returned
	err    error
}

func (r *eightBitReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.src.Read(r.in[:])
		r.err = err
		o := r.outBuf[:0]
		for _, b := range r.in[:n] {
			if b < utf8.RuneSelf {
				o = append(o, b)
			} else {
				o = utf8.AppendRune(o, r.table[b-0x80])
			}
		}
		r.out = o
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// sanitize applies the leniency rules before parsing, copying b only when
// something must change:
//
//   - a UTF-8 byte order mark is removed;
//   - control characters that XML forbids (0x00–0x08, 0x0b, 0x0c,
//     0x0e–0x1f) are removed, as the Unix agent itself does before sending;
//   - when the document is declared UTF-8 (or declares nothing), each byte
//     that is not part of a valid UTF-8 sequence is read as Windows-1252,
//     which is what the real server's "re-encode and retry" achieves for
//     agents that send Latin-1 text under a UTF-8 declaration.
func sanitize(b []byte) []byte {
	b = bytes.TrimPrefix(b, utf8BOM)
	fixUTF8 := false
	if t, ok := charsetTable(declaredEncoding(b)); ok && t == nil {
		fixUTF8 = !utf8.Valid(b)
	}
	if !fixUTF8 && !hasBadControl(b) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/8)
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if !badControl(c) {
				out = append(out, c)
			}
			i++
			continue
		}
		if !fixUTF8 {
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, windows1252[c-0x80])
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// badControls marks the bytes XML forbids: C0 controls except tab, newline
// and carriage return.
var badControls = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = c != '\t' && c != '\n' && c != '\r'
	}
	return t
}()

func badControl(c byte) bool { return badControls[c] }

func hasBadControl(b []byte) bool {
	for _, c := range b {
		if badControl(c) {
			return true
		}
	}
	return false
}

// declaredEncoding returns the encoding pseudo-attribute of the XML
// declaration at the start of b, or "" when there is none.
func declaredEncoding(b []byte) string {
	b = bytes.TrimLeft(b, " \t\r\n")
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return ""
	}
	end := bytes.Index(b[:min(len(b), 512)], []byte("?>"))
	if end < 0 {
		return ""
	}
	decl := b[:end]
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if len(rest) == 0 || rest[0] != '=' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
		return ""
	}
	q := rest[0]
	rest = rest[1:]
	j := bytes.IndexByte(rest, q)
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// truncate shortens s to at most n bytes for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
