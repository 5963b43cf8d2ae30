package api

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// SoftwareTitle is one title of the fleet's software catalog: the software
// names that the dictionary (automatic title plus the admin's rules) merges
// into it. Computers counts the computers that have one of the names or
// more (each once); Installs counts software entries.
// GET /software.
type SoftwareTitle struct {
	// Key identifies the title in URLs: /software/{key}.
	Key       string     `json:"key"`
	Title     string     `json:"title"`
	Category  string     `json:"category,omitempty"`
	Publisher string     `json:"publisher,omitempty"`
	Names     []string   `json:"names"`
	Computers int64      `json:"computers"`
	Installs  int64      `json:"installs"`
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

// SoftwareVersion is one version of a title and how many computers have
// it, in all and per site.
type SoftwareVersion struct {
	Version   string         `json:"version"`
	Computers int64          `json:"computers"`
	Sites     []SoftwareSite `json:"sites"`
	LastSeen  *time.Time     `json:"last_seen,omitempty"`
}

// SoftwareSite counts a title's (or a version's) computers in one site;
// SiteID nil is the computers without a site.
type SoftwareSite struct {
	SiteID    *uint  `json:"site_id,omitempty"`
	SiteName  string `json:"site_name,omitempty"`
	Computers int64  `json:"computers"`
}

// SoftwareTitleDetail is a title with its versions, newest first, and its
// computers per site: GET /software/{key}.
type SoftwareTitleDetail struct {
	SoftwareTitle
	Versions []SoftwareVersion `json:"versions"`
	Sites    []SoftwareSite    `json:"sites"`
}

// SoftwareHolder is one computer that has a title:
// GET /software/{key}/computers.
type SoftwareHolder struct {
	ComputerID    uint       `json:"computer_id"`
	ComputerName  string     `json:"computer_name"`
	SiteID        *uint      `json:"site_id,omitempty"`
	SiteName      string     `json:"site_name,omitempty"`
	Name          string     `json:"name"`
	Version       string     `json:"version"`
	Publisher     string     `json:"publisher,omitempty"`
	LastInventory *time.Time `json:"last_inventory,omitempty"`
}

// SoftwareRule is one rule of the software dictionary: the names that
// Pattern (a regular expression, case-insensitive) matches belong to Title
// (empty: their automatic title) and to Category. Rules apply by Position,
// then ID; the first that matches a name wins.
type SoftwareRule struct {
	ID       uint   `json:"id"`
	Pattern  string `json:"pattern"`
	Title    string `json:"title,omitempty"`
	Category string `json:"category,omitempty"`
	Position int    `json:"position"`
}

// SoftwareRuleRequest creates or replaces a dictionary rule.
type SoftwareRuleRequest struct {
	Pattern  string `json:"pattern"`
	Title    string `json:"title,omitempty"`
	Category string `json:"category,omitempty"`
	Position int    `json:"position"`
}

// HistoryEntry is one change of a computer, found by comparing an
// inventory with the one before: GET /computers/{id}/history. Kind is
// software.installed, software.removed, software.upgraded,
// software.downgraded, hardware, os, network, site or name; Subject names
// what changed (a software name, memory_mb, ip, …).
type HistoryEntry struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Old     string    `json:"old,omitempty"`
	New     string    `json:"new,omitempty"`
}

// Query parameters of GET /software.
const (
	QuerySoftwareText     = "q"
	QuerySoftwareCategory = "category"
	QueryFormat           = "format"
)

// WriteTitlesCSV writes the catalog as CSV with a header line.
func WriteTitlesCSV(w io.Writer, titles []SoftwareTitle) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"title", "category", "publisher", "computers", "installs", "first_seen", "last_seen", "names"})
	for _, t := range titles {
		cw.Write([]string{csvSafe(t.Title), csvSafe(t.Category), csvSafe(t.Publisher), strconv.FormatInt(t.Computers, 10),
			strconv.FormatInt(t.Installs, 10), csvTime(t.FirstSeen), csvTime(t.LastSeen), csvSafe(strings.Join(t.Names, "; "))})
	}
	cw.Flush()
	return cw.Error()
}

// WriteHoldersCSV writes a title's computers as CSV with a header line.
func WriteHoldersCSV(w io.Writer, holders []SoftwareHolder) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"computer_id", "computer", "site", "name", "version", "publisher", "last_inventory"})
	for _, h := range holders {
		cw.Write([]string{strconv.FormatUint(uint64(h.ComputerID), 10), csvSafe(h.ComputerName), csvSafe(h.SiteName),
			csvSafe(h.Name), csvSafe(h.Version), csvSafe(h.Publisher), csvTime(h.LastInventory)})
	}
	cw.Flush()
	return cw.Error()
}

func csvTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// csvSafe keeps a spreadsheet from reading a cell an agent reported as a
// formula: a leading =, +, - or @ gets a quote in front.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
