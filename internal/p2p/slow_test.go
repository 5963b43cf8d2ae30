package p2p

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// TestSlowReaderServed: a peer that takes a fragment at 192 KiB/s, so
// that each 256 KiB chunk waits over a second for window, is served to
// the end: write deadlines follow the bytes at MinPeerRate, not a fixed
// StreamTimeout shorter than one chunk's time on a slow link.
func TestSlowReaderServed(t *testing.T) {
	c := newCentral(t)
	a := startNode(t, c, Config{StreamTimeout: 300 * time.Millisecond, MinPeerRate: 64 << 10})
	b := startNode(t, c, Config{})
	data := randomBytes(640<<10, 3)
	f := a.put(t, data)

	rc, err := b.source(t, a).Fetch(t.Context(), "pkg-1", f)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	defer rc.Close()
	const perTick = 192 << 10 / 100 // 192 KiB/s in 10ms ticks
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var got bytes.Buffer
	for got.Len() < len(data) {
		<-tick.C
		if _, err := io.CopyN(&got, rc, int64(min(perTick, len(data)-got.Len()))); err != nil {
			t.Fatalf("read after %d bytes: %v", got.Len(), err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("fetched bytes differ from the stored")
	}
}

func TestWriteTimeouts(t *testing.T) {
	cfg := Config{StreamTimeout: 30 * time.Second, MinPeerRate: 64 << 10}.withDefaults()
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{name: "piece", got: cfg.writeTimeout(writePiece), want: 31 * time.Second},
		{name: "send-buffer-at-512kbit", got: cfg.connWriteTimeout(), want: 94 * time.Second},
		{name: "default-rate", got: Config{}.withDefaults().connWriteTimeout(), want: 158 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}
