package ocs

import (
	"fmt"
	"strconv"
	"strings"
)

// ACT values of an info file (§6.7).
const (
	ActStore   = "STORE"   // copy the extracted files to PATH
	ActLaunch  = "LAUNCH"  // run NAME from the extracted files
	ActExecute = "EXECUTE" // run COMMAND in the extraction directory
)

// Info is a package info file (§6.4), served as a static file at
// https://<INFO_LOC>/<ID>/info: one <DOWNLOAD .../> element whose values are
// all attributes.
type Info struct {
	ID           string // package ID, digits only; must equal the PACK ID
	Pri          int    // 0 (exclusive) to 10; the console default is 5
	Act          string // ActStore, ActLaunch or ActExecute
	Digest       string // of the concatenated fragments; lower-case hex MD5 for Unix agents
	Proto        string // HTTP or HTTPS, the scheme of the fragment URLs; HTTP when empty
	Frags        int    // number of fragments; 0 means a command-only package
	DigestAlgo   string // MD5 (the only one a stock Debian agent checks) when empty
	DigestEncode string // Hexa when empty
	Path         string // STORE: destination directory (INSTALL_PATH is substituted)
	Name         string // LAUNCH: program in the archive, with arguments
	Command      string // EXECUTE: shell command line

	// The NOTIFY_* and NEED_DONE_* fields drive dialogs of the Windows
	// agent; the Unix agent ignores them.
	NotifyUser         bool
	NotifyText         string
	NotifyCountdown    string // seconds, as text
	NotifyCanAbort     bool
	NotifyCanDelay     bool
	NeedDoneAction     bool
	NeedDoneActionText string
}

// Marshal writes the info file exactly as the console's PackageBuilder does:
// a double-quoted XML declaration and one DOWNLOAD element on one line, PATH
// only for STORE, NAME only for LAUNCH, COMMAND only for EXECUTE, and the
// legacy GARDEFOU="rien". Empty Proto, DigestAlgo and DigestEncode become
// HTTP, MD5 and Hexa. It fails with ErrInvalid on a non-numeric ID, an
// unknown action, a priority outside 0–10, a negative fragment count or a
// missing digest for a package with fragments.
func (i *Info) Marshal() ([]byte, error) {
	if err := i.validate(); err != nil {
		return nil, fmt.Errorf("marshal info %s: %w", truncate(i.ID, 40), err)
	}
	var w xmlWriter
	w.raw(xmlDeclDouble + "<DOWNLOAD")
	w.attr("ID", i.ID)
	w.attrInt("PRI", i.Pri)
	w.attr("ACT", i.Act)
	w.attr("DIGEST", i.Digest)
	w.attr("PROTO", orDefault(i.Proto, "HTTP"))
	w.attrInt("FRAGS", i.Frags)
	w.attr("DIGEST_ALGO", orDefault(i.DigestAlgo, "MD5"))
	w.attr("DIGEST_ENCODE", orDefault(i.DigestEncode, "Hexa"))
	switch i.Act {
	case ActStore:
		w.attr("PATH", i.Path)
	case ActLaunch:
		w.attr("NAME", i.Name)
	case ActExecute:
		w.attr("COMMAND", i.Command)
	}
	w.attrBool("NOTIFY_USER", i.NotifyUser)
	w.attr("NOTIFY_TEXT", i.NotifyText)
	w.attr("NOTIFY_COUNTDOWN", i.NotifyCountdown)
	w.attrBool("NOTIFY_CAN_ABORT", i.NotifyCanAbort)
	w.attrBool("NOTIFY_CAN_DELAY", i.NotifyCanDelay)
	w.attrBool("NEED_DONE_ACTION", i.NeedDoneAction)
	w.attr("NEED_DONE_ACTION_TEXT", i.NeedDoneActionText)
	w.attr("GARDEFOU", "rien")
	w.raw(" />\n")
	return w.bytes(), nil
}

func (i *Info) validate() error {
	if !ValidPackageID(i.ID) {
		return fmt.Errorf("id is not all digits: %w", ErrInvalid)
	}
	if i.Pri < 0 || i.Pri > 10 {
		return fmt.Errorf("priority %d outside 0-10: %w", i.Pri, ErrInvalid)
	}
	switch i.Act {
	case ActStore, ActLaunch, ActExecute:
	default:
		return fmt.Errorf("action %q: %w", truncate(i.Act, 40), ErrInvalid)
	}
	if i.Frags < 0 {
		return fmt.Errorf("fragment count %d: %w", i.Frags, ErrInvalid)
	}
	if i.Frags > 0 && i.Digest == "" {
		return fmt.Errorf("%d fragments without digest: %w", i.Frags, ErrInvalid)
	}
	if p := strings.ToUpper(orDefault(i.Proto, "HTTP")); p != "HTTP" && p != "HTTPS" {
		return fmt.Errorf("proto %q: %w", truncate(i.Proto, 40), ErrInvalid)
	}
	return nil
}

// ParseInfo reads an info file. Values are read from attributes, with child
// elements as a fallback. It fails with ErrXML when the root is not
// <DOWNLOAD> and with ErrInvalid when ID is missing or PRI or FRAGS is not a
// number (an empty PRI or FRAGS reads as 0).
func ParseInfo(doc []byte) (*Info, error) {
	n, err := parseTree(doc, "DOWNLOAD")
	if err != nil {
		return nil, fmt.Errorf("parse info: %w", err)
	}
	i := &Info{
		ID:                 n.value("ID"),
		Act:                n.value("ACT"),
		Digest:             n.value("DIGEST"),
		Proto:              n.value("PROTO"),
		DigestAlgo:         n.value("DIGEST_ALGO"),
		DigestEncode:       n.value("DIGEST_ENCODE"),
		Path:               n.value("PATH"),
		Name:               n.value("NAME"),
		Command:            n.value("COMMAND"),
		NotifyUser:         n.value("NOTIFY_USER") == "1",
		NotifyText:         n.value("NOTIFY_TEXT"),
		NotifyCountdown:    n.value("NOTIFY_COUNTDOWN"),
		NotifyCanAbort:     n.value("NOTIFY_CAN_ABORT") == "1",
		NotifyCanDelay:     n.value("NOTIFY_CAN_DELAY") == "1",
		NeedDoneAction:     n.value("NEED_DONE_ACTION") == "1",
		NeedDoneActionText: n.value("NEED_DONE_ACTION_TEXT"),
	}
	if i.ID == "" {
		return nil, fmt.Errorf("parse info: missing ID: %w", ErrInvalid)
	}
	if i.Pri, err = intField(n, "PRI"); err != nil {
		return nil, fmt.Errorf("parse info %s: %w", truncate(i.ID, 40), err)
	}
	if i.Frags, err = intField(n, "FRAGS"); err != nil {
		return nil, fmt.Errorf("parse info %s: %w", truncate(i.ID, 40), err)
	}
	return i, nil
}

// intField reads a decimal field; empty is 0.
func intField(n *node, name string) (int, error) {
	v := n.value(name)
	if v == "" {
		return 0, nil
	}
	x, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number: %w", name, truncate(v, 20), ErrInvalid)
	}
	return x, nil
}
