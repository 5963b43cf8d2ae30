package ocs

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// reader walks an XML document token by token. It uses RawToken (no
// namespace translation, no copies of character data) and checks itself that
// end tags match, which saves about 15% over Token on large
// inventories. It rejects every directive, so a DOCTYPE (and with it any
// entity declaration, the XXE vector) never reaches the caller.
//
// It also enforces Limits: a start tag deeper than MaxDepth or past
// MaxElements ends the walk with ErrTooLarge at once, so a small compressed
// body of millions of nested or repeated elements costs neither memory nor
// time.
type reader struct {
	d        *xml.Decoder
	stack    []xml.Name // open elements
	scratch  []byte     // text being collected by text
	lim      Limits
	elements int // start tags seen
}

func newReader(doc []byte, lim Limits) *reader {
	d := xml.NewDecoder(bytes.NewReader(sanitize(doc)))
	d.CharsetReader = charsetReader
	// Agents and consoles sometimes write HTML entities (&nbsp;, &eacute;)
	// into text; strict mode would reject them.
	d.Entity = xml.HTMLEntity
	return &reader{d: d, lim: lim.withDefaults()}
}

// depth returns the number of open elements.
func (r *reader) depth() int { return len(r.stack) }

// next returns the next token. Character data is only valid until the next
// call. io.EOF is returned only when the document ended with every element
// closed.
func (r *reader) next() (xml.Token, error) {
	tok, err := r.d.RawToken()
	if err != nil {
		if errors.Is(err, io.EOF) {
			if len(r.stack) > 0 {
				return nil, fmt.Errorf("unexpected end of document inside <%s>: %w", truncate(r.stack[len(r.stack)-1].Local, 40), ErrXML)
			}
			return nil, io.EOF
		}
		if errors.Is(err, ErrXML) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrXML, err)
	}
	switch t := tok.(type) {
	case xml.StartElement:
		r.elements++
		switch {
		case len(r.stack) >= r.lim.MaxDepth:
			return nil, fmt.Errorf("elements nested deeper than %d: %w", r.lim.MaxDepth, ErrTooLarge)
		case r.elements > r.lim.MaxElements:
			return nil, fmt.Errorf("more than %d elements: %w", r.lim.MaxElements, ErrTooLarge)
		}
		r.stack = append(r.stack, t.Name)
	case xml.EndElement:
		if len(r.stack) == 0 {
			return nil, fmt.Errorf("unexpected end tag </%s>: %w", truncate(t.Name.Local, 40), ErrXML)
		}
		open := r.stack[len(r.stack)-1]
		if open != t.Name {
			return nil, fmt.Errorf("end tag </%s> does not match <%s>: %w", truncate(t.Name.Local, 40), truncate(open.Local, 40), ErrXML)
		}
		r.stack = r.stack[:len(r.stack)-1]
	case xml.Directive:
		return nil, fmt.Errorf("directive <!%s> not allowed: %w", truncate(string(t), 20), ErrXML)
	}
	return tok, nil
}

// root skips the prolog (declaration, comments, whitespace) and returns the
// root element, which must be named want.
func (r *reader) root(want string) (xml.StartElement, error) {
	for {
		tok, err := r.next()
		if errors.Is(err, io.EOF) {
			return xml.StartElement{}, fmt.Errorf("no root element: %w", ErrXML)
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if name := localName(t.Name); name != want {
				return xml.StartElement{}, fmt.Errorf("root <%s>, want <%s>: %w", truncate(name, 40), want, ErrXML)
			}
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, fmt.Errorf("text before root element: %w", ErrXML)
			}
		}
	}
}

// child returns the next child element of the element open at depth d, or
// ok=false once that element has been closed. Text and deeper content are
// consumed.
func (r *reader) child(d int) (start xml.StartElement, ok bool, err error) {
	for r.depth() >= d {
		tok, err := r.next()
		if err != nil {
			return xml.StartElement{}, false, err
		}
		if t, isStart := tok.(xml.StartElement); isStart && r.depth() == d+1 {
			return t, true, nil
		}
	}
	return xml.StartElement{}, false, nil
}

// skip consumes the rest of the element just opened.
func (r *reader) skip() error {
	d := r.depth()
	for r.depth() >= d {
		if _, err := r.next(); err != nil {
			return err
		}
	}
	return nil
}

// text consumes the rest of the element just opened and returns its direct
// character data, trimmed. Nested elements are skipped.
func (r *reader) text() (string, error) {
	d := r.depth()
	r.scratch = r.scratch[:0]
	for r.depth() >= d {
		tok, err := r.next()
		if err != nil {
			return "", err
		}
		if t, ok := tok.(xml.CharData); ok && r.depth() == d {
			r.scratch = append(r.scratch, t...)
		}
	}
	return string(bytes.TrimSpace(r.scratch)), nil
}

// record consumes the element just opened, whose start tag is start, and
// calls set for every attribute and for every child element, in document
// order: attributes first, then children. This is the XML::Simple view of
// an element: an attribute and a child element with the same name mean the
// same thing. Values are trimmed.
func (r *reader) record(start xml.StartElement, set func(name, value string)) error {
	for _, a := range start.Attr {
		set(localName(a.Name), strings.TrimSpace(a.Value))
	}
	d := r.depth()
	for {
		c, ok, err := r.child(d)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		v, err := r.text()
		if err != nil {
			return err
		}
		set(localName(c.Name), v)
	}
}

// localName returns the element or attribute name; a prefixed name keeps its
// prefix so that it never matches a field.
func localName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// fieldIndex maps the upper-case xml tag of every string field of a struct
// type to the field's index.
type fieldIndex map[string]int

var fieldIndexes sync.Map // reflect.Type → fieldIndex

func fieldsOf(t reflect.Type) fieldIndex {
	if fi, ok := fieldIndexes.Load(t); ok {
		return fi.(fieldIndex)
	}
	fi := fieldIndex{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("xml"), ",")
		if f.Type.Kind() == reflect.String && tag != "" && tag != "-" {
			fi[tag] = i
		}
	}
	fieldIndexes.Store(t, fi)
	return fi
}

// recordInto reads the element just opened into the string fields of the
// struct that dst points to, matching names against the fields' xml tags.
// The first non-empty value of a field wins; unknown names are ignored.
func (r *reader) recordInto(start xml.StartElement, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	fi := fieldsOf(v.Type())
	return r.record(start, func(name, value string) {
		i, ok := fi[name]
		if !ok || value == "" {
			return
		}
		if f := v.Field(i); f.String() == "" {
			f.SetString(value)
		}
	})
}

// node is a small element tree for short documents (replies, info files).
type node struct {
	name  string
	attrs []xml.Attr
	text  string
	kids  []*node
}

// parseTree parses a whole short document whose root must be named root.
func parseTree(doc []byte, root string) (*node, error) {
	r := newReader(doc, Limits{})
	start, err := r.root(root)
	if err != nil {
		return nil, err
	}
	top := &node{name: root, attrs: start.Attr}
	open := []*node{top}
	var text [][]byte
	text = append(text, nil)
	for r.depth() > 0 {
		tok, err := r.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: localName(t.Name), attrs: t.Attr}
			parent := open[len(open)-1]
			parent.kids = append(parent.kids, n)
			open = append(open, n)
			text = append(text, nil)
		case xml.EndElement:
			n := open[len(open)-1]
			n.text = string(bytes.TrimSpace(text[len(text)-1]))
			open = open[:len(open)-1]
			text = text[:len(text)-1]
		case xml.CharData:
			text[len(text)-1] = append(text[len(text)-1], t...)
		}
	}
	return top, nil
}

// value returns the named attribute of n when it is non-empty, else the text
// of the first child element with that name (XML::Simple semantics).
func (n *node) value(name string) string {
	for _, a := range n.attrs {
		if localName(a.Name) == name {
			if v := strings.TrimSpace(a.Value); v != "" {
				return v
			}
		}
	}
	for _, k := range n.kids {
		if k.name == name && k.text != "" {
			return k.text
		}
	}
	return ""
}

// children returns the child elements with the given name.
func (n *node) children(name string) []*node {
	var out []*node
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}
