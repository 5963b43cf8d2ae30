package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/shoal-project/shoal/internal/wol"
	"github.com/shoal-project/shoal/proto"
)

// Backoff bounds after failed calls to central.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// backoff returns the wait after n consecutive failures: doubling from
// minBackoff up to maxBackoff, with full jitter over its upper half.
func backoff(n int) time.Duration {
	d := minBackoff << min(n, 10)
	d = min(d, maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// controlLoop long-polls central for the relay's jobs and applies each
// answer: prefetch active packages, purge, adopt a renewed peer record.
// It never gives up on central; it returns when ctx ends, after the
// prefetches it started have stopped.
func (r *Relay) controlLoop(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	tag, fails := "", 0
	for ctx.Err() == nil {
		jobs, err := r.pollJobs(ctx, tag)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			r.recordError("relay jobs", err)
			if !sleep(ctx, backoff(fails)) {
				break
			}
			fails++
			continue
		}
		fails = 0
		tag = jobs.Tag
		r.applyJobs(ctx, jobs, &wg)
	}
	return nil
}

func (r *Relay) pollJobs(ctx context.Context, tag string) (*proto.RelayJobs, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PollWait+time.Minute)
	defer cancel()
	q := url.Values{"wait": {r.cfg.PollWait.String()}, "tag": {tag}}
	if !r.recordValid() {
		q.Set("renew", "1")
	}
	var jobs proto.RelayJobs
	if err := callJSON(ctx, r.central, http.MethodGet, r.enr.Server+proto.AgentAPIPath+"/relay/jobs?"+q.Encode(),
		r.enr.Secret, nil, &jobs); err != nil {
		return nil, err
	}
	return &jobs, nil
}

// applyJobs records which packages are active, purges, adopts a renewed
// peer record and starts a prefetch of every active package that has none
// under way. A prefetch that failed runs again on the next answer.
func (r *Relay) applyJobs(ctx context.Context, jobs *proto.RelayJobs, wg *sync.WaitGroup) {
	active := map[string]bool{}
	for _, p := range jobs.Packages {
		if p.Active && proto.IsPackageID(p.PackageID) {
			active[p.PackageID] = true
		}
	}
	r.mu.Lock()
	r.active = active
	r.mu.Unlock()
	for _, id := range jobs.Purge {
		if !proto.IsPackageID(id) {
			continue
		}
		if active[id] {
			r.log.Warn("purge of an active package ignored", "package", id)
			continue
		}
		if err := r.purge(id); err != nil {
			r.recordError("purge "+id, err)
		}
	}
	if jobs.PeerRecord != nil {
		r.adoptPeerRecord(*jobs.PeerRecord)
	}
	r.applySite(jobs.Site)
	r.sendWakes(ctx, jobs.Wake)
	for id := range active {
		r.mu.Lock()
		running := r.prefetching[id]
		r.prefetching[id] = true
		r.mu.Unlock()
		if running {
			continue
		}
		wg.Go(func() {
			defer func() {
				r.mu.Lock()
				delete(r.prefetching, id)
				r.mu.Unlock()
			}()
			r.prefetch(ctx, id)
		})
	}
}

// sendWakes sends the Wake-on-LAN magic packet of each order to the
// relay's LAN (internal/wol).
func (r *Relay) sendWakes(ctx context.Context, orders []proto.WakeOrder) {
	for _, o := range orders {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := wol.Send(sctx, o.MAC, o.Broadcast)
		cancel()
		if err != nil {
			r.recordError("wake "+o.MAC, err)
			continue
		}
		r.log.Info("wake-on-lan packet sent", "mac", o.MAC, "broadcast", o.Broadcast, "wake", o.ID)
	}
}

// recordValid reports whether the relay's peer record verifies with
// central's key: a record signed in an older format (before protocol
// version 2) does not, and the relay then asks central for a new one
// instead of waiting for the old one's renewal time.
func (r *Relay) recordValid() bool {
	r.mu.Lock()
	rec := r.enr.PeerRecord
	r.mu.Unlock()
	_, err := proto.VerifyPeerRecord(rec, r.enr.ManifestPublicKey, time.Now())
	return err == nil
}

// adoptPeerRecord checks a renewed peer record and saves it.
func (r *Relay) adoptPeerRecord(rec proto.SignedPeerRecord) {
	pr, err := proto.VerifyPeerRecord(rec, r.enr.ManifestPublicKey, time.Now())
	if err != nil {
		r.recordError("renewed peer record rejected", err)
		return
	}
	if pr.PeerID != r.enr.PeerID {
		r.recordError("renewed peer record rejected", fmt.Errorf("peer %s, want %s", pr.PeerID, r.enr.PeerID))
		return
	}
	r.mu.Lock() // r.enr's other fields never change; PeerRecord is guarded by r.mu.
	r.enr.PeerRecord = rec
	e := *r.enr
	r.mu.Unlock()
	if r.node != nil {
		if err := r.node.SetPeerRecord(rec); err != nil {
			r.recordError("renewed peer record refused by p2p", err)
		}
		r.signer.SetRecord(rec)
	}
	if err := e.save(r.cfg.DataDir); err != nil {
		r.recordError("save renewed peer record", err)
		return
	}
	r.log.Info("peer record renewed", "peer", pr.PeerID, "expires", pr.Expires)
}

// prefetch fetches every missing fragment of an active package, as many
// at a time as the fetch semaphore allows (the info file is built from the manifest when asked for). Verified fragments on
// disk are kept, so a prefetch cut by a crash resumes where it stopped.
func (r *Relay) prefetch(ctx context.Context, id string) {
	m, err := r.manifest(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			r.recordError("prefetch "+id, err)
		}
		return
	}
	if _, complete := r.cacheStatus(m); !complete {
		start := time.Now()
		r.log.Info("prefetch started", "package", id, "bytes", m.Size, "fragments", len(m.Fragments))
		if err := r.fetchAll(ctx, id, m.Fragments); err != nil {
			if ctx.Err() == nil {
				r.recordError("prefetch "+id, err)
			}
			return
		}
		r.log.Info("prefetch done", "package", id, "bytes", m.Size, "dur", time.Since(start).Round(time.Millisecond))
		r.kickReport()
	}
}

func (r *Relay) kickReport() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// reportLoop posts a report every ReportInterval and after each prefetch.
func (r *Relay) reportLoop(ctx context.Context) error {
	t := time.NewTicker(r.cfg.ReportInterval)
	defer t.Stop()
	for {
		err := r.sendReport(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.mu.Lock()
		r.reportErr = ""
		if err != nil {
			r.reportErr = err.Error()
		}
		r.mu.Unlock()
		if err != nil {
			r.log.Warn("relay report failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.kick:
		}
	}
}

func (r *Relay) sendReport(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep := r.Report()
	if err := callJSON(ctx, r.central, http.MethodPost, r.enr.Server+proto.AgentAPIPath+"/relay/report", r.enr.Secret, rep, nil); err != nil {
		return err
	}
	// Errors reach central once.
	r.mu.Lock()
	r.errs = r.errs[min(len(rep.Errors), len(r.errs)):]
	r.mu.Unlock()
	return nil
}

// Report builds the relay's report for central.
func (r *Relay) Report() proto.RelayReport {
	rep := proto.RelayReport{Version: r.cfg.Version, StartedAt: r.started.Unix(), DiskQuota: int64(r.cfg.Cache.QuotaBytes),
		WANRateBits: int64(r.wan.current()), Evictions: r.stats.evictions.Load()}
	for _, id := range r.packageIDs() {
		s := r.PackageStats(id)
		ps := proto.RelayPackageStats{PackageID: id, BytesUpstream: s.UpstreamBytes, BytesServed: s.ServedBytes,
			Hits: s.Hits, Misses: s.Misses, CorruptUpstream: s.Corrupt}
		if m, ok := r.cachedManifest(id); ok {
			ps.CachedBytes, ps.Complete = r.cacheStatus(m)
		}
		rep.Packages = append(rep.Packages, ps)
	}
	rep.P2PAddrs, rep.P2PServed = r.p2pAddrs(), r.p2pServed.Load()
	r.mu.Lock()
	rep.DiskUsed = r.used
	rep.Errors = append([]string(nil), r.errs...)
	r.mu.Unlock()
	return rep
}
