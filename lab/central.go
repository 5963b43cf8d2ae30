package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// Central ports inside the dc namespace; the namespace is the lab's own, so
// fixed ports cannot collide.
const (
	centralHTTPPort  = 8080
	centralHTTPSPort = 8443
)

// centralYAML is central's config in the lab: listening on the dc address,
// with OCS download timings fast enough for a lab (the OCS agent defaults
// sleep 10 s between fragments).
const centralYAML = `data_dir: %s
http_addr: %s
https_addr: %s
public_host: %s
agents:
  download:
    cycle_latency: 1
    frag_latency: 1
    period_latency: 1
    period_length: 10
    timeout_days: 1
`

// central is shoal-central running in the dc namespace.
type central struct {
	log      *slog.Logger
	cmd      *exec.Cmd
	done     chan error
	logFile  *os.File
	DataDir  string
	HTTPSURL string
	HTTPURL  string
	CAFile   string
	token    string
	client   *http.Client
}

// startCentral starts bin (shoal-central) inside namespace ns at the nice
// value nice with its data in dir and returns once its API answers and a
// token is minted.
func startCentral(ctx context.Context, ns, bin, dir string, nice int, log *slog.Logger) (*central, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("central dir: %w", err)
	}
	host := DCAddr.String()
	cfg := fmt.Sprintf(centralYAML, data, net.JoinHostPort(host, strconv.Itoa(centralHTTPPort)),
		net.JoinHostPort(host, strconv.Itoa(centralHTTPSPort)), host)
	cfgPath := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write central config: %w", err)
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	password := hex.EncodeToString(pw)
	lf, err := os.Create(filepath.Join(dir, "central.log"))
	if err != nil {
		return nil, fmt.Errorf("create central log: %w", err)
	}
	c := &central{log: log, logFile: lf, DataDir: data, done: make(chan error, 1)}
	c.cmd = serverCommand(ns, nice, bin, "-config", cfgPath, "-log-level", "info")
	c.cmd.Env = append(os.Environ(), "SHOAL_ADMIN_PASSWORD="+password)
	c.cmd.Stdout, c.cmd.Stderr = lf, lf
	if err := c.cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start central: %w", err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	if err := c.await(ctx, ns, password); err != nil {
		return nil, errors.Join(err, c.stop())
	}
	return c, nil
}

func (c *central) await(ctx context.Context, ns, password string) error {
	var rt struct {
		HTTPURL  string `json:"http_url"`
		HTTPSURL string `json:"https_url"`
		CAFile   string `json:"ca_file"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(c.DataDir, "central.json"))
		if err == nil && json.Unmarshal(b, &rt) == nil && rt.HTTPSURL != "" {
			break
		}
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("central exited during start (see central.log): %w", err)
		case <-ctx.Done():
			return fmt.Errorf("wait for central: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("central did not write central.json within 60s (see central.log)")
		}
	}
	c.HTTPURL, c.HTTPSURL, c.CAFile = rt.HTTPURL, rt.HTTPSURL, rt.CAFile
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return fmt.Errorf("read central CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("central CA %s holds no certificate", c.CAFile)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := inNetns(ns, func() error {
			var err error
			conn, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	c.client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 4, ResponseHeaderTimeout: 2 * time.Minute,
	}}
	var tok api.Token
	if err := c.call(ctx, "POST", "/tokens", nil, api.TokenRequest{Name: "lab"}, &tok, password); err != nil {
		return fmt.Errorf("mint API token: %w", err)
	}
	c.token = tok.Token
	return nil
}

// PID is central's process ID (`ip netns exec` execs it in place).
func (c *central) PID() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits up to 20 s, then kills.
func (c *central) stop() error {
	defer c.logFile.Close()
	select {
	case err := <-c.done:
		c.done <- err
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		c.done <- err
		if err != nil {
			return fmt.Errorf("central exit: %w", err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		return errors.New("central did not stop within 20s after SIGTERM")
	}
}

// call sends a JSON API request; password, when set, authenticates as the
// admin instead of the token.
func (c *central) call(ctx context.Context, method, path string, q url.Values, in, out any, password ...string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	u := c.HTTPSURL + api.BasePath + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out, password...)
}

func (c *central) send(req *http.Request, out any, password ...string) error {
	if len(password) > 0 {
		req.SetBasicAuth("admin", password[0])
	} else {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

// createPackage streams file to POST /packages as a multipart upload.
func (c *central) createPackage(ctx context.Context, spec api.PackageSpec, file string) (*api.Package, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open payload: %w", err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, kv := range spec.FormFields() {
				if err := mw.WriteField(kv[0], kv[1]); err != nil {
					return err
				}
			}
			fw, err := mw.CreateFormFile("file", filepath.Base(file))
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, f); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, "POST", c.HTTPSURL+api.BasePath+"/packages", pr)
	if err != nil {
		pr.CloseWithError(err)
		return nil, fmt.Errorf("upload package: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var p api.Package
	if err := c.send(req, &p); err != nil {
		pr.CloseWithError(err)
		return nil, err
	}
	return &p, nil
}

// deployments lists every deployment of package pkg.
func (c *central) deployments(ctx context.Context, pkg string) ([]api.Deployment, error) {
	var all []api.Deployment
	for offset := 0; offset < 100000; {
		var l api.List[api.Deployment]
		q := url.Values{"limit": {"1000"}, "offset": {strconv.Itoa(offset)}}
		if err := c.call(ctx, "GET", "/packages/"+pkg+"/deployments", q, nil, &l); err != nil {
			return nil, err
		}
		all = append(all, l.Items...)
		offset += len(l.Items)
		if len(l.Items) == 0 || int64(offset) >= l.Total {
			break
		}
	}
	return all, nil
}

// computers lists the computers that filter f selects.
func (c *central) computers(ctx context.Context, f api.ComputerFilter) ([]api.Computer, error) {
	q := f.Values()
	q.Set("limit", "1000")
	var l api.List[api.Computer]
	if err := c.call(ctx, "GET", "/computers", q, nil, &l); err != nil {
		return nil, err
	}
	return l.Items, nil
}

// downloads returns central's download counters for package pkg.
func (c *central) downloads(ctx context.Context, pkg string) (api.DownloadStats, error) {
	var st api.Stats
	if err := c.call(ctx, "GET", "/stats", nil, nil, &st); err != nil {
		return api.DownloadStats{}, err
	}
	return st.Downloads[pkg], nil
}

// servedBytes is everything central's application counters say it served
// of package pkg: its OCS download tree (OCS agents, relays configured by
// hand) plus its agent API's fragments (Shoal agents, and enrolled relays,
// which pull through the agent API).
func (c *central) servedBytes(ctx context.Context, pkg string) (int64, error) {
	st, err := c.downloads(ctx, pkg)
	if err != nil {
		return 0, err
	}
	var frags map[string]struct {
		Bytes int64 `json:"bytes"`
	}
	if err := c.call(ctx, "GET", "/agents/fragment-stats", nil, nil, &frags); err != nil {
		return 0, fmt.Errorf("fragment stats: %w", err)
	}
	return st.Bytes + frags[pkg].Bytes, nil
}
