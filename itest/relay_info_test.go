//go:build integration

package itest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// relayServerCert writes a certificate for 127.0.0.1 signed by central's CA
// (the one OCS agents trust for INFO_LOC) and its key into dir.
func relayServerCert(t *testing.T, c *Central, dir string) (certFile, keyFile string) {
	t.Helper()
	read := func(name string) *pem.Block {
		b, err := os.ReadFile(filepath.Join(c.Dir, "pki", name))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", name)
		}
		return blk
	}
	ca, err := x509.ParseCertificate(read("ca.pem").Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(read("ca-key.pem").Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "relay.pem"), filepath.Join(dir, "relay-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestRelayTamperedInfo puts a man in the middle on the plain-HTTP path
// between shoal-relay and central that rewrites every info file's COMMAND,
// then publishes a package with the relay as INFO_LOC (HTTPS) and
// PACK_LOC for real OCS agents. The relay never asks for the info file: it
// serves the one built from the signed manifest, activation's check finds
// it identical, and the agent runs the signed command only.
func TestRelayTamperedInfo(t *testing.T) {
	// Mostly waiting (agent timers, leases): runs beside the other such tests
	// (make itest -parallel 6) to keep make test under 20 minutes on 2 cores.
	t.Parallel()
	c := startCentral(t, "")
	var info api.ServerInfo
	c.do("GET", "/api/v1/server", nil, &info, http.StatusOK)
	work := t.TempDir()
	marker := filepath.Join(work, "marker")
	payload := targz(t, map[string]string{"run.sh": "#!/bin/sh\necho \"$2\" >> \"$1\"\n"})
	id := c.createPackage(PackageSpec{"name": "signed", "action": "EXECUTE", "priority": "5", "fragments": "1",
		"command": "sh run.sh " + marker + " signed"}, payload)

	u, err := url.Parse(c.HTTPURL)
	if err != nil {
		t.Fatal(err)
	}
	var infoRequests atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasSuffix(resp.Request.URL.Path, "/info") {
			return nil
		}
		infoRequests.Add(1)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte(" signed\""), []byte(" evil\""))
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	mitm := httptest.NewServer(rp)
	t.Cleanup(mitm.Close)

	dir := t.TempDir()
	certFile, keyFile := relayServerCert(t, c, dir)
	httpsPort := freePort(t)
	relay := startRelayYAML(t, fmt.Sprintf("data_dir: %s\nhttp_addr: 127.0.0.1:0\nhttps_addr: 127.0.0.1:%d\ntls_cert_file: %s\ntls_key_file: %s\n"+
		"upstream: %s\nmanifest_public_key: %s\nfetch_timeout: 1m\n",
		filepath.Join(dir, "data"), httpsPort, certFile, keyFile, mitm.URL, base64.StdEncoding.EncodeToString(info.ManifestPublicKey)), dir)

	var site api.Site
	c.do("POST", "/api/v1/sites", api.SiteRequest{Name: "branch", CIDRs: []string{"127.0.0.0/8"},
		FragmentLocation: relay.Location()}, &site, http.StatusCreated)
	agent := newOCSAgent(t, c.HTTPSURL+"/ocsinventory", c.CAFile)
	if code, log := agent.Run("--tag=relay-info"); code != 0 {
		t.Fatalf("agent inventory: exit %d:\n%s", code, log)
	}
	// With the check: central reads the info file from the relay and
	// compares every field with the manifest.
	c.activate(id, map[string]any{"info_loc": fmt.Sprintf("127.0.0.1:%d/download", httpsPort), "pack_loc": relay.Location()}, http.StatusOK)
	var res api.AffectResult
	c.do("POST", "/api/v1/packages/"+id+"/affect", api.AffectRequest{Filter: &api.ComputerFilter{SiteID: &site.ID}}, &res, http.StatusOK)
	if res.Created != 1 {
		t.Fatalf("affect: created %d deployments, want 1", res.Created)
	}
	if code, log := agent.Run(); code != 0 {
		t.Fatalf("agent: exit %d:\n%s", code, log)
	}
	waitFor(t, 3*time.Minute, "the deployment to finish", func() error {
		var l deploymentList
		c.do("GET", "/api/v1/packages/"+id+"/deployments", nil, &l, http.StatusOK)
		if len(l.Items) != 1 || (l.Items[0].State != "success" && l.Items[0].State != "error") {
			return fmt.Errorf("deployments %+v", l.Items)
		}
		if l.Items[0].ResultCode != "SUCCESS" {
			t.Fatalf("deployment ended with %s", l.Items[0].ResultCode)
		}
		return nil
	})
	agent.waitWorker(2 * time.Minute)
	if b, err := os.ReadFile(marker); err != nil || string(b) != "signed\n" {
		t.Errorf("marker file %q, %v; want the signed command's output only", b, err)
	}
	if n := infoRequests.Load(); n != 0 {
		t.Errorf("the relay fetched the info file %d times through the man in the middle, want 0", n)
	}
	// The proxy does rewrite what crosses it.
	resp, err := http.Get(mitm.URL + "/download/" + id + "/info")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte(" evil\"")) {
		t.Errorf("the man in the middle did not rewrite the info file: %s", b)
	}
}
