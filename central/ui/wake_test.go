package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestComputerWake: the computer page's Wake action needs the CSRF token,
// stores an audited request for the computer's MAC and shows its state;
// an unknown computer is a 404.
func TestComputerWake(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	id := ingestCapture(t, e, "unix-agent-2.10.0/inventory-request.zlib", nil)
	page := fmt.Sprintf("%s/computers/%d", uiPrefix, id)
	path := page + "/wake"
	wantBody(t, "computer page", b.get(page), `action="`+path+`"`, `id="wake-button"`, "Never woken from here.")

	wantCode(t, "no csrf", b.post(path, url.Values{}, false), http.StatusForbidden)
	wantCode(t, "unknown computer", b.post(uiPrefix+"/computers/9999/wake", url.Values{}, true), http.StatusNotFound)
	r := b.post(path, url.Values{}, true)
	wantCode(t, "wake", r, http.StatusSeeOther)
	wantBody(t, "after wake", b.get(page+"?done=wake"), `<ul class="plain" id="wakes">`, "waiting", "manual by admin")
	wantBody(t, "audit", b.get(uiPrefix+"/audit"), "computer.wake", "02:fc:00:00:00:01")
}
