package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LinkBytes are a device's byte counters.
type LinkBytes struct {
	RX int64 `json:"rx"`
	TX int64 `json:"tx"`
}

// Sub returns l − o.
func (l LinkBytes) Sub(o LinkBytes) LinkBytes { return LinkBytes{RX: l.RX - o.RX, TX: l.TX - o.TX} }

// parseLinkStats decodes `ip -s -j link show dev X`.
func parseLinkStats(b []byte) (LinkBytes, error) {
	var links []struct {
		Stats64 struct {
			RX struct {
				Bytes int64 `json:"bytes"`
			} `json:"rx"`
			TX struct {
				Bytes int64 `json:"bytes"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(b, &links); err != nil {
		return LinkBytes{}, fmt.Errorf("decode link stats: %w", err)
	}
	if len(links) != 1 {
		return LinkBytes{}, fmt.Errorf("link stats: %d links, want 1", len(links))
	}
	return LinkBytes{RX: links[0].Stats64.RX.Bytes, TX: links[0].Stats64.TX.Bytes}, nil
}

// UplinkBytes reads the counters of branch br's uplink at the WAN side: TX
// went to the branch, RX came from it.
func (t *Topology) UplinkBytes(ctx context.Context, br *Branch) (LinkBytes, error) {
	out, err := command(ctx, "ip", "-n", t.WAN, "-s", "-j", "link", "show", "dev", br.Uplink)
	if err != nil {
		return LinkBytes{}, err
	}
	return parseLinkStats(out)
}

// DownBytes returns, in branch order, the bytes each uplink's shaper let
// through towards the branch so far (the WAN-side device's tx bytes, from
// the delay line's counter: no command runs, so it can be read often).
func (t *Topology) DownBytes() []int64 {
	out := make([]int64, len(t.Branches))
	for i, br := range t.Branches {
		if br.down != nil {
			out[i] = br.down.stats.In.Load()
		}
	}
	return out
}

// AllUplinks reads every branch's uplink counters, in branch order.
func (t *Topology) AllUplinks(ctx context.Context) ([]LinkBytes, error) {
	out := make([]LinkBytes, len(t.Branches))
	for i, br := range t.Branches {
		var err error
		if out[i], err = t.UplinkBytes(ctx, br); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ProcStat is a process's CPU time and memory.
type ProcStat struct {
	CPUSeconds float64
	RSSKB      int64
	HWMKB      int64 // peak RSS
}

// readProcStat reads /proc/<pid>/stat and status.
func readProcStat(pid int) (ProcStat, error) {
	var ps ProcStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	ps.CPUSeconds, err = parseStatCPU(b)
	if err != nil {
		return ps, err
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, fmt.Errorf("read status of %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			ps.RSSKB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			ps.HWMKB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return ps, nil
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc.
const clockTicks = 100

// parseStatCPU returns utime+stime in seconds from /proc/<pid>/stat.
func parseStatCPU(b []byte) (float64, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("malformed /proc stat %q", s)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat %q", s)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad cpu times in /proc stat %q", s)
	}
	return float64(ut+st) / clockTicks, nil
}

// nsInode returns the inode that identifies named namespace ns.
func nsInode(ns string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns), &st); err != nil {
		return 0, fmt.Errorf("stat netns %s: %w", ns, err)
	}
	return st.Ino, nil
}

// procSampler follows the processes of a set of namespaces over time:
// the CPU each consumed since the sampler was created (or since it
// started) and its peak RSS. It is used by one goroutine at a time.
type procSampler struct {
	inodes map[uint64]bool
	base   map[int]float64 // CPU of the processes already running at creation
	cpu    map[int]float64 // last CPU seen
	peak   map[int]int64
}

// newProcSampler follows the processes of spaces from now on.
func newProcSampler(spaces []string) (*procSampler, error) {
	s := &procSampler{inodes: map[uint64]bool{}, cpu: map[int]float64{}, peak: map[int]int64{}}
	for _, ns := range spaces {
		ino, err := nsInode(ns)
		if err != nil {
			return nil, err
		}
		s.inodes[ino] = true
	}
	s.sample()
	s.base, s.cpu = s.cpu, map[int]float64{}
	return s, nil
}

// sample scans /proc once.
func (s *procSampler) sample() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue
		}
		ino, ok := parseNSLink(link)
		if !ok || !s.inodes[ino] {
			continue
		}
		ps, err := readProcStat(pid)
		if err != nil {
			continue
		}
		s.cpu[pid] = ps.CPUSeconds
		s.peak[pid] = max(s.peak[pid], ps.RSSKB)
	}
}

// totals returns the CPU seconds of every process seen and the largest RSS
// any single one had.
func (s *procSampler) totals() (cpu float64, peakKB int64, procs int) {
	for pid, c := range s.cpu {
		cpu += c - s.base[pid]
		peakKB = max(peakKB, s.peak[pid])
	}
	return cpu, peakKB, len(s.cpu)
}

// parseNSLink parses "net:[4026532281]".
func parseNSLink(s string) (uint64, bool) {
	rest, ok := strings.CutPrefix(s, "net:[")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	return n, err == nil
}
