package agentapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-project/shoal/central/agentapi"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/internal/testbody"
	"github.com/shoal-project/shoal/proto"
)

// enrollRequest returns a valid agent enrollment with token.
func enrollRequest(t *testing.T, token, device string) proto.EnrollRequest {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	pub, _ := crypto.MarshalPublicKey(key.GetPublic())
	proof, _ := key.Sign(proto.EnrollProof(token, device, id.String()))
	return proto.EnrollRequest{Token: token, DeviceID: device, PeerID: id.String(), PublicKey: pub, Proof: proof,
		Inventory: &proto.AgentInventory{Hostname: "pc1"}}
}

// serve sends one request straight to the agent API's handler (no network,
// so the test sees exactly what the handler read).
func (e *env) serve(path, auth string, body io.Reader, length int64) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, body)
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return rec
}

// nothingEnrolled fails unless the token's uses, the computers and the
// relays are as before the attack.
func (e *env) nothingEnrolled(device string) {
	e.t.Helper()
	ctx := context.Background()
	toks, err := e.store.ListEnrollmentTokens(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Uses != 0 {
			e.t.Errorf("token %s used %d times", tk.Name, tk.Uses)
		}
	}
	if _, err := e.store.ComputerByDeviceID(ctx, device); !errors.Is(err, store.ErrNotFound) {
		e.t.Errorf("computer %s: %v, want not found", device, err)
	}
	relays, err := e.store.Relays(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(relays) != 0 {
		e.t.Errorf("relays %+v, want none", relays)
	}
}

// TestEnrollRefusedBeforeBodyIsRead performs the 30 MB anonymous
// enrollment (issue 13, High 6) and its variants: each is refused with a
// clear status before the handler reads more than the allowed body, and
// nothing is enrolled.
func TestEnrollRefusedBeforeBodyIsRead(t *testing.T) {
	e := newEnv(t)
	tok := e.token(0)
	const huge = 30 << 20
	tests := []struct {
		name     string
		path     string
		auth     string
		length   int64
		want     int
		maxRead  int64
		wantBody string
	}{
		{name: "agent-no-header", path: "/enroll", length: huge, want: http.StatusUnauthorized, wantBody: "Authorization: Bearer"},
		{name: "agent-invalid-token", path: "/enroll", auth: "Bearer " + proto.EnrollTokenPrefix + "nope", length: huge, want: http.StatusForbidden, wantBody: "token refused"},
		{name: "agent-agent-secret", path: "/enroll", auth: "Bearer " + proto.AgentSecretPrefix + "x", length: huge, want: http.StatusUnauthorized, wantBody: "Authorization: Bearer"},
		{name: "agent-valid-token-over-limit", path: "/enroll", auth: "Bearer " + tok, length: huge, want: http.StatusRequestEntityTooLarge, wantBody: "at most 4194304"},
		{name: "agent-valid-token-unknown-length", path: "/enroll", auth: "Bearer " + tok, length: -1, want: http.StatusRequestEntityTooLarge, maxRead: 4<<20 + 64<<10},
		{name: "relay-invalid-token", path: "/relays/enroll", auth: "Bearer " + proto.EnrollTokenPrefix + "nope", length: huge, want: http.StatusForbidden},
		{name: "relay-valid-token-over-limit", path: "/relays/enroll", auth: "Bearer " + tok, length: 1 << 20, want: http.StatusRequestEntityTooLarge, wantBody: "at most 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := testbody.New(huge)
			rec := e.serve(proto.AgentAPIPath+tt.path, tt.auth, body, tt.length)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("answer %q does not say %q", rec.Body, tt.wantBody)
			}
			if got := body.Consumed(); got > tt.maxRead {
				t.Errorf("handler read %d bytes of the body, want at most %d", got, tt.maxRead)
			}
			e.nothingEnrolled("pc1-2026-01-01-00-00-00")
		})
	}
}

// TestEnrollBodyTokenMustMatchHeader: a client cannot pass the header check
// with one token and enroll with another.
func TestEnrollBodyTokenMustMatchHeader(t *testing.T) {
	e := newEnv(t)
	valid := e.token(0)
	dev := "pc1-2026-01-01-00-00-00"
	other := proto.EnrollTokenPrefix + "other"
	b, _ := json.Marshal(enrollRequest(t, other, dev))
	rec := e.serve(proto.AgentAPIPath+"/enroll", "Bearer "+valid, bytes.NewReader(b), int64(len(b)))
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "differs from the Authorization header") {
		t.Fatalf("status %d: %s, want 403 naming the mismatch", rec.Code, rec.Body)
	}
	e.nothingEnrolled(dev)

	// The same request with matching tokens enrolls.
	b, _ = json.Marshal(enrollRequest(t, valid, dev))
	rec = e.serve(proto.AgentAPIPath+"/enroll", "Bearer "+valid, bytes.NewReader(b), int64(len(b)))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

// blockingBody hands out one byte and then blocks until released, holding
// the enrollment (and its ingest slot) open.
type blockingBody struct {
	sent    bool
	release chan struct{}
	reading chan struct{}
}

func (b *blockingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		close(b.reading)
		p[0] = '{'
		return 1, nil
	}
	<-b.release
	return 0, io.ErrUnexpectedEOF
}

// TestEnrollBusyAnswers503: with every ingest slot taken, an enrollment
// waits BusyWait and is answered 503 with Retry-After instead of queueing.
func TestEnrollBusyAnswers503(t *testing.T) {
	e := newEnvConfig(t, agentapi.Config{IngestConcurrency: 1, BusyWait: 50 * time.Millisecond})
	tok := e.token(0)
	slow := &blockingBody{release: make(chan struct{}), reading: make(chan struct{})}
	done := make(chan int)
	go func() { done <- e.serve(proto.AgentAPIPath+"/enroll", "Bearer "+tok, slow, 1000).Code }()
	<-slow.reading

	b, _ := json.Marshal(enrollRequest(t, tok, "pc2-2026-01-01-00-00-00"))
	rec := e.serve(proto.AgentAPIPath+"/enroll", "Bearer "+tok, bytes.NewReader(b), int64(len(b)))
	if diff := cmp.Diff([]any{http.StatusServiceUnavailable, "1"}, []any{rec.Code, rec.Header().Get("Retry-After")}); diff != "" {
		t.Fatalf("busy answer (-want +got):\n%s\n%s", diff, rec.Body)
	}
	close(slow.release)
	if code := <-done; code != http.StatusBadRequest {
		t.Errorf("slow enrollment: %d, want 400", code)
	}
	e.nothingEnrolled("pc2-2026-01-01-00-00-00")
}

// TestEnrollLongHostnameRefused: an identifying inventory field over its
// bound refuses the enrollment (413) and stores nothing.
func TestEnrollLongHostnameRefused(t *testing.T) {
	e := newEnv(t)
	tok := e.token(0)
	dev := "pc1-2026-01-01-00-00-00"
	req := enrollRequest(t, tok, dev)
	req.Inventory.Hostname = strings.Repeat("h", 1<<20)
	b, _ := json.Marshal(req)
	rec := e.serve(proto.AgentAPIPath+"/enroll", "Bearer "+tok, bytes.NewReader(b), int64(len(b)))
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "Computer.Name is 1048576 bytes") {
		t.Fatalf("status %d: %s, want 413 naming Computer.Name", rec.Code, rec.Body)
	}
	e.nothingEnrolled(dev)
}
