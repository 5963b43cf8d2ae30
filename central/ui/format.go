package ui

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"asset": func(name string) string {
			if a, ok := u.assets[name]; ok {
				return "/static/" + name + "?v=" + a.version
			}
			return "/static/" + name
		},
		"bytes":      humanBytes,
		"ts":         timestamp,
		"tsp":        func(t *time.Time) string { return timestampPtr(t) },
		"ago":        func(t time.Time) string { return ago(u.now(), t) },
		"agop":       func(t *time.Time) string { return agoPtr(u.now(), t) },
		"stateClass": stateClass,
		"platform":   deploy.PlatformName,
		"codehelp":   api.CodeHelp,
		"stackbar":   stackBar,
		"hasPrefix":  strings.HasPrefix,
		"pct":        pct,
		"add":        func(a, b int) int { return a + b },
		"sum":        sumCounts,
		"count":      func(m map[string]int64, k string) int64 { return m[k] },
		"states":     func() []string { return allStates },
		"uintp": func(p *uint) string {
			if p == nil {
				return ""
			}
			return strconv.FormatUint(uint64(*p), 10)
		},
		"join":       strings.Join,
		"osname":     osName,
		"changeKind": changeKind,
		"mbsize":     mbSize,
		"mib":        func(mb int64) string { return humanBytes(mb << 20) },
		"logins":     logins,
		"list":       func(xs ...string) []string { return xs },
		"deref": func(p *uint) uint {
			if p == nil {
				return 0
			}
			return *p
		},
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
	}
}

// allStates lists the deployment states in life-cycle order.
var allStates = []string{
	store.StateWaiting, store.StateNotified, store.StateDownloading, store.StateDownloaded,
	store.StateRunning, store.StateSuccess, store.StateError, store.StateCancelled,
}

func validState(s string) bool {
	for _, st := range allStates {
		if s == st {
			return true
		}
	}
	return false
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func timestampPtr(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return timestamp(*t)
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func agoPtr(now time.Time, t *time.Time) string {
	if t == nil {
		return "never"
	}
	return ago(now, *t)
}

func stateClass(state string) string {
	switch state {
	case store.StateSuccess:
		return "ok"
	case store.StateError:
		return "bad"
	case store.StateCancelled:
		return "muted"
	case store.StateDownloading, store.StateDownloaded, store.StateRunning:
		return "busy"
	}
	return "wait"
}

func pct(part, whole int64) int64 {
	if whole <= 0 {
		return 0
	}
	return part * 100 / whole
}

func sumCounts(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// finishedCount is the number of deployments in a final state.
func finishedCount(m map[string]int64) int64 {
	return m[store.StateSuccess] + m[store.StateError] + m[store.StateCancelled]
}

// pager is the pagination of a list page.
type pager struct {
	Total      int64
	From, To   int64
	Prev, Next string
}

const pageSize = 50

// offsetParam reads the "offset" query parameter.
func offsetParam(c echo.Context) (int, error) {
	v := c.QueryParam("offset")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badInput("The page offset must be a number of 0 or more.")
	}
	return n, nil
}

// newPager builds the previous and next links of a list of total items
// shown from offset, keeping the other query parameters of q.
func newPager(path string, q url.Values, total int64, offset, limit int) pager {
	p := pager{Total: total}
	if total > 0 {
		p.From = int64(offset) + 1
		p.To = min(int64(offset+limit), total)
	}
	link := func(off int) string {
		v := url.Values{}
		for k, vals := range q {
			if k != "offset" && len(vals) > 0 && vals[0] != "" {
				v.Set(k, vals[0])
			}
		}
		if off > 0 {
			v.Set("offset", strconv.Itoa(off))
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	if offset > 0 {
		p.Prev = link(max(0, offset-limit))
	}
	if int64(offset+limit) < total {
		p.Next = link(offset + limit)
	}
	return p
}

// idParam reads a positive numeric path parameter.
func idParam(c echo.Context, name string) (uint, error) {
	v, err := strconv.ParseUint(c.Param(name), 10, 32)
	if err != nil || v == 0 {
		return 0, &userError{msg: fmt.Sprintf("%q is not a valid id.", c.Param(name)), err: errPageNotFound}
	}
	return uint(v), nil
}

// packageParam reads the package ID path parameter (digits).
func packageParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if id == "" || len(id) > 19 || strings.Trim(id, "0123456789") != "" {
		return "", &userError{msg: fmt.Sprintf("%q is not a package id.", id), err: errPageNotFound}
	}
	return id, nil
}

// siteSelection parses a site filter: "" (all), "none" or a site ID.
func siteSelection(v string) (id *uint, none bool, err error) {
	switch v {
	case "":
		return nil, false, nil
	case "none":
		return nil, true, nil
	}
	n, perr := strconv.ParseUint(v, 10, 32)
	if perr != nil || n == 0 {
		return nil, false, badInput("Choose a site from the list.")
	}
	x := uint(n)
	return &x, false, nil
}

// osName joins an OS name and version without repeating the version the
// name already holds: the OCS Unix agent sends OSNAME "Debian GNU/Linux 12"
// and OSVERSION "12", which read "Debian GNU/Linux 12 12".
func osName(name, version string) string {
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	switch {
	case version == "":
		return name
	case name == "":
		return version
	}
	for _, w := range strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
		if w == version {
			return name
		}
	}
	return name + " " + version
}

// mbSize shows an agent's disk size, megabytes as text (the Unix agent sends
// bytes/10⁶ with decimals: "274877.906944"), in binary units ("256.0 GiB").
// Text that is not a number is shown as it is.
func mbSize(mb string) string {
	f, err := strconv.ParseFloat(strings.TrimSpace(mb), 64)
	if err != nil || f < 0 || f > 1e15 {
		return mb
	}
	return humanBytes(int64(f * 1e6))
}

// logins lists the login names of local accounts, comma separated.
func logins(users []store.LocalUser) string {
	names := make([]string, 0, len(users))
	for _, u := range users {
		names = append(names, first(u.Login, u.Name))
	}
	return strings.Join(names, ", ")
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
