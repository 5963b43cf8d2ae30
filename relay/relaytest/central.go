// Package relaytest is a hand-written fake of central for relay tests: it
// serves signed manifests, info files and Shoal fragments (the download
// tree a relay pulls from) on a plain-HTTP server, and the relay API
// (enroll, long-poll jobs, report) on a TLS server. It counts requests per
// path and can corrupt or hold fragment answers.
package relaytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Token is the enrollment token the fake accepts.
const Token = proto.EnrollTokenPrefix + "relaytest"

// Package is one package of the fake.
type Package struct {
	ID       string
	Payload  []byte
	Manifest *proto.Manifest
	Signed   []byte // manifest.json
	Info     []byte
	frags    map[string][]byte // CID -> bytes
}

// Central is the fake. Its methods are safe for concurrent use.
type Central struct {
	Pub  ed25519.PublicKey
	key  ed25519.PrivateKey
	HTTP *httptest.Server // download tree and fragments
	TLS  *httptest.Server // relay API

	mu       sync.Mutex // guards everything below
	pkgs     map[string]*Package
	requests map[string]int64
	corrupt  map[string]int // path -> answers still to corrupt
	gate     chan struct{}  // when set, fragment answers wait for it to close
	jobs     proto.RelayJobs
	changed  chan struct{} // closed when jobs change
	reports  []proto.RelayReport
	enrolls  []proto.RelayEnrollRequest
	secret   string
	renew    *proto.SignedPeerRecord
	asked    int // jobs polls with renew=1
	site     *proto.SiteInfo
}

// New starts a fake central; t.Cleanup stops it.
func New(t testing.TB) *Central {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &Central{Pub: pub, key: key, pkgs: map[string]*Package{}, requests: map[string]int64{}, corrupt: map[string]int{},
		changed: make(chan struct{}), secret: proto.RelaySecretPrefix + "s3cret"}
	c.jobs.Tag = proto.RelayJobsTag(nil, nil)
	c.HTTP = httptest.NewServer(http.HandlerFunc(c.serveDownload))
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+proto.AgentAPIPath+"/relays/enroll", c.serveEnroll)
	mux.HandleFunc("GET "+proto.AgentAPIPath+"/relay/jobs", c.auth(c.serveJobs))
	mux.HandleFunc("POST "+proto.AgentAPIPath+"/relay/report", c.auth(c.serveReport))
	mux.HandleFunc("GET /cacert.pem", func(w http.ResponseWriter, _ *http.Request) { w.Write(c.CAPEM()) })
	c.TLS = httptest.NewTLSServer(mux)
	t.Cleanup(func() {
		c.TLS.CloseClientConnections()
		c.TLS.Close()
		c.HTTP.CloseClientConnections()
		c.HTTP.Close()
	})
	return c
}

// CAPEM returns the PEM of the TLS server's certificate (its own CA).
func (c *Central) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.TLS.Certificate().Raw})
}

// AddPackage builds a package of payload with Shoal fragments of fragSize
// bytes and ocsFrags OCS fragments, signs its manifest and serves it.
func (c *Central) AddPackage(t testing.TB, id string, payload []byte, fragSize int64, ocsFrags int) *Package {
	t.Helper()
	size := int64(len(payload))
	sha, md := sha256.Sum256(payload), md5.Sum(payload)
	m := &proto.Manifest{Version: proto.ProtocolVersion, PackageID: id, Name: "pkg" + id, Platform: proto.PlatformLinux,
		Action: proto.ActionExecute, Command: "true", Priority: 5, Size: size, SHA256: hex.EncodeToString(sha[:]),
		MD5: hex.EncodeToString(md[:]), FragmentSize: fragSize, CreatedAt: time.Now().UTC(), FragmentProto: proto.FragmentProtoHTTP}
	p := &Package{ID: id, Payload: payload, Manifest: m, frags: map[string][]byte{}}
	for off := int64(0); off < size; off += fragSize {
		b := payload[off:min(off+fragSize, size)]
		cid := proto.FragmentCID(b).String()
		m.Fragments = append(m.Fragments, proto.Fragment{Index: len(m.Fragments), Offset: off, Size: int64(len(b)), CID: cid})
		p.frags[cid] = b
	}
	per := (size + int64(ocsFrags) - 1) / int64(ocsFrags)
	for off := int64(0); off < size; off += per {
		b := payload[off:min(off+per, size)]
		m.OCSFragments = append(m.OCSFragments, proto.Fragment{Index: len(m.OCSFragments), Offset: off,
			Size: int64(len(b)), CID: proto.FragmentCID(b).String()})
	}
	var err error
	if p.Signed, err = proto.SignManifest(m, c.key); err != nil {
		t.Fatal(err)
	}
	if p.Info, err = ocs.InfoFromManifest(m).Marshal(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.pkgs[id] = p
	c.mu.Unlock()
	return p
}

// SetInfo makes the fake serve info as the info file of package id, as a
// man in the middle on the WAN path would.
func (c *Central) SetInfo(id string, info []byte) {
	c.mu.Lock()
	c.pkgs[id].Info = info
	c.mu.Unlock()
}

// Count returns how many requests path received.
func (c *Central) Count(path string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[path]
}

// FragmentRequests returns the fragment requests of package id.
func (c *Central) FragmentRequests(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for p, v := range c.requests {
		if strings.HasPrefix(p, proto.FragmentPathPrefix+id+"/") {
			n += v
		}
	}
	return n
}

// Corrupt makes the next n answers for path flip a byte.
func (c *Central) Corrupt(path string, n int) {
	c.mu.Lock()
	c.corrupt[path] = n
	c.mu.Unlock()
}

// Hold makes fragment answers wait until the returned function is called.
func (c *Central) Hold() (release func()) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.gate = ch
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.gate = nil
			c.mu.Unlock()
			close(ch)
		})
	}
}

// SetJobs changes the relays' job list and wakes their long polls.
func (c *Central) SetJobs(pkgs []proto.RelayPackage, purge []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jobs = proto.RelayJobs{Packages: pkgs, Purge: purge, Tag: proto.RelayJobsTag(pkgs, purge), Site: c.site}
	close(c.changed)
	c.changed = make(chan struct{})
}

// SetSite sets the site description of the next job lists (tracker URL,
// revoked peers).
func (c *Central) SetSite(si *proto.SiteInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.site = si
	c.jobs.Site = si
	c.jobs.Tag += "+site"
	close(c.changed)
	c.changed = make(chan struct{})
}

// SignRecord signs a peer record for an agent of site, as central does at
// enrollment.
func (c *Central) SignRecord(t testing.TB, peerID, site string, expires time.Time) proto.SignedPeerRecord {
	t.Helper()
	rec, err := proto.SignPeerRecord(proto.PeerRecord{PeerID: peerID, DeviceID: "agent-" + peerID[len(peerID)-6:], Site: site,
		Role: proto.RoleAgent, Issued: time.Now(), Expires: expires}, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// RenewPeerRecord makes the next jobs answer carry a fresh peer record for
// the last enrolled relay.
func (c *Central) RenewPeerRecord(t testing.TB, expires time.Time) proto.SignedPeerRecord {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.enrolls[len(c.enrolls)-1]
	rec, err := proto.SignPeerRecord(proto.PeerRecord{PeerID: e.PeerID, DeviceID: proto.RelayDeviceIDPrefix + e.Name,
		Site: e.Site, Role: proto.RoleRelay, Issued: time.Now(), Expires: expires}, c.key)
	if err != nil {
		t.Fatal(err)
	}
	c.renew = &rec
	c.jobs.Tag += "+renew"
	close(c.changed)
	c.changed = make(chan struct{})
	return rec
}

// RenewalsAsked returns how many job polls asked for a new peer record.
func (c *Central) RenewalsAsked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked
}

// Reports returns the reports received so far.
func (c *Central) Reports() []proto.RelayReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]proto.RelayReport(nil), c.reports...)
}

// Enrollments returns the enrollment requests received so far.
func (c *Central) Enrollments() []proto.RelayEnrollRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]proto.RelayEnrollRequest(nil), c.enrolls...)
}

func (c *Central) serveDownload(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests[r.URL.Path]++
	gate := c.gate
	flip := c.corrupt[r.URL.Path] > 0
	if flip {
		c.corrupt[r.URL.Path]--
	}
	var body []byte
	if rest, ok := strings.CutPrefix(r.URL.Path, proto.FragmentPathPrefix); ok {
		if id, cid, ok := strings.Cut(rest, "/"); ok && c.pkgs[id] != nil {
			body = c.pkgs[id].frags[cid]
		}
	} else if rest, ok := strings.CutPrefix(r.URL.Path, "/download/"); ok {
		if id, file, ok := strings.Cut(rest, "/"); ok && c.pkgs[id] != nil {
			switch file {
			case "manifest.json":
				body = c.pkgs[id].Signed
			case "info":
				body = c.pkgs[id].Info
			}
		}
	}
	c.mu.Unlock()
	if body == nil {
		http.NotFound(w, r)
		return
	}
	if gate != nil && strings.HasPrefix(r.URL.Path, proto.FragmentPathPrefix) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if flip {
		body = append([]byte(nil), body...)
		body[len(body)/2] ^= 0xff
	}
	w.Write(body)
}

func (c *Central) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		ok := r.Header.Get("Authorization") == "Bearer "+c.secret
		c.mu.Unlock()
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func (c *Central) serveEnroll(w http.ResponseWriter, r *http.Request) {
	var req proto.RelayEnrollRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token != Token {
		http.Error(w, "enrollment refused", http.StatusForbidden)
		return
	}
	pub, err := crypto.UnmarshalPublicKey(req.PublicKey)
	if err != nil {
		http.Error(w, "bad key", http.StatusBadRequest)
		return
	}
	id, err := peer.Decode(req.PeerID)
	ok, verr := pub.Verify(proto.RelayEnrollProof(req.Token, req.Name, req.PeerID), req.Proof)
	if err != nil || !id.MatchesPublicKey(pub) || verr != nil || !ok {
		http.Error(w, "bad proof", http.StatusBadRequest)
		return
	}
	certPEM, keyPEM, err := c.relayCert()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	rec, err := proto.SignPeerRecord(proto.PeerRecord{PeerID: req.PeerID, DeviceID: proto.RelayDeviceIDPrefix + req.Name,
		Site: req.Site, Role: proto.RoleRelay, Issued: time.Now(), Expires: time.Now().Add(time.Hour)}, c.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	c.mu.Lock()
	c.enrolls = append(c.enrolls, req)
	secret := c.secret
	c.mu.Unlock()
	json.NewEncoder(w).Encode(proto.RelayEnrollResponse{RelayID: 7, Site: req.Site, Secret: secret,
		ManifestPublicKey: c.Pub, ManifestKeyID: proto.KeyID(c.Pub), CACertPEM: c.CAPEM(), CertPEM: certPEM, KeyPEM: keyPEM,
		Upstream: c.HTTP.URL, PeerRecord: rec})
}

func (c *Central) serveJobs(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("renew") == "1" {
		// Like central: a relay asking for a new record gets one at once.
		c.mu.Lock()
		c.asked++
		jobs := c.jobs
		e := c.enrolls[len(c.enrolls)-1]
		rec, err := proto.SignPeerRecord(proto.PeerRecord{PeerID: e.PeerID, DeviceID: proto.RelayDeviceIDPrefix + e.Name,
			Site: e.Site, Role: proto.RoleRelay, Issued: time.Now(), Expires: time.Now().Add(24 * time.Hour)}, c.key)
		c.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		jobs.PeerRecord = &rec
		json.NewEncoder(w).Encode(jobs)
		return
	}
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		c.mu.Lock()
		jobs, changed := c.jobs, c.changed
		if jobs.Tag != r.URL.Query().Get("tag") {
			jobs.PeerRecord, c.renew = c.renew, nil
		}
		c.mu.Unlock()
		if jobs.Tag != r.URL.Query().Get("tag") {
			json.NewEncoder(w).Encode(jobs)
			return
		}
		select {
		case <-changed:
		case <-t.C:
			json.NewEncoder(w).Encode(jobs)
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (c *Central) serveReport(w http.ResponseWriter, r *http.Request) {
	var rep proto.RelayReport
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.reports = append(c.reports, rep)
	c.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// relayCert returns a certificate for 127.0.0.1 signed by the TLS
// server's certificate (the CA relays pin), and its key: the relay's TLS
// certificate in enrollment answers.
func (c *Central) relayCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.TLS.Certificate(), &key.PublicKey, c.TLS.TLS.Certificates[0].PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// AddManifest signs m and serves only its manifest (no fragments, no
// info): for benchmarks that put the fragments into the relay's store
// themselves.
func (c *Central) AddManifest(t testing.TB, m *proto.Manifest) {
	t.Helper()
	signed, err := proto.SignManifest(m, c.key)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.pkgs[m.PackageID] = &Package{ID: m.PackageID, Manifest: m, Signed: signed, frags: map[string][]byte{}}
	c.mu.Unlock()
}
