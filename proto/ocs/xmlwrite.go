package ocs

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// xmlWriter builds the small documents this package emits by hand, so that
// their shape (element versus attribute, order, self-closing PARAM) is
// exactly what the agents were tested with.
type xmlWriter struct {
	buf bytes.Buffer
}

func (w *xmlWriter) raw(s string) { w.buf.WriteString(s) }

// escape writes s safe for both text and attribute values: the five XML
// special characters become the predefined entities (the form the console
// writes), tab, newline and carriage return become character references so
// that attribute normalization keeps them, and characters XML cannot carry
// (other control characters, invalid UTF-8) become U+FFFD.
func (w *xmlWriter) escape(s string) {
	for _, r := range s {
		switch r {
		case '&':
			w.buf.WriteString("&amp;")
		case '<':
			w.buf.WriteString("&lt;")
		case '>':
			w.buf.WriteString("&gt;")
		case '"':
			w.buf.WriteString("&quot;")
		case '\'':
			w.buf.WriteString("&apos;")
		case '\t':
			w.buf.WriteString("&#x9;")
		case '\n':
			w.buf.WriteString("&#xA;")
		case '\r':
			w.buf.WriteString("&#xD;")
		default:
			if !xmlChar(r) {
				r = utf8.RuneError
			}
			w.buf.WriteRune(r)
		}
	}
}

// xmlChar reports whether r may appear in an XML 1.0 document.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0a || r == 0x0d ||
		r >= 0x20 && r <= 0xd7ff ||
		r >= 0xe000 && r <= 0xfffd ||
		r >= 0x10000 && r <= 0x10ffff
}

// attr writes ` NAME="value"`.
func (w *xmlWriter) attr(name, value string) {
	w.buf.WriteByte(' ')
	w.buf.WriteString(name)
	w.buf.WriteString(`="`)
	w.escape(value)
	w.buf.WriteByte('"')
}

func (w *xmlWriter) attrInt(name string, v int) { w.attr(name, strconv.Itoa(v)) }

func (w *xmlWriter) attrBool(name string, v bool) { w.attr(name, boolString(v)) }

// elem writes a text element on its own line, indented by level*2 spaces.
func (w *xmlWriter) elem(level int, name, text string) {
	w.indent(level)
	w.buf.WriteByte('<')
	w.buf.WriteString(name)
	w.buf.WriteByte('>')
	w.escape(text)
	w.buf.WriteString("</")
	w.buf.WriteString(name)
	w.buf.WriteString(">\n")
}

func (w *xmlWriter) indent(level int) { w.buf.WriteString(strings.Repeat("  ", level)) }

func (w *xmlWriter) bytes() []byte { return w.buf.Bytes() }

func boolString(v bool) string {
	if v {
		return "1"
	}
	return "0"
}
