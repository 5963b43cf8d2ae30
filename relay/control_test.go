package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoal-project/shoal/internal/testwait"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
)

// enroll enrolls a relay in dir with the fake central, pinning its CA by
// file.
func enrollAt(t *testing.T, c *relaytest.Central, dir string) { enrollTB(t, c, dir) }

// enrollTB enrolls a relay in dir with c, for tests and benchmarks.
func enrollTB(t testing.TB, c *relaytest.Central, dir string) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, c.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Enroll(context.Background(), Config{DataDir: dir, Version: "test"}, EnrollOptions{Server: c.TLS.URL,
		Token: relaytest.Token, Site: "branch", Name: "relay1", HTTPURL: "http://127.0.0.1:0", CAFile: ca}, discard())
	if err != nil {
		t.Fatal(err)
	}
}

func TestEnroll(t *testing.T) {
	c := relaytest.New(t)
	block, _ := pem.Decode(c.CAPEM())
	sum := sha256.Sum256(block.Bytes)
	good := hex.EncodeToString(sum[:])
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, c.CAPEM(), 0o600)
	tests := []struct {
		name string
		opts EnrollOptions
		ok   bool
	}{
		{name: "ca-file", opts: EnrollOptions{CAFile: ca}, ok: true},
		{name: "ca-fingerprint", opts: EnrollOptions{CAFingerprint: good}, ok: true},
		{name: "wrong-fingerprint", opts: EnrollOptions{CAFingerprint: good[1:] + "0"}},
		{name: "no-ca", opts: EnrollOptions{}},
		{name: "bad-token", opts: EnrollOptions{CAFile: ca, Token: "shoalenroll_nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := tt.opts
			o.Server, o.Site, o.Name, o.HTTPURL = c.TLS.URL, "branch", "relay1", "http://127.0.0.1:8090"
			if o.Token == "" {
				o.Token = relaytest.Token
			}
			err := Enroll(context.Background(), Config{DataDir: dir}, o, discard())
			if (err == nil) != tt.ok {
				t.Fatalf("Enroll = %v, want ok=%t", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			for _, f := range []string{identityFile, enrollmentFile} {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, mode %v; want 0600", f, err, st.Mode().Perm())
				}
			}
			e, err := loadEnrollment(dir)
			if err != nil || e.Secret == "" || e.Upstream != c.HTTP.URL || e.Site != "branch" || e.RelayID != 7 || len(e.CertPEM) == 0 {
				t.Fatalf("enrollment %+v, %v", e, err)
			}
			// The enrollment supplies upstream, manifest key and listen port.
			r, err := New(Config{DataDir: dir}, discard())
			if err != nil {
				t.Fatal(err)
			}
			if r.cfg.Upstream != c.HTTP.URL || r.cfg.HTTPAddr != ":8090" || r.enr == nil {
				t.Errorf("config from enrollment: %+v", r.cfg)
			}
		})
	}
	reqs := c.Enrollments()
	if len(reqs) < 2 || reqs[0].Name != "relay1" || reqs[0].HTTPURL != "http://127.0.0.1:8090" {
		t.Errorf("enrollment requests %+v", reqs)
	}
}

// runRelay runs an enrolled relay on dir until the test ends or stop is
// called.
func runRelay(t *testing.T, dir string, edit func(*Config)) (r *Relay, stop func()) {
	t.Helper()
	cfg := Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", ReportInterval: time.Second, PollWait: 2 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return r, stop
}

// TestControlLoop: an enrolled relay prefetches an active package at once,
// reports it complete, adopts a renewed peer record, and purges a package
// central drops, keeping fragments another package shares.
func TestControlLoop(t *testing.T) {
	c := relaytest.New(t)
	shared := randomBytes(8192)
	a := c.AddPackage(t, "1700000001", append(randomBytes(8192*5), shared...), 8192, 2)
	b := c.AddPackage(t, "1700000002", append(randomBytes(8192*2), shared...), 8192, 1)
	dir := t.TempDir()
	enrollAt(t, c, dir)
	r, _ := runRelay(t, dir, nil)
	c.SetJobs([]proto.RelayPackage{{PackageID: a.ID, Active: true}, {PackageID: b.ID, Active: true}}, nil)
	testwait.For(t, 20*time.Second, "a report with both packages complete", func() error {
		done := map[string]bool{}
		for _, rep := range c.Reports() {
			for _, p := range rep.Packages {
				if p.Complete && p.CachedBytes == int64(len(map[string][]byte{a.ID: a.Payload, b.ID: b.Payload}[p.PackageID])) {
					done[p.PackageID] = true
				}
			}
		}
		if !done[a.ID] || !done[b.ID] {
			return fmt.Errorf("complete: %v", done)
		}
		return nil
	})
	for _, p := range []*relaytest.Package{a, b} {
		for _, f := range p.Manifest.Fragments {
			if n := c.Count(proto.FragmentPath(p.ID, f.CID)); n != 1 && f.CID != proto.FragmentCID(shared).String() {
				t.Errorf("package %s fragment %d fetched %d times, want 1", p.ID, f.Index, n)
			}
		}
		if n := c.Count("/download/" + p.ID + "/info"); n != 0 {
			t.Errorf("info of %s fetched %d times, want 0 (built from the manifest)", p.ID, n)
		}
	}
	if rep := c.Reports(); rep[len(rep)-1].DiskUsed != int64(len(a.Payload)+len(b.Payload)-len(shared)) {
		t.Errorf("disk used %d, want %d", rep[len(rep)-1].DiskUsed, len(a.Payload)+len(b.Payload)-len(shared))
	}

	rec := c.RenewPeerRecord(t, time.Now().Add(2*time.Hour))
	testwait.For(t, 10*time.Second, "the renewed peer record saved", func() error {
		e, err := loadEnrollment(dir)
		if err != nil {
			return err
		}
		if string(e.PeerRecord.Signature) != string(rec.Signature) {
			return errors.New("old record")
		}
		return nil
	})

	c.SetJobs([]proto.RelayPackage{{PackageID: b.ID, Active: true}}, []string{a.ID})
	testwait.For(t, 10*time.Second, "package A purged", func() error {
		if _, err := os.Stat(r.manifestPath(a.ID)); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("manifest still there: %v", err)
		}
		return nil
	})
	for _, f := range a.Manifest.Fragments {
		_, err := os.Stat(r.fragmentFile(f.CID))
		if isShared := f.CID == proto.FragmentCID(shared).String(); isShared != (err == nil) {
			t.Errorf("after purge fragment %d (shared %t): %v", f.Index, isShared, err)
		}
	}
	if _, err := os.Stat(r.infoPath(a.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("info of the purged package: %v", err)
	}
}

// TestPrefetchResume stops a relay in the middle of a prefetch (slowed by
// the WAN cap); the restarted relay completes it without fetching any
// verified fragment again.
func TestPrefetchResume(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(40*16384), 16384, 4)
	dir := t.TempDir()
	enrollAt(t, c, dir)
	slow := func(cfg *Config) { cfg.WAN.RateMbit = 1; cfg.Parallel = 2 } // 40 fragments take ~5 s.
	_, stop := runRelay(t, dir, slow)
	c.SetJobs([]proto.RelayPackage{{PackageID: testPkg, Active: true}}, nil)
	testwait.For(t, 20*time.Second, "a few fragments fetched", func() error {
		if n := c.FragmentRequests(testPkg); n < 6 {
			return fmt.Errorf("%d fetched", n)
		}
		return nil
	})
	stop()
	first := c.FragmentRequests(testPkg)
	if first >= int64(len(p.Manifest.Fragments)) {
		t.Fatalf("prefetch finished before the stop (%d requests); slow it down", first)
	}
	r2, _ := runRelay(t, dir, nil)
	testwait.For(t, 20*time.Second, "the prefetch to complete", func() error {
		if _, ok := r2.cacheStatus(p.Manifest); !ok {
			return errors.New("incomplete")
		}
		return nil
	})
	for _, f := range p.Manifest.Fragments {
		if n := c.Count(proto.FragmentPath(testPkg, f.CID)); n != 1 {
			t.Errorf("fragment %d fetched %d times, want 1", f.Index, n)
		}
	}
	t.Logf("first run fetched %d of %d fragments", first, len(p.Manifest.Fragments))
}

// TestQuotaLRU fills a quota with an active and two inactive packages:
// the least recently used inactive one goes, the active one stays, and
// when only active fragments are left the relay answers 507.
func TestQuotaLRU(t *testing.T) {
	c := relaytest.New(t)
	const size = 4 * 8192
	pa := c.AddPackage(t, "1700000001", randomBytes(size), 8192, 1)
	pb := c.AddPackage(t, "1700000002", randomBytes(size), 8192, 1)
	pc := c.AddPackage(t, "1700000003", randomBytes(size), 8192, 1)
	pd := c.AddPackage(t, "1700000004", randomBytes(3*size), 8192, 1)
	r, srv := newTestRelay(t, c, t.TempDir(), func(cfg *Config) { cfg.Cache.QuotaBytes = 2 * size })
	r.active = map[string]bool{pa.ID: true}
	get := func(p *relaytest.Package) int {
		code, got := fetch(t, srv.URL+ocsPath(p.ID, 1))
		if code == http.StatusOK && string(got) != string(p.Payload) {
			t.Fatalf("package %s: wrong bytes", p.ID)
		}
		return code
	}
	tests := []struct {
		name string
		pkg  *relaytest.Package
		code int
		kept []*relaytest.Package
		gone []*relaytest.Package
	}{
		{name: "active", pkg: pa, code: http.StatusOK, kept: []*relaytest.Package{pa}},
		{name: "inactive-fits", pkg: pb, code: http.StatusOK, kept: []*relaytest.Package{pa, pb}},
		{name: "evicts-lru-inactive", pkg: pc, code: http.StatusOK, kept: []*relaytest.Package{pa, pc}, gone: []*relaytest.Package{pb}},
		{name: "too-big-for-quota", pkg: pd, code: http.StatusInsufficientStorage, kept: []*relaytest.Package{pa}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := get(tt.pkg); code != tt.code {
				t.Fatalf("GET package %s: status %d, want %d", tt.pkg.ID, code, tt.code)
			}
			for _, p := range tt.kept {
				if _, ok := r.cacheStatus(p.Manifest); !ok {
					t.Errorf("package %s not complete in the cache", p.ID)
				}
			}
			for _, p := range tt.gone {
				if cached, _ := r.cacheStatus(p.Manifest); cached != 0 {
					t.Errorf("package %s still holds %d bytes", p.ID, cached)
				}
			}
			if r.used > 2*size {
				t.Errorf("cache holds %d bytes, quota %d", r.used, 2*size)
			}
		})
	}
	if r.stats.evictions.Load() == 0 {
		t.Error("no eviction counted")
	}
}

// TestWANCap fetches 3 MiB through an 8 Mbit/s cap (1 MB/s): it takes
// 3 s ± 10 %, whatever the parallelism.
func TestWANCap(t *testing.T) {
	c := relaytest.New(t)
	p := c.AddPackage(t, testPkg, randomBytes(3_000_000), 1<<16, 1)
	r, _ := newTestRelay(t, c, t.TempDir(), func(cfg *Config) { cfg.WAN.RateMbit = 8; cfg.Parallel = 8 })
	if _, err := r.manifest(context.Background(), testPkg); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.fetchAll(context.Background(), testPkg, p.Manifest.Fragments); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("3 MB at 8 Mbit/s took %v (%.2f Mbit/s)", took, 3e6*8/took.Seconds()/1e6)
	if took < 2700*time.Millisecond || took > 3300*time.Millisecond {
		t.Errorf("3 MB at 8 Mbit/s took %v, want 3 s ± 10 %%", took)
	}
}

// TestWANWindows switches the cap at a window's edge (fake clock).
func TestWANWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		at := func(d time.Duration) string { return now.Add(d).Format("15:04") }
		// 80 Mbit/s by default, 8 Mbit/s from the next minute for one minute.
		w := newWAN(WANConfig{RateMbit: 80, Windows: []WANWindow{{From: at(time.Minute), To: at(2 * time.Minute), RateMbit: 8}}}, time.Now)
		read := func(n int) time.Duration {
			start := time.Now()
			if _, err := io.Copy(io.Discard, w.reader(context.Background(), io.LimitReader(zeros{}, int64(n)))); err != nil {
				t.Fatal(err)
			}
			return time.Since(start)
		}
		if got := read(10_000_000); got < 990*time.Millisecond || got > 1010*time.Millisecond {
			t.Errorf("10 MB at 80 Mbit/s: %v, want 1 s", got)
		}
		time.Sleep(time.Until(now.Truncate(time.Minute).Add(time.Minute + time.Second)))
		// The bucket (wanBurst) starts full: 2 MB take 2 s less 33 ms.
		if got := read(2_000_000); got < 1960*time.Millisecond || got > 2010*time.Millisecond {
			t.Errorf("2 MB at 8 Mbit/s in the window: %v, want 2 s", got)
		}
		if bits := w.current(); bits != 8e6 {
			t.Errorf("cap in the window %v, want 8e6", bits)
		}
		time.Sleep(time.Minute)
		if bits := w.current(); bits != 80e6 {
			t.Errorf("cap after the window %v, want 80e6", bits)
		}
	})
}

func TestWANBitsAt(t *testing.T) {
	cfg := WANConfig{RateMbit: 50, Windows: []WANWindow{{From: "22:00", To: "06:00", RateMbit: 200}, {From: "12:00", To: "13:00", RateMbit: 0}}}
	day := time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local)
	tests := []struct {
		name string
		at   string
		want float64
	}{
		{name: "night-before-midnight", at: "23:30", want: 200e6},
		{name: "night-after-midnight", at: "05:59", want: 200e6},
		{name: "window-end-excluded", at: "06:00", want: 50e6},
		{name: "day", at: "10:00", want: 50e6},
		{name: "uncapped-lunch", at: "12:30", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hm, _ := time.Parse("15:04", tt.at)
			if got := cfg.bitsAt(day.Add(time.Duration(hm.Hour())*time.Hour + time.Duration(hm.Minute())*time.Minute)); got != tt.want {
				t.Errorf("bitsAt(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestHealthz(t *testing.T) {
	c := relaytest.New(t)
	_, srv := newTestRelay(t, c, t.TempDir(), nil)
	code, body := fetch(t, srv.URL+"/healthz")
	var h Health
	if err := json.Unmarshal(body, &h); err != nil || code != http.StatusOK || h.Status != "ok" || h.Enrolled {
		t.Errorf("healthz %d %s (%v)", code, body, err)
	}
}

// TestStaleRecordRenewed: a relay whose saved peer record no longer
// verifies (as one signed before protocol version 2 after an upgrade)
// asks central for a new one on its first poll instead of waiting up to
// two thirds of the record's life, and saves what it gets.
func TestStaleRecordRenewed(t *testing.T) {
	c := relaytest.New(t)
	dir := t.TempDir()
	enrollAt(t, c, dir)
	e, err := loadEnrollment(dir)
	if err != nil {
		t.Fatal(err)
	}
	e.PeerRecord.Signature[0] ^= 0xff
	if err := e.save(dir); err != nil {
		t.Fatal(err)
	}
	runRelay(t, dir, nil)
	testwait.For(t, 10*time.Second, "a renewed record that verifies", func() error {
		e, err := loadEnrollment(dir)
		if err != nil {
			return err
		}
		if _, err := proto.VerifyPeerRecord(e.PeerRecord, c.Pub, time.Now()); err != nil {
			return err
		}
		return nil
	})
	if n := c.RenewalsAsked(); n != 1 {
		t.Errorf("relay asked for a new record %d times, want once", n)
	}
}
