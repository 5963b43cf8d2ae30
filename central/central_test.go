package central

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoal-project/shoal/central/web"
	"github.com/shoal-project/shoal/internal/testwait"
)

// startCentral runs a real central with cfg's HTTP limits on loopback and
// returns its runtime description; it stops when the test ends.
func startCentral(t *testing.T, httpCfg web.Config) Runtime {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", HTTPSAddr: "127.0.0.1:0", PublicHost: "127.0.0.1",
		HTTP: HTTPConfig{Config: httpCfg}, AdminPassword: "central-test-password-1"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("central run: %v", err)
		}
	})
	var rt Runtime
	testwait.For(t, 60*time.Second, "central.json", func() error {
		b, err := os.ReadFile(filepath.Join(dir, RuntimeFile))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &rt)
	})
	return rt
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// readUntilClosed reads c until the server closes it and returns how long
// that took, or fails after within.
func readUntilClosed(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s", within)
	}
	return time.Since(start)
}

// TestSlowlorisBodyIsCutOff performs the trickling-body attack of issue 13
// (Medium 8) against a real central: a client that sends an OCS request
// body one byte every 100 ms is disconnected once read_timeout passes.
func TestSlowlorisBodyIsCutOff(t *testing.T) {
	rt := startCentral(t, web.Config{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second})
	c, err := net.DialTimeout("tcp", hostPort(t, rt.HTTPURL), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /ocsinventory HTTP/1.1\r\nHost: central\r\nUser-Agent: OCS-NG_unified_unix_agent_v2.10.0\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	took := readUntilClosed(t, c, 10*time.Second)
	close(stop)
	<-trickled
	if took > 5*time.Second {
		t.Errorf("cut off after %s, want about read_timeout (1s)", took)
	}
}

// TestSlowHeadersAreCutOff: a client trickling its headers is disconnected
// after read_header_timeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	rt := startCentral(t, web.Config{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second})
	c, err := net.DialTimeout("tcp", hostPort(t, rt.HTTPURL), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: central\r\n")
	if took := readUntilClosed(t, c, 10*time.Second); took > 5*time.Second {
		t.Errorf("cut off after %s, want about read_header_timeout", took)
	}
}

// TestConnectionsPerClientCapped: a client holding max_conns_per_client
// connections has its next one closed at once; the ones it holds keep
// working.
func TestConnectionsPerClientCapped(t *testing.T) {
	const perClient = 4
	rt := startCentral(t, web.Config{MaxConnsPerClient: perClient})
	addr := hostPort(t, rt.HTTPURL)
	var held []net.Conn
	healthz := func(c net.Conn, br *bufio.Reader) error {
		if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: central\r\n\r\n"); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	readers := map[net.Conn]*bufio.Reader{}
	for range perClient {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		readers[c] = bufio.NewReader(c)
		if err := healthz(c, readers[c]); err != nil {
			t.Fatalf("connection within the cap: %v", err)
		}
		held = append(held, c)
	}
	extra, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	readUntilClosed(t, extra, 10*time.Second)
	if err := healthz(held[0], readers[held[0]]); err != nil {
		t.Fatalf("held connection after the refusal: %v", err)
	}
	// Closing one frees a slot.
	held[1].Close()
	testwait.For(t, 10*time.Second, "a new connection after one closed", func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		return healthz(c, bufio.NewReader(c))
	})
}

func TestWriteTimeoutMustCoverLongPoll(t *testing.T) {
	cfg := Config{HTTP: HTTPConfig{Config: web.Config{WriteTimeout: 30 * time.Second}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "agent_api.max_wait") {
		t.Fatalf("Validate: %v, want a write_timeout error", err)
	}
}

// TestExampleConfig decodes docs/central.example.yaml strictly, as the
// binary does, and checks that it is valid.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../docs/central.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if cfg.HTTP.MaxConnsPerClient != 64 || cfg.HTTP.ReadTimeout != 2*time.Minute || cfg.AgentAPI.MaxEnrollBodyBytes != 4<<20 {
		t.Errorf("example does not show the defaults: %+v", cfg.HTTP)
	}
}
