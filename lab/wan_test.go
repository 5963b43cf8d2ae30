package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// packetPair returns two connected packet sockets (message boundaries are
// kept, like a TUN device's packets) as non-blocking files.
func packetPair(t *testing.T) (a, b *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b = os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("condition not met within %v", timeout)
		}
	}
}

func TestDelayLine(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
		loss  float64
		sent  int
		want  int
	}{
		{name: "delays-in-order", delay: 40 * time.Millisecond, sent: 20, want: 20},
		{name: "no-delay", sent: 50, want: 50},
		{name: "total-loss", delay: time.Millisecond, loss: 1, sent: 20, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcW, srcR := packetPair(t) // the test writes srcW, the line reads srcR
			dstW, dstR := packetPair(t) // the line writes dstW, the test reads dstR
			d := newDelayLine(srcR, dstW, tt.delay, tt.loss, 1)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.run(ctx) }()
			t.Cleanup(func() {
				cancel()
				srcR.Close()
				if err := <-done; err != nil {
					t.Errorf("delay line: %v", err)
				}
			})

			start := time.Now()
			for i := range tt.sent {
				if _, err := srcW.Write(fmt.Appendf(nil, "packet-%03d", i)); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 100)
			for i := range tt.want {
				if err := dstR.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				n, err := dstR.Read(buf)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if got, want := string(buf[:n]), fmt.Sprintf("packet-%03d", i); got != want {
					t.Fatalf("got %q, want %q (order or boundaries lost)", got, want)
				}
				if i == 0 && time.Since(start) < tt.delay {
					t.Errorf("first packet after %v, want at least %v", time.Since(start), tt.delay)
				}
			}
			if tt.want == 0 {
				// Every packet must be counted as lost, and none delivered.
				waitFor(t, 5*time.Second, func() bool { return d.stats.Lost.Load() == int64(tt.sent) })
				_ = dstR.SetReadDeadline(time.Now().Add(2 * tt.delay))
				if n, err := dstR.Read(buf); err == nil {
					t.Errorf("a lost packet arrived: %q", buf[:n])
				}
			}
			waitFor(t, 5*time.Second, func() bool { return d.stats.Packets.Load() == int64(tt.want) })
			// In counts every byte read, lost packets included (the input
			// device's tx counter): "packet-000" is 10 bytes.
			if got := d.stats.In.Load(); got != int64(10*tt.sent) {
				t.Errorf("bytes in %d, want %d", got, 10*tt.sent)
			}
		})
	}
}

// TestDelayLineThreadsHaveWirePriority: while a delay line runs, two
// threads of the process (its reader and its writer) have wireNice, a
// process the lab starts meanwhile has nice 0 (as the thread that forks
// it), and once the line stops no thread keeps wireNice. Needs root to
// raise a priority.
func TestDelayLineThreadsHaveWirePriority(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to raise a thread's priority")
	}
	_, srcR := packetPair(t)
	dstW, _ := packetPair(t)
	d := newDelayLine(srcR, dstW, time.Millisecond, 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		srcR.Close()
		if err := <-done; err != nil {
			t.Errorf("delay line: %v", err)
		}
	}
	defer stop()
	waitFor(t, 5*time.Second, func() bool { return wireThreads(t) == 2 })
	out, err := exec.Command("sh", "-c", "cut -d' ' -f19 /proc/self/stat").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "0" {
		t.Errorf("a process the lab starts has nice %s, want 0", got)
	}
	// Once the line stops, no thread keeps the wire's priority (the
	// process's main thread, which Go does not end, included).
	stop()
	waitFor(t, 5*time.Second, func() bool { return wireThreads(t) == 0 })
}

// wireThreads counts the threads of this process with nice wireNice.
func wireThreads(t *testing.T) int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue // The thread ended.
		}
		// Field 19 is the nice value; field 2 (the name) has no spaces here.
		f := strings.Fields(string(b))
		if len(f) > 18 && f[18] == strconv.Itoa(wireNice) {
			n++
		}
	}
	return n
}

// TestServerCommand: central and the relays run inside their namespace
// through nice(1), so that every thread of theirs has the servers' nice
// value; at 0 the command is the binary itself. As root, the command
// really runs at that value.
func TestServerCommand(t *testing.T) {
	if got, want := serverCommand("dc", -10, "/bin/central", "-config", "c.yaml").Args,
		[]string{"ip", "netns", "exec", "dc", "nice", "-n", "-10", "/bin/central", "-config", "c.yaml"}; !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if got, want := serverCommand("", 0, "/bin/relay", "-v").Args, []string{"/bin/relay", "-v"}; !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to raise a priority")
	}
	out, err := serverCommand("", DefaultServerNice, "sh", "-c", "cut -d' ' -f19 /proc/self/stat").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(DefaultServerNice) {
		t.Errorf("a server runs at nice %s, want %d", got, DefaultServerNice)
	}
}
