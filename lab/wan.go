package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// openTUN creates TUN device name inside namespace ns and returns its
// file, opened non-blocking so that Close interrupts a pending Read. The
// device lives as long as the file is open.
func openTUN(ns, name string) (*os.File, error) {
	if len(name) > 15 {
		return nil, fmt.Errorf("tun name %q is longer than 15 bytes", name)
	}
	var f *os.File
	err := inNetns(ns, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("tun name %q: %w", name, err)
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("create tun %s: %w", name, err)
		}
		f = os.NewFile(uintptr(fd), "tun:"+ns+"/"+name)
		return nil
	})
	return f, err
}

// lineStats counts one direction of a delay line.
type lineStats struct {
	// In counts the bytes read from the input device, lost ones
	// included: what its shaper let through (its tx counter), readable
	// at any time without asking the kernel.
	In       atomic.Int64
	Packets  atomic.Int64
	Bytes    atomic.Int64
	Lost     atomic.Int64 // dropped on purpose (loss)
	Overflow atomic.Int64 // dropped because the delay queue was full
}

// delayQueue bounds the packets held by one direction of a delay line.
const delayQueue = 16384

type delayed struct {
	due time.Time
	b   []byte
}

// delayLine forwards packets read from in to out after delay, dropping each
// with probability loss. Its two goroutines own nothing shared but the
// channel between them and the atomic stats.
type delayLine struct {
	in, out *os.File
	delay   time.Duration
	loss    float64
	rng     *rand.Rand // used only by the reader goroutine
	stats   lineStats
	// log, when set, gets a warning when the wire's threads cannot have
	// wireNice (once per line).
	log      *slog.Logger
	niceOnce sync.Once
}

func newDelayLine(in, out *os.File, delay time.Duration, loss float64, seed uint64) *delayLine {
	return &delayLine{in: in, out: out, delay: delay, loss: loss, rng: rand.New(rand.NewPCG(seed, 0x5f0a1))}
}

// wireNice is the nice value of the delay lines' threads. The delay line
// is the lab's wire, not a part of the system under test: when the 40
// agents of the default size saturated both cores, the lab process went
// unscheduled for seconds (its 1 s samples showed 4 s gaps) and the WAN
// carried nothing meanwhile, while a real uplink goes on whatever the
// computers at its ends do. The agents keep nice 0, central and the relays
// get DefaultServerNice through nice(1): only the wire's threads (locked
// to their goroutines, so no process is ever started from them and
// inherits the value) run here at wireNice.
const wireNice = -10

// wireThread locks the calling goroutine to its thread and gives the
// thread wireNice (without the privilege it warns, once per line); the
// returned func gives the thread nice 0 back and unlocks it. (A locked
// goroutine's thread ends with it, except the process's main thread,
// which Go keeps: left at wireNice, it would hand the value to the
// processes it starts later.)
func (d *delayLine) wireThread() (restore func()) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, wireNice); err != nil && d.log != nil {
		d.niceOnce.Do(func() { d.log.Warn("delay line runs at normal priority", "nice", wireNice, "err", err) })
	}
	return func() {
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 0); err != nil && d.log != nil {
			d.log.Warn("delay line thread keeps its priority", "err", err)
		}
		runtime.UnlockOSThread()
	}
}

// run forwards until ctx ends or the files are closed.
func (d *delayLine) run(ctx context.Context) error {
	q := make(chan delayed, delayQueue)
	wdone := make(chan error, 1)
	go func() {
		restore := d.wireThread()
		err := d.write(ctx, q)
		restore()
		wdone <- err
	}()
	restore := d.wireThread()
	err := d.read(q)
	restore()
	close(q)
	werr := <-wdone
	if errors.Is(err, os.ErrClosed) || ctx.Err() != nil {
		err = nil
	}
	if errors.Is(werr, os.ErrClosed) {
		werr = nil
	}
	return errors.Join(err, werr)
}

func (d *delayLine) read(q chan<- delayed) error {
	buf := make([]byte, 65536)
	for {
		n, err := d.in.Read(buf)
		if err != nil {
			return fmt.Errorf("read %s: %w", d.in.Name(), err)
		}
		d.stats.In.Add(int64(n))
		if d.loss > 0 && d.rng.Float64() < d.loss {
			d.stats.Lost.Add(1)
			continue
		}
		select {
		case q <- delayed{due: time.Now().Add(d.delay), b: append([]byte(nil), buf[:n]...)}:
		default:
			d.stats.Overflow.Add(1)
		}
	}
}

func (d *delayLine) write(ctx context.Context, q <-chan delayed) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for p := range q {
		if wait := time.Until(p.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return nil
			}
		}
		if _, err := d.out.Write(p.b); err != nil {
			// A packet the kernel refuses (for example while a device is
			// going down) is lost, as on a real link; a closed file ends
			// the line.
			if errors.Is(err, os.ErrClosed) {
				return err
			}
			continue
		}
		d.stats.Packets.Add(1)
		d.stats.Bytes.Add(int64(len(p.b)))
	}
	return nil
}

// tbfArgs returns the tc arguments that shape dev's egress to rateMbit with
// a queue that holds twice the bandwidth-delay product of the path (rtt is
// the round trip the lab adds), so that TCP can fill the link without the
// queue dropping everything.
func tbfArgs(ns, dev string, rateMbit float64, rtt time.Duration) []string {
	bytesPerSec := rateMbit * 1e6 / 8
	burst := max(32*1024, int64(bytesPerSec/100)) // 10 ms of traffic
	bdp := int64(bytesPerSec * rtt.Seconds())
	limit := max(2*bdp, 128*1024) + burst
	return []string{"-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", strconv.FormatInt(int64(rateMbit*1e6), 10) + "bit",
		"burst", strconv.FormatInt(burst, 10), "limit", strconv.FormatInt(limit, 10)}
}
