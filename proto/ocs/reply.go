package ocs

import (
	"fmt"
	"strconv"
	"strings"
)

// RESPONSE values of the server's replies.
const (
	ResponseSend            = "SEND" // PROLOG: send an inventory now
	ResponseStop            = "STOP" // PROLOG: no inventory this time
	ResponseAccountUpdate   = "ACCOUNT_UPDATE"
	ResponseNoAccountUpdate = "NO_ACCOUNT_UPDATE"
)

// Console defaults for the PACK parameters CERT_PATH and CERT_FILE. The
// agents parse them but never use them for TLS; Marshal emits them when a
// Pack leaves them empty.
const (
	DefaultCertPath = "INSTALL_PATH"
	DefaultCertFile = "INSTALL_PATH/cacert.pem"
)

// xmlDeclSingle is the declaration of the real server's replies.
const xmlDeclSingle = `<?xml version='1.0' encoding='UTF-8'?>` + "\n"

// PrologReply is the server's answer to QUERY=PROLOG (§4.2).
type PrologReply struct {
	Response           string // ResponseSend or ResponseStop
	PrologFreq         int    // hours between contacts; the server default is 12
	InventoryOnStartup int    // 0 or 1; Windows service only
	// Download, when set, adds the DOWNLOAD option. Send it on STOP as well:
	// agents run downloads whatever RESPONSE says.
	Download *DownloadOption
}

// DownloadOption is the DOWNLOAD option block: one CONF parameter and, when
// Conf.On, one PACK parameter per advertised package.
type DownloadOption struct {
	Conf  DownloadConf
	Packs []Pack
}

// DownloadConf is the TYPE="CONF" parameter (§6.2).
type DownloadConf struct {
	On               bool
	CycleLatency     int // seconds paused after each cycle
	FragLatency      int // seconds paused after each fragment
	PeriodLatency    int // seconds paused after each period
	PeriodLength     int // cycles per period
	Timeout          int // DAYS before a pending package fails with ERR_TIMEOUT; must be >= 1 when On
	ExecutionTimeout int // minutes (Windows agent only)
}

// DefaultDownloadConf returns the real server's defaults: on, 60 s
// latencies, 10 cycles per period, TIMEOUT 7 days, EXECUTION_TIMEOUT 120
// minutes.
func DefaultDownloadConf() DownloadConf {
	return DownloadConf{On: true, CycleLatency: 60, FragLatency: 60, PeriodLatency: 60,
		PeriodLength: 10, Timeout: 7, ExecutionTimeout: 120}
}

// Pack is one TYPE="PACK" parameter: a package to deploy.
type Pack struct {
	ID       string // digits only (the Unix agent ignores other IDs)
	InfoLoc  string // host[:port]/path without scheme; the info file is https://InfoLoc/ID/info
	PackLoc  string // host[:port]/path without scheme; fragments are <PROTO>://PackLoc/ID/ID-n
	CertPath string // DefaultCertPath when empty
	CertFile string // DefaultCertFile when empty
	Schedule string // Windows only: do not run before this date
	PostCmd  string // Windows only: REBOOT, SHUTDOWN or a command
	Force    bool   // deploy even if the ID is in the agent's history
}

// Marshal writes the reply in exactly the shape the agents were tested with:
// RESPONSE, PROLOG_FREQ and INVENTORY_ON_STARTUP as elements, OPTION/NAME as
// an element and PARAM values as attributes. CONF always carries TIMEOUT;
// PACK parameters are written only when Conf.On. It fails with ErrInvalid on
// values the agents would mishandle: a RESPONSE other than SEND or STOP, a
// TIMEOUT below 1 day while downloads are on, a non-numeric package ID, or a
// location with a scheme.
func (r *PrologReply) Marshal() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("marshal prolog reply: %w", err)
	}
	var w xmlWriter
	w.raw(xmlDeclSingle + "<REPLY>\n")
	w.elem(1, "RESPONSE", r.Response)
	w.elem(1, "PROLOG_FREQ", strconv.Itoa(r.PrologFreq))
	w.elem(1, "INVENTORY_ON_STARTUP", strconv.Itoa(r.InventoryOnStartup))
	if dl := r.Download; dl != nil {
		c := dl.Conf
		w.raw("  <OPTION>\n")
		w.elem(2, "NAME", "DOWNLOAD")
		w.raw("    <PARAM")
		w.attr("TYPE", "CONF")
		w.attrBool("ON", c.On)
		w.attrInt("CYCLE_LATENCY", c.CycleLatency)
		w.attrInt("FRAG_LATENCY", c.FragLatency)
		w.attrInt("PERIOD_LATENCY", c.PeriodLatency)
		w.attrInt("PERIOD_LENGTH", c.PeriodLength)
		w.attrInt("TIMEOUT", c.Timeout)
		w.attrInt("EXECUTION_TIMEOUT", c.ExecutionTimeout)
		w.raw(" />\n")
		for _, p := range dl.Packs {
			if !c.On {
				break // the real server never advertises packages while off
			}
			w.raw("    <PARAM")
			w.attr("TYPE", "PACK")
			w.attr("ID", p.ID)
			w.attr("INFO_LOC", p.InfoLoc)
			w.attr("PACK_LOC", p.PackLoc)
			w.attr("CERT_PATH", orDefault(p.CertPath, DefaultCertPath))
			w.attr("CERT_FILE", orDefault(p.CertFile, DefaultCertFile))
			w.attr("SCHEDULE", p.Schedule)
			w.attr("POSTCMD", p.PostCmd)
			w.attrBool("FORCE", p.Force)
			w.raw(" />\n")
		}
		w.raw("  </OPTION>\n")
	}
	w.raw("</REPLY>\n")
	return w.bytes(), nil
}

func (r *PrologReply) validate() error {
	if r.Response != ResponseSend && r.Response != ResponseStop {
		return fmt.Errorf("response %q is not SEND or STOP: %w", truncate(r.Response, 40), ErrInvalid)
	}
	if r.PrologFreq < 0 {
		return fmt.Errorf("prolog freq %d: %w", r.PrologFreq, ErrInvalid)
	}
	if r.InventoryOnStartup != 0 && r.InventoryOnStartup != 1 {
		return fmt.Errorf("inventory on startup %d is not 0 or 1: %w", r.InventoryOnStartup, ErrInvalid)
	}
	dl := r.Download
	if dl == nil {
		return nil
	}
	c := dl.Conf
	if c.CycleLatency < 0 || c.FragLatency < 0 || c.PeriodLatency < 0 || c.PeriodLength < 0 ||
		c.Timeout < 0 || c.ExecutionTimeout < 0 {
		return fmt.Errorf("download conf: negative value: %w", ErrInvalid)
	}
	if !c.On {
		return nil
	}
	if c.Timeout < 1 {
		// A Unix agent compares against 0 days and fails every package
		// with ERR_TIMEOUT about a second later.
		return fmt.Errorf("download conf: timeout %d days, want >= 1: %w", c.Timeout, ErrInvalid)
	}
	seen := make(map[string]bool, len(dl.Packs))
	for _, p := range dl.Packs {
		if !ValidPackageID(p.ID) {
			return fmt.Errorf("pack id %q is not all digits: %w", truncate(p.ID, 40), ErrInvalid)
		}
		if seen[p.ID] {
			return fmt.Errorf("pack %s advertised twice: %w", p.ID, ErrInvalid)
		}
		seen[p.ID] = true
		for _, loc := range []string{p.InfoLoc, p.PackLoc} {
			if loc == "" || strings.Contains(loc, "://") {
				return fmt.Errorf("pack %s: location %q must be host[:port]/path without scheme: %w", p.ID, truncate(loc, 80), ErrInvalid)
			}
		}
	}
	return nil
}

// ValidPackageID reports whether id is a usable OCS package ID: 1 to 20
// ASCII digits. The Unix agent only processes download directories whose
// names are all digits.
func ValidPackageID(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	for i := range len(id) {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// ParsePrologReply reads a PROLOG reply, accepting attributes and elements
// alike. Options other than DOWNLOAD are ignored. It is the agent side of
// Marshal, used by Shoal's test agents.
func ParsePrologReply(doc []byte) (*PrologReply, error) {
	root, err := parseTree(doc, "REPLY")
	if err != nil {
		return nil, fmt.Errorf("parse prolog reply: %w", err)
	}
	r := &PrologReply{
		Response:           root.value("RESPONSE"),
		PrologFreq:         int(Int(root.value("PROLOG_FREQ"))),
		InventoryOnStartup: int(Int(root.value("INVENTORY_ON_STARTUP"))),
	}
	for _, opt := range root.children("OPTION") {
		if !strings.EqualFold(opt.value("NAME"), "DOWNLOAD") {
			continue
		}
		dl := &DownloadOption{}
		for _, p := range opt.children("PARAM") {
			switch p.value("TYPE") {
			case "CONF":
				dl.Conf = DownloadConf{
					On:               p.value("ON") == "1",
					CycleLatency:     int(Int(p.value("CYCLE_LATENCY"))),
					FragLatency:      int(Int(p.value("FRAG_LATENCY"))),
					PeriodLatency:    int(Int(p.value("PERIOD_LATENCY"))),
					PeriodLength:     int(Int(p.value("PERIOD_LENGTH"))),
					Timeout:          int(Int(p.value("TIMEOUT"))),
					ExecutionTimeout: int(Int(p.value("EXECUTION_TIMEOUT"))),
				}
			case "PACK":
				dl.Packs = append(dl.Packs, Pack{
					ID:       p.value("ID"),
					InfoLoc:  p.value("INFO_LOC"),
					PackLoc:  p.value("PACK_LOC"),
					CertPath: p.value("CERT_PATH"),
					CertFile: p.value("CERT_FILE"),
					Schedule: p.value("SCHEDULE"),
					PostCmd:  p.value("POSTCMD"),
					Force:    p.value("FORCE") == "1",
				})
			}
		}
		r.Download = dl
	}
	return r, nil
}

// InventoryReply is the server's answer to QUERY=INVENTORY (§5.4).
type InventoryReply struct {
	// AccountUpdate makes the agent replace its local account info (TAG and
	// other administrative fields) with AccountInfo, which must then hold
	// every field, not only the changed ones. When false, AccountInfo is
	// not written.
	AccountUpdate bool
	AccountInfo   []AccountInfo
}

// Marshal writes <RESPONSE>NO_ACCOUNT_UPDATE</RESPONSE>, or ACCOUNT_UPDATE
// followed by one ACCOUNTINFO element per field. A field without a KEYNAME
// is ErrInvalid.
func (r *InventoryReply) Marshal() ([]byte, error) {
	var w xmlWriter
	w.raw(xmlDeclSingle + "<REPLY>\n")
	if !r.AccountUpdate {
		w.elem(1, "RESPONSE", ResponseNoAccountUpdate)
		w.raw("</REPLY>\n")
		return w.bytes(), nil
	}
	w.elem(1, "RESPONSE", ResponseAccountUpdate)
	for _, a := range r.AccountInfo {
		if strings.TrimSpace(a.KeyName) == "" {
			return nil, fmt.Errorf("marshal inventory reply: account info without keyname: %w", ErrInvalid)
		}
		w.raw("  <ACCOUNTINFO>\n")
		w.elem(2, "KEYNAME", a.KeyName)
		w.elem(2, "KEYVALUE", a.KeyValue)
		w.raw("  </ACCOUNTINFO>\n")
	}
	w.raw("</REPLY>\n")
	return w.bytes(), nil
}

// ParseInventoryReply reads an INVENTORY reply (the agent side of Marshal).
func ParseInventoryReply(doc []byte) (*InventoryReply, error) {
	root, err := parseTree(doc, "REPLY")
	if err != nil {
		return nil, fmt.Errorf("parse inventory reply: %w", err)
	}
	r := &InventoryReply{AccountUpdate: root.value("RESPONSE") == ResponseAccountUpdate}
	if !r.AccountUpdate {
		return r, nil
	}
	for _, a := range root.children("ACCOUNTINFO") {
		r.AccountInfo = append(r.AccountInfo, AccountInfo{KeyName: a.value("KEYNAME"), KeyValue: a.value("KEYVALUE")})
	}
	return r, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
