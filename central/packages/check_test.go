package packages

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto"
)

// servedPackage builds a package with 3 OCS fragments and serves the
// download directory over HTTPS (info) and HTTP (fragments, PROTO=HTTP).
type servedPackage struct {
	b        *Builder
	m        *proto.Manifest
	tlsSrv   *httptest.Server
	plainSrv *httptest.Server
}

func newServedPackage(t *testing.T) *servedPackage {
	t.Helper()
	b := newTestBuilder(t)
	src, _ := randomFile(t, 3<<20+100)
	spec := testSpec("1700000003")
	spec.OCSFragments = 3
	built, err := b.Build(context.Background(), spec, src)
	if err != nil {
		t.Fatal(err)
	}
	h := http.StripPrefix("/download/", http.FileServer(http.Dir(b.DownloadDir())))
	p := &servedPackage{b: b, m: built.Manifest, tlsSrv: httptest.NewTLSServer(h), plainSrv: httptest.NewServer(h)}
	t.Cleanup(p.tlsSrv.Close)
	t.Cleanup(p.plainSrv.Close)
	return p
}

func hostOf(s *httptest.Server) string {
	return strings.TrimPrefix(strings.TrimPrefix(s.URL, "https://"), "http://")
}

func TestCheckAvailability(t *testing.T) {
	tests := []struct {
		name string
		// setup may damage the package and returns the check's arguments.
		setup        func(t *testing.T, p *servedPackage) (m *proto.Manifest, infoLoc, packLoc, scheme string)
		wantProblems []string // Substrings, one per expected problem, in order.
		wantChecked  int
	}{
		{name: "all-good", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download/", "http"
		}, wantChecked: 3},
		{name: "fragment-altered", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			flipByte(t, filepath.Join(p.b.Path(p.m.PackageID), "1700000003-2"), 100)
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{"fragment 1700000003-2 "}, wantChecked: 3},
		{name: "fragment-longer", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			f, err := os.OpenFile(filepath.Join(p.b.Path(p.m.PackageID), "1700000003-3"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("trailing garbage"))
			f.Close()
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{"fragment 1700000003-3 (http://"}, wantChecked: 2},
		{name: "fragment-missing", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			os.Remove(filepath.Join(p.b.Path(p.m.PackageID), "1700000003-1"))
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{"fragment 1700000003-1 (http://"}, wantChecked: 2},
		{name: "info-404", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			return p.m, hostOf(p.tlsSrv) + "/elsewhere", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{"info https://" + "127.0.0.1"}, wantChecked: 3},
		{name: "info-over-plain-http", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			return p.m, hostOf(p.plainSrv) + "/download", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{"info https://"}, wantChecked: 3},
		{name: "scheme-differs-from-info-proto", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.tlsSrv) + "/download", "https"
		}, wantProblems: []string{"PROTO"}, wantChecked: 3},
		{name: "info-for-other-package", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			replaceInFile(t, filepath.Join(p.b.Path(p.m.PackageID), InfoFile), `ID="1700000003"`, `ID="1700000004"`)
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{"ID is"}, wantChecked: 3},
		{name: "info-command-rewritten", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			replaceInFile(t, filepath.Join(p.b.Path(p.m.PackageID), InfoFile), `COMMAND="sh install.sh"`, `COMMAND="sh evil.sh"`)
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{`COMMAND is "sh evil.sh", want "sh install.sh"`}, wantChecked: 3},
		{name: "info-notify-added", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			replaceInFile(t, filepath.Join(p.b.Path(p.m.PackageID), InfoFile), `NOTIFY_TEXT=""`, `NOTIFY_TEXT="call 555"`)
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download", "http"
		}, wantProblems: []string{"NOTIFY_TEXT is"}, wantChecked: 3},
		{name: "location-with-scheme", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			return p.m, "https://" + hostOf(p.tlsSrv), "", "http"
		}, wantProblems: []string{"info location", "fragment location"}},
		{name: "bad-scheme", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			return p.m, hostOf(p.tlsSrv) + "/download", hostOf(p.plainSrv) + "/download", "ftp"
		}, wantProblems: []string{"PROTO", "fragment scheme"}},
		{name: "nil-manifest", setup: func(t *testing.T, p *servedPackage) (*proto.Manifest, string, string, string) {
			return nil, hostOf(p.tlsSrv), hostOf(p.plainSrv), "http"
		}, wantProblems: []string{"no manifest"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newServedPackage(t)
			m, infoLoc, packLoc, scheme := tt.setup(t, p)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep := CheckAvailability(ctx, p.tlsSrv.Client(), m, infoLoc, packLoc, scheme)
			if rep.OK != (len(tt.wantProblems) == 0) || len(rep.Problems) != len(tt.wantProblems) {
				t.Fatalf("report OK=%t problems %q; want %d problems", rep.OK, rep.Problems, len(tt.wantProblems))
			}
			for i, w := range tt.wantProblems {
				if !strings.Contains(rep.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to mention %q", i, rep.Problems[i], w)
				}
			}
			if rep.FragmentsChecked != tt.wantChecked {
				t.Errorf("FragmentsChecked = %d, want %d", rep.FragmentsChecked, tt.wantChecked)
			}
		})
	}
}

// TestCheckAvailabilityGarbage serves nonsense and endless bodies: the check
// must report problems, read a bounded amount and return.
func TestCheckAvailabilityGarbage(t *testing.T) {
	p := newServedPackage(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{name: "garbage", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<<<\x00not xml at all"))
		}},
		{name: "endless", handler: func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 64<<10)
			for r.Context().Err() == nil {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		}},
		{name: "server-error", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.handler)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep := CheckAvailability(ctx, srv.Client(), p.m, hostOf(srv), hostOf(srv), "https")
			// One problem for the info file and one per fragment.
			if rep.OK || len(rep.Problems) != 1+len(p.m.OCSFragments) {
				t.Errorf("report OK=%t problems %q; want %d problems", rep.OK, rep.Problems, 1+len(p.m.OCSFragments))
			}
		})
	}
}

func TestCheckAvailabilityCancelled(t *testing.T) {
	p := newServedPackage(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := CheckAvailability(ctx, p.tlsSrv.Client(), p.m, hostOf(p.tlsSrv)+"/download", hostOf(p.plainSrv)+"/download", "http")
	if rep.OK || rep.FragmentsChecked != 0 {
		t.Fatalf("report = %+v, want failure with nothing checked", rep)
	}
	last := rep.Problems[len(rep.Problems)-1]
	if !strings.Contains(last, "1700000003-1 to 1700000003-3 not checked") {
		t.Errorf("last problem = %q, want the unchecked fragments named", last)
	}
}
