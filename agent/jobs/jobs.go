// Package jobs is the agent's deployment engine: it long-polls central for
// the computer's job list, runs one deployment at a time in priority order
// (lower number first), and reports progress and results.
//
// # Ownership
//
// One event loop (Manager.loop) owns the job table, the running job and
// the persisted queue (jobs.json). Everything else talks to it over
// channels: the poller delivers job lists, the runner goroutine delivers
// outcomes, reporter goroutines deliver report acknowledgements. The local
// history (history.json) has its own mutex because the runner writes it
// the moment an install ends, before anything else can go wrong.
//
// # Life of a job
//
//	queued --start--> fetching --(verified)--> installing --> result
//	   ^                  |                                     |
//	   +--preempted/retry-+                        reported, then forgotten
//
// A job with a lower priority number arriving while another is fetching
// preempts it: the fetch is cancelled, its verified fragments stay in the
// fragment store, and it resumes from them later. Installs are never
// preempted. A job central stops listing (cancelled) is dropped unless it
// is installing. Transient failures (central unreachable, fragments
// failing) are retried with backoff up to Config.MaxAttempts, then
// reported as ERR_DOWNLOAD_PACK.
//
// # Long poll
//
// GET /jobs?tag=T&wait=25s answers as soon as the list differs from the one
// T names. The tag the agent sends back is computed from the jobs it
// accepted, so a job it set aside (one it reported a moment before the list
// was computed) makes central answer again at once with a fresh list.
package jobs

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/install"
	"github.com/shoal-project/shoal/internal/fragstore"
	"github.com/shoal-project/shoal/internal/statefile"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// Config tunes the job engine.
type Config struct {
	// LongPoll is how long central may hold a jobs request (default 25s).
	LongPoll time.Duration `yaml:"long_poll"`
	// ProgressInterval is the period of progress reports (default 2s).
	ProgressInterval time.Duration `yaml:"progress_interval"`
	// MaxAttempts bounds the tries of a job that fails transiently
	// (default 8).
	MaxAttempts int `yaml:"max_attempts"`
	// CacheBytes caps the fragment store after installs (default 2 GiB);
	// older fragments of finished packages are evicted first.
	CacheBytes int64 `yaml:"cache_bytes"`
	// SpaceMargin is kept free on the state disk (default 64 MiB).
	SpaceMargin int64 `yaml:"space_margin"`
}

func (c Config) withDefaults() Config {
	if c.LongPoll == 0 {
		c.LongPoll = 25 * time.Second
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 2 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = 2 << 30
	}
	if c.SpaceMargin == 0 {
		c.SpaceMargin = 64 << 20
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.LongPoll < time.Second || c.LongPoll > 5*time.Minute:
		return fmt.Errorf("jobs: long_poll %s: want 1s..5m", c.LongPoll)
	case c.ProgressInterval < 100*time.Millisecond:
		return fmt.Errorf("jobs: progress_interval %s: want at least 100ms", c.ProgressInterval)
	case c.MaxAttempts < 1:
		return fmt.Errorf("jobs: max_attempts %d: want at least 1", c.MaxAttempts)
	case c.CacheBytes < 0 || c.SpaceMargin < 0:
		return fmt.Errorf("jobs: cache_bytes and space_margin must not be negative")
	}
	return nil
}

// Consumer-side views of the agent API client.
type (
	jobSource interface {
		Jobs(ctx context.Context, tag string, wait time.Duration) (*proto.JobsResponse, error)
		Manifest(ctx context.Context, pkg string) ([]byte, error)
	}
	reporter interface {
		Progress(ctx context.Context, pkg string, p proto.Progress) error
		Result(ctx context.Context, pkg string, r proto.Result) error
	}
	fetcher interface {
		Missing(m *proto.Manifest) ([]proto.Fragment, error)
		Fetch(ctx context.Context, m *proto.Manifest, st *fetch.Stats) error
	}
	installer interface {
		Install(ctx context.Context, m *proto.Manifest, payload io.ReaderAt, workDir string) (install.Outcome, error)
	}
)

// Deps are what the engine works with.
type Deps struct {
	Central   jobSource
	Reporter  reporter
	Fetcher   fetcher
	Installer installer
	Store     *fragstore.Store
	// ManifestKey is central's manifest key, pinned at enrollment.
	ManifestKey ed25519.PublicKey
	// StateDir holds jobs.json, history.json and the work directories.
	StateDir string
	// OnInstalled is called after every install (the inventory changed).
	OnInstalled func()
	// OnSite, when set, receives the site description of every job list
	// (nil when the agent has no site): relays, tracker, gossip key.
	OnSite func(*proto.SiteInfo)
}

// Errors that end a run without a result.
var (
	errPreempted = errors.New("preempted by a higher-priority package")
	errCancelled = errors.New("deployment cancelled by central")
	// errHeld: downloaded and checked, but the deployment's window is
	// closed (Job.InstallAfter); the install waits for it.
	errHeld = errors.New("install held until the deployment window opens")
)

// job is one entry of the job table.
type job struct {
	proto.Job
	AcceptedAt time.Time     `json:"accepted_at"`
	Attempts   int           `json:"attempts,omitempty"`
	Result     *proto.Result `json:"result,omitempty"`
	NotBefore  time.Time     `json:"not_before,omitzero"`
	// held: downloaded, waiting for InstallAfter (NotBefore is it).
	Held      bool `json:"held,omitempty"`
	reporting bool
	manifest  *proto.Manifest
}

// running is the job being fetched or installed.
type running struct {
	pkg      string
	priority int
	cancel   context.CancelCauseFunc

	mu         sync.Mutex // guards installing
	installing bool
	// discarded is the work directory to remove once the result is
	// handed to the loop (see Manager.discardWork); set by the run's
	// goroutine, which removes it.
	discarded string
}

// stop cancels the run with cause unless it is installing.
func (r *running) stop(cause error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.installing {
		return false
	}
	r.cancel(cause)
	return true
}

// beginInstall marks the run as installing, unless it was stopped.
func (r *running) beginInstall(ctx context.Context) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	r.installing = true
	return true
}

// Manager runs the agent's deployments.
type Manager struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	hist *history
	now  func() time.Time
	// removeDir removes a discarded work directory (os.RemoveAll; tests
	// hold it back).
	removeDir func(string) error

	// Owned by loop.
	jobs         map[string]*job
	cur          *running
	lastReported map[string]time.Time
}

// New returns a Manager; it loads the local history.
func New(cfg Config, deps Deps, logger *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h, err := loadHistory(deps.StateDir)
	if err != nil {
		return nil, err
	}
	return &Manager{cfg: cfg.withDefaults(), deps: deps, log: logger.With("component", "jobs"), hist: h, now: time.Now,
		removeDir: os.RemoveAll, jobs: map[string]*job{}, lastReported: map[string]time.Time{}}, nil
}

// Installed lists the packages installed successfully on this computer.
func (m *Manager) Installed() []string { return m.hist.installed() }

// Run polls central and runs jobs until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	polls := make(chan pollResult)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.poll(gctx, polls) })
	g.Go(func() error { return m.loop(gctx, polls) })
	return g.Wait()
}

type pollResult struct {
	jobs   []proto.Job
	sentAt time.Time
	reply  chan<- string
}

type runDone struct {
	pkg      string
	result   *proto.Result
	manifest *proto.Manifest
	err      error
}

type reportDone struct {
	pkg string
	err error
	at  time.Time
}

func (m *Manager) statePath() string { return filepath.Join(m.deps.StateDir, "jobs.json") }

func (m *Manager) load() error {
	var saved []*job
	if _, err := statefile.Read(m.statePath(), &saved); err != nil {
		return err
	}
	for _, j := range saved {
		if !proto.IsPackageID(j.PackageID) {
			continue
		}
		// An install that ended just before a crash is in the history.
		if e, ok := m.hist.get(j.PackageID); ok && j.Result == nil && e.At.After(j.AcceptedAt) {
			j.Result = &proto.Result{Code: e.Code, ExitCode: e.ExitCode, Detail: "outcome recorded before the agent restarted"}
		}
		m.jobs[j.PackageID] = j
	}
	if len(saved) > 0 {
		m.log.Info("resuming jobs", "count", len(saved))
	}
	return nil
}

func (m *Manager) save() {
	list := make([]*job, 0, len(m.jobs))
	for _, j := range m.jobs {
		list = append(list, j)
	}
	if err := statefile.Write(m.statePath(), list, 0o600); err != nil {
		m.log.Error("save jobs", "err", err)
	}
}

// loop is the event loop that owns the job table.
func (m *Manager) loop(ctx context.Context, polls <-chan pollResult) error {
	if err := m.load(); err != nil {
		return err
	}
	// Work directories a previous run discarded but did not remove (it
	// stopped first).
	if err := m.removeDir(m.discardDir()); err != nil {
		m.log.Warn("remove discarded work directories", "err", err)
	}
	done := make(chan runDone, 1)
	reported := make(chan reportDone, 64)
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		m.startReports(ctx, reported, &wg)
		m.maybeStart(ctx, done, &wg)
		timer.Reset(m.nextWake())
		select {
		case <-ctx.Done():
			if m.cur != nil {
				m.cur.cancel(ctx.Err())
			}
			wg.Wait()
			m.save()
			return nil
		case p := <-polls:
			p.reply <- m.reconcile(p)
		case d := <-done:
			m.finishRun(d)
		case r := <-reported:
			m.finishReport(r)
		case <-timer.C:
		}
	}
}

// nextWake returns when the loop must look again at jobs waiting for
// their backoff to pass.
func (m *Manager) nextWake() time.Duration {
	next := time.Hour
	now := m.now()
	for _, j := range m.jobs {
		if !j.NotBefore.IsZero() && j.NotBefore.After(now) {
			next = min(next, j.NotBefore.Sub(now))
		}
	}
	return max(next, 10*time.Millisecond)
}

// reconcile merges central's list into the job table and returns the tag
// of the jobs accepted.
func (m *Manager) reconcile(p pollResult) string {
	seen := map[string]bool{}
	var accepted []proto.Job
	now := m.now()
	for _, sj := range p.jobs {
		if !proto.IsPackageID(sj.PackageID) {
			continue
		}
		if at, ok := m.lastReported[sj.PackageID]; ok && at.After(p.sentAt) {
			continue // Listed before central had our result.
		}
		accepted = append(accepted, sj)
		seen[sj.PackageID] = true
		j, ok := m.jobs[sj.PackageID]
		if !ok {
			j = &job{Job: sj, AcceptedAt: now}
			if e, ok := m.hist.get(sj.PackageID); ok && e.Success && !sj.Force {
				j.Result = &proto.Result{Code: proto.ResultSuccessAlreadyInstalled,
					Detail: fmt.Sprintf("already installed on %s (%s); not forced", e.At.Format(time.RFC3339), e.Code)}
			}
			m.jobs[sj.PackageID] = j
			m.log.Info("job received", "package", sj.PackageID, "priority", sj.Priority, "force", sj.Force)
			continue
		}
		j.Priority, j.Name = sj.Priority, sj.Name
		j.Force = j.Force || sj.Force
		if j.Held && (sj.InstallAfter == nil || !sj.InstallAfter.Equal(*j.InstallAfter)) {
			// The window opened (or moved): look again now.
			j.Held, j.NotBefore = false, time.Time{}
		}
		j.InstallAfter = sj.InstallAfter
	}
	for pkg, j := range m.jobs {
		if seen[pkg] || j.Result != nil {
			continue
		}
		if m.cur != nil && m.cur.pkg == pkg {
			if m.cur.stop(errCancelled) {
				m.log.Info("stopping job central no longer lists", "package", pkg)
			}
			continue
		}
		m.log.Info("dropping job central no longer lists", "package", pkg)
		delete(m.jobs, pkg)
	}
	m.preempt()
	m.save()
	return proto.JobsTag(accepted)
}

// next returns the queued job to run now: lowest priority number, then
// lowest package ID.
func (m *Manager) next() *job {
	var best *job
	now := m.now()
	for _, j := range m.jobs {
		if j.Result != nil || j.NotBefore.After(now) {
			continue
		}
		if best == nil || cmp.Or(cmp.Compare(j.Priority, best.Priority), cmp.Compare(j.PackageID, best.PackageID)) < 0 {
			best = j
		}
	}
	return best
}

func (m *Manager) preempt() {
	if m.cur == nil {
		return
	}
	if n := m.next(); n != nil && n.PackageID != m.cur.pkg && n.Priority < m.cur.priority {
		if m.cur.stop(errPreempted) {
			m.log.Info("pausing download for a higher-priority package", "package", m.cur.pkg, "for", n.PackageID)
		}
	}
}

func (m *Manager) maybeStart(ctx context.Context, done chan<- runDone, wg *sync.WaitGroup) {
	if m.cur != nil || ctx.Err() != nil {
		return
	}
	j := m.next()
	if j == nil {
		return
	}
	rctx, cancel := context.WithCancelCause(ctx)
	r := &running{pkg: j.PackageID, priority: j.Priority, cancel: cancel}
	m.cur = r
	pj := j.Job
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer cancel(nil)
		res, man, err := m.runJob(rctx, r, pj)
		done <- runDone{pkg: pj.PackageID, result: res, manifest: man, err: err}
		// The result is on its way; now the work directory goes.
		if r.discarded != "" {
			t0 := time.Now()
			if err := m.removeDir(r.discarded); err != nil {
				m.log.Warn("remove work dir", "package", pj.PackageID, "err", err)
			}
			m.log.Debug("work directory removed", "package", pj.PackageID, "dur", time.Since(t0))
		}
	}()
}

func (m *Manager) finishRun(d runDone) {
	m.cur = nil
	j, ok := m.jobs[d.pkg]
	if !ok {
		return
	}
	if d.manifest != nil {
		j.manifest = d.manifest
	}
	switch {
	case d.result != nil:
		j.Result = d.result
		if d.result.Code == ocs.ResultSuccess {
			m.log.Info("job finished", "package", d.pkg, "code", d.result.Code)
		} else {
			m.log.Warn("job finished", "package", d.pkg, "code", d.result.Code, "detail", d.result.Detail)
		}
		m.evict()
		if m.deps.OnInstalled != nil {
			m.deps.OnInstalled()
		}
	case errors.Is(d.err, errPreempted):
	case errors.Is(d.err, errHeld):
		// The fragments stay in the store (the job is unfinished); the
		// install runs once the window opens or central lifts the hold.
		if j.InstallAfter != nil {
			j.Held, j.NotBefore = true, *j.InstallAfter
			m.log.Info("downloaded; install held until the deployment window opens", "package", d.pkg, "until", j.InstallAfter.Format(time.RFC3339))
		}
	case errors.Is(d.err, errCancelled):
		delete(m.jobs, d.pkg)
	case errors.Is(d.err, context.Canceled):
		return // Shutting down.
	default:
		j.Attempts++
		if j.Attempts >= m.cfg.MaxAttempts {
			res := proto.Result{Code: ocs.ResultErrDownloadPack, Detail: fmt.Sprintf("gave up after %d attempts: ", j.Attempts) + d.err.Error()}
			if err := m.hist.record(d.pkg, res, m.now()); err != nil {
				m.log.Error("record history", "package", d.pkg, "err", err)
			}
			j.Result = &res
			m.log.Error("job failed", "package", d.pkg, "attempts", j.Attempts, "err", d.err)
			break
		}
		delay := min(time.Duration(1<<min(j.Attempts, 6))*time.Second, time.Minute)
		j.NotBefore = m.now().Add(delay)
		m.log.Warn("job failed, will retry", "package", d.pkg, "attempt", j.Attempts, "in", delay, "err", d.err)
	}
	m.save()
}

// evict trims the fragment cache, keeping the fragments of unfinished jobs.
func (m *Manager) evict() {
	keep := map[string]bool{}
	for _, j := range m.jobs {
		if j.Result == nil && j.manifest != nil {
			for _, f := range j.manifest.Fragments {
				keep[f.CID] = true
			}
		}
	}
	if n, err := m.deps.Store.Evict(m.cfg.CacheBytes, func(id string) bool { return keep[id] }); err != nil {
		m.log.Warn("evict fragments", "err", err)
	} else if n > 0 {
		m.log.Info("evicted fragments", "count", n)
	}
}

// startReports sends the results not reported yet.
func (m *Manager) startReports(ctx context.Context, out chan<- reportDone, wg *sync.WaitGroup) {
	now := m.now()
	for pkg, j := range m.jobs {
		if j.Result == nil || j.reporting || (m.cur != nil && m.cur.pkg == pkg) || j.NotBefore.After(now) {
			continue
		}
		j.reporting = true
		res := *j.Result
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			err := m.deps.Reporter.Result(rctx, pkg, res)
			select {
			case out <- reportDone{pkg: pkg, err: err, at: m.now()}:
			case <-ctx.Done():
			}
		}()
	}
}

func (m *Manager) finishReport(r reportDone) {
	j, ok := m.jobs[r.pkg]
	if !ok {
		return
	}
	j.reporting = false
	if r.err != nil && !errors.Is(r.err, client.ErrNotFound) {
		j.Attempts++
		j.NotBefore = m.now().Add(min(time.Duration(1<<min(j.Attempts, 6))*time.Second, time.Minute))
		m.log.Warn("report result", "package", r.pkg, "err", r.err)
		return
	}
	m.log.Info("result reported", "package", r.pkg, "code", j.Result.Code)
	m.lastReported[r.pkg] = r.at
	delete(m.jobs, r.pkg)
	m.save()
}
