package ui

import (
	"net/http"
	"net/url"
	"testing"
)

// TestSiteCreateMovesComputers: creating a site moves the computers whose
// last address is in its ranges at once, and the page says how many.
func TestSiteCreateMovesComputers(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	ids := seedComputers(t, e) // pc-3 (192.168.9.3) has no site.
	r := b.post(uiPrefix+"/sites", url.Values{"name": {"home"}, "cidrs": {"192.168.0.0/16"}}, true)
	wantCode(t, "create site", r, http.StatusSeeOther)
	r = b.get(r.header.Get("Location"))
	wantCode(t, "sites", r, http.StatusOK)
	wantBody(t, "sites", r, "Saved. 1 computer whose last address is in the site&#39;s ranges moved to it at once.")
	c, err := e.store.Computer(t.Context(), ids[2])
	if err != nil || c.SiteID == nil {
		t.Fatalf("pc-3: %+v %v", c, err)
	}
	site, err := e.store.Site(t.Context(), *c.SiteID)
	if err != nil || site.Name != "home" {
		t.Errorf("pc-3 site %+v %v", site, err)
	}
}

// TestImportSitesForm: the sites page imports CSV and reports a bad line
// next to the form, keeping the text.
func TestImportSitesForm(t *testing.T) {
	e := newEnv(t, Config{})
	b := e.browser()
	b.login("admin", adminPassword)
	seedComputers(t, e)
	r := b.post(uiPrefix+"/sites/import", url.Values{"csv": {"home,192.168.0.0/16,Europe/Paris\nedge,172.16.0.0/12\n"}}, true)
	wantCode(t, "import", r, http.StatusSeeOther)
	r = b.get(r.header.Get("Location"))
	wantBody(t, "sites", r, "The sites were imported. 1 computer whose last address", "Europe/Paris", "172.16.0.0/12")
	r = b.post(uiPrefix+"/sites/import", url.Values{"csv": {"far,10.9.0.0/16,Mars/Olympus\n"}}, true)
	wantCode(t, "bad import", r, http.StatusBadRequest)
	wantBody(t, "bad import", r, "line 1: site far: time zone &#34;Mars/Olympus&#34; is not an IANA time zone", "far,10.9.0.0/16,Mars/Olympus")
}
