package relay

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-project/shoal/internal/p2p"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/relay/relaytest"
)

// fillStore writes a package of size bytes (1 MiB Shoal fragments, nOCS
// OCS fragments) straight into the relay's store and returns its manifest.
func fillStore(b *testing.B, r *Relay, id string, size int64, nOCS int) *proto.Manifest {
	b.Helper()
	const frag = 1 << 20
	m := &proto.Manifest{Version: proto.ProtocolVersion, PackageID: id, Name: "bench", Platform: proto.PlatformLinux,
		Action: proto.ActionStore, Path: "/tmp", Priority: 5, Size: size, SHA256: strings.Repeat("0", 64), MD5: strings.Repeat("0", 32),
		FragmentSize: frag, CreatedAt: time.Now().UTC(), FragmentProto: proto.FragmentProtoHTTP}
	per := size / int64(nOCS)
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, frag)
	oh := proto.NewFragmentHasher()
	for off := int64(0); off < size; off += frag {
		rng.Read(buf)
		cid := proto.FragmentCID(buf).String()
		w, err := r.store.Create(cid, frag)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(buf)
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		r.addHave(cid, frag, true)
		m.Fragments = append(m.Fragments, proto.Fragment{Index: len(m.Fragments), Offset: off, Size: frag, CID: cid})
		oh.Write(buf)
		if end := off + frag; end%per == 0 {
			m.OCSFragments = append(m.OCSFragments, proto.Fragment{Index: len(m.OCSFragments), Offset: end - per, Size: per,
				CID: oh.CID().String()})
			oh = proto.NewFragmentHasher()
		}
	}
	return m
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// vmHWM returns the process's peak RSS in KiB.
func vmHWM() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkRelayServe1GiB: 20 clients each read a cached 1 GiB package
// as OCS agents do (16 OCS fragments of 64 MiB, each composed from 1 MiB
// Shoal fragments) from an in-process relay over loopback HTTP. CPU and
// RSS are the whole test process (clients included).
func BenchmarkRelayServe1GiB(b *testing.B) {
	const size, clients = 1 << 30, 20
	c := relaytest.New(b)
	dir := b.TempDir()
	r, err := New(Config{DataDir: dir, Upstream: c.HTTP.URL, ManifestPublicKey: pubB64(c)}, discard())
	if err != nil {
		b.Fatal(err)
	}
	m := fillStore(b, r, testPkg, size, 16)
	c.AddManifest(b, m)
	srv := newServer(b, r)
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // Reset VmHWM after filling.
	runtime.GC()
	var peakHeap uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for b.Loop() {
		cpu0, start := cpuSeconds(), time.Now()
		var cw sync.WaitGroup
		var mu sync.Mutex
		var total int64
		for range clients {
			cw.Go(func() {
				for n := 1; n <= len(m.OCSFragments); n++ {
					resp, err := client.Get(srv + ocsPath(testPkg, n))
					if err != nil {
						b.Error(err)
						return
					}
					k, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					total += k
					mu.Unlock()
				}
			})
		}
		cw.Wait()
		took := time.Since(start)
		if total != clients*size {
			b.Fatalf("clients read %d bytes, want %d", total, int64(clients)*size)
		}
		b.ReportMetric(float64(total)/took.Seconds()/1e6, "MB/s")
		b.ReportMetric(cpuSeconds()-cpu0, "cpu-s")
		fmt.Printf("relay serve: %d clients x 1 GiB in %v: %.0f MB/s aggregate, %.1f CPU-s (process, clients included)\n",
			clients, took.Round(time.Millisecond), float64(total)/took.Seconds()/1e6, cpuSeconds()-cpu0)
	}
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(vmHWM())/1024, "peak-RSS-MiB")
	fmt.Printf("relay serve: peak heap %.1f MiB, peak RSS %.1f MiB\n", float64(peakHeap)/(1<<20), float64(vmHWM())/1024)
}

// BenchmarkRelayWANCap50Mbit prefetches through a 50 Mbit/s cap and
// measures the upstream rate in 10 s windows (three full windows, the
// issue's ±5 % target); SHOAL_BENCH_WAN_WINDOW sets a shorter window.
func BenchmarkRelayWANCap50Mbit(b *testing.B) {
	window := 10 * time.Second
	if v, err := time.ParseDuration(os.Getenv("SHOAL_BENCH_WAN_WINDOW")); err == nil && v > 0 {
		window = v
	}
	c := relaytest.New(b)
	// Three windows and a little more at 50 Mbit/s.
	payload := make([]byte, int(3.2*window.Seconds()*50e6/8))
	rand.NewChaCha8([32]byte{2}).Read(payload)
	p := c.AddPackage(b, testPkg, payload, 1<<20, 1)
	for b.Loop() {
		r, err := New(Config{DataDir: b.TempDir(), Upstream: c.HTTP.URL, ManifestPublicKey: pubB64(c),
			WAN: WANConfig{RateMbit: 50}, Parallel: 8}, discard())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.manifest(context.Background(), testPkg); err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- r.fetchAll(context.Background(), testPkg, p.Manifest.Fragments) }()
		t := time.NewTicker(window)
		last, worst := r.wan.n.Load(), 0.0
		var rates []string
	loop:
		for {
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
				break loop
			case <-t.C:
				now := r.wan.n.Load()
				mbit := float64(now-last) * 8 / window.Seconds() / 1e6
				last = now
				rates = append(rates, fmt.Sprintf("%.2f", mbit))
				worst = max(worst, abs(mbit-50)/50)
			}
		}
		t.Stop()
		took := time.Since(start)
		avg := float64(len(payload)) * 8 / took.Seconds() / 1e6
		b.ReportMetric(avg, "Mbit/s")
		b.ReportMetric(worst*100, "worst-window-dev-%")
		fmt.Printf("wan cap 50 Mbit/s: %d bytes in %v = %.2f Mbit/s overall; %v windows [%s] Mbit/s; worst window %.1f %% (target ±5 %%)\n",
			len(payload), took.Round(time.Millisecond), avg, window, strings.Join(rates, " "), worst*100)
	}
}

func abs(x float64) float64 { return max(x, -x) }

func pubB64(c *relaytest.Central) string {
	return base64Std(c.Pub)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func newServer(b *testing.B, r *Relay) string {
	b.Helper()
	srv := httptest.NewServer(r.Handler())
	b.Cleanup(srv.Close)
	return srv.URL
}

// BenchmarkRelayServeLibp2p1GiB: 20 Shoal agents' libp2p nodes each read
// a cached 1 GiB package (1,024 fragments of 1 MiB, two streams per
// agent, as the swarm's PeerStreams) from an enrolled relay's libp2p
// listener on loopback. Bytes are counted, not hashed, as in the HTTP
// benchmark. CPU and RSS are the whole test process (21 libp2p hosts).
func BenchmarkRelayServeLibp2p1GiB(b *testing.B) {
	const size, clients, streams = 1 << 30, 20, 2
	c := relaytest.New(b)
	dir := b.TempDir()
	enrollTB(b, c, dir)
	r, err := New(Config{DataDir: dir, HTTPAddr: "127.0.0.1:0",
		P2P: P2PConfig{Config: p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, MaxUploads: 64}}}, discard())
	if err != nil {
		b.Fatal(err)
	}
	m := fillStore(b, r, testPkg, size, 16)
	c.AddManifest(b, m)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	wg.Go(func() {
		if err := r.node.Run(ctx); err != nil {
			b.Error(err)
		}
	})
	<-r.node.Ready()
	var srcs []*p2p.PeerSource
	for range clients {
		a := startAgentNode(b, c, "branch")
		src, err := a.node.RelaySource("relay1", r.enr.PeerID, r.node.Addrs())
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	for b.Loop() {
		cpu0, start := cpuSeconds(), time.Now()
		var cw sync.WaitGroup
		var total atomic.Int64
		for _, src := range srcs {
			for s := range streams {
				cw.Go(func() {
					for i := s; i < len(m.Fragments); i += streams {
						rc, err := src.Fetch(ctx, testPkg, m.Fragments[i])
						if err != nil {
							b.Error(err)
							return
						}
						k, _ := io.Copy(io.Discard, rc)
						rc.Close()
						total.Add(k)
					}
				})
			}
		}
		cw.Wait()
		took := time.Since(start)
		if total.Load() != clients*size {
			b.Fatalf("clients read %d bytes, want %d", total.Load(), int64(clients)*size)
		}
		mbs := float64(total.Load()) / took.Seconds() / 1e6
		b.ReportMetric(mbs, "MB/s")
		b.ReportMetric(cpuSeconds()-cpu0, "cpu-s")
		fmt.Printf("relay serve over libp2p: %d agents x 1 GiB in %v: %.0f MB/s aggregate, %.1f CPU-s (process, 21 hosts)\n",
			clients, took.Round(time.Millisecond), mbs, cpuSeconds()-cpu0)
	}
	b.ReportMetric(float64(vmHWM())/1024, "peak-RSS-MiB")
	fmt.Printf("relay serve over libp2p: peak RSS %.1f MiB (process, 21 hosts)\n", float64(vmHWM())/1024)
}
