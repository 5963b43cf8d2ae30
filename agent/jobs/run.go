package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-project/shoal/agent/client"
	"github.com/shoal-project/shoal/agent/fetch"
	"github.com/shoal-project/shoal/agent/install"
	"github.com/shoal-project/shoal/proto"
	"github.com/shoal-project/shoal/proto/ocs"
)

// result builds a final result and records it in the history.
func (m *Manager) result(pkg, code string, exit *int, detail string) *proto.Result {
	if len(detail) > proto.MaxResultDetail {
		detail = detail[len(detail)-proto.MaxResultDetail:]
	}
	r := proto.Result{Code: code, ExitCode: exit, Detail: detail}
	t0 := time.Now()
	if err := m.hist.record(pkg, r, m.now()); err != nil {
		m.log.Error("record history", "package", pkg, "err", err)
	}
	m.log.Debug("history recorded", "package", pkg, "dur", time.Since(t0))
	return &r
}

// runJob runs one job: manifest, space check, fetch, fragment check,
// install. It returns a result when the job is over, or an error when it
// must run again later (preempted, cancelled, transient failure).
func (m *Manager) runJob(ctx context.Context, r *running, j proto.Job) (*proto.Result, *proto.Manifest, error) {
	pkg := j.PackageID
	log := m.log.With("package", pkg)
	raw, err := m.deps.Central.Manifest(ctx, pkg)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, context.Cause(ctx)
		}
		return nil, nil, fmt.Errorf("get manifest: %w", err)
	}
	man, err := proto.VerifyManifest(raw, m.deps.ManifestKey, pkg)
	switch {
	case errors.Is(err, proto.ErrBadSignature):
		log.Error("manifest refused", "err", err)
		return m.result(pkg, proto.ResultErrBadSignature, nil, "manifest refused: "+err.Error()), nil, nil
	case err != nil:
		log.Error("manifest refused", "err", err)
		return m.result(pkg, proto.ResultErrBadManifest, nil, "manifest refused: "+err.Error()), nil, nil
	case man.Platform != platform:
		return m.result(pkg, ocs.ResultErrBadParam, nil, "package platform is "+man.Platform+", this agent runs "+osName), man, nil
	}

	missing, err := m.deps.Fetcher.Missing(man)
	if err != nil {
		return nil, man, err
	}
	var need int64
	for _, f := range missing {
		need += f.Size
	}
	need += man.Size + m.cfg.SpaceMargin // Unpacking needs about the size again.
	if free, err := m.deps.Store.Free(); err == nil && free < need {
		return m.result(pkg, ocs.ResultErrOutOfSpace, nil,
			fmt.Sprintf("need %d bytes free in %s for the download and its unpacking, %d available", need, m.deps.Store.Dir(), free)), man, nil
	}

	var st fetch.Stats
	st.Total.Store(int64(len(man.Fragments)))
	st.Done.Store(int64(len(man.Fragments) - len(missing)))
	stopProgress := m.reportProgress(ctx, r, pkg, &st)
	work := filepath.Join(m.deps.StateDir, "work", pkg)
	// The package unpacks while it downloads when it installs right after.
	var early *earlyUnpack
	if inst, ok := m.deps.Installer.(earlyInstaller); ok && (j.InstallAfter == nil || !m.now().Before(*j.InstallAfter)) {
		early = m.startEarlyUnpack(ctx, inst, man, &st, work)
		// Every way out stops the unpack and removes what it unpacked
		// (after an install, the work directory is gone already).
		defer early.stop()
	}
	start := time.Now()
	err = m.deps.Fetcher.Fetch(ctx, man, &st)
	stopProgress()
	switch {
	case ctx.Err() != nil:
		return nil, man, context.Cause(ctx)
	case errors.Is(err, syscall.ENOSPC):
		return m.result(pkg, ocs.ResultErrOutOfSpace, nil, "disk full while downloading: "+err.Error()), man, nil
	case err != nil:
		return nil, man, fmt.Errorf("fetch (%s): %w", st.Summary(), err)
	}
	dur := time.Since(start)
	summary := st.Summary()
	log.Info("downloaded", "fragments", len(man.Fragments), "bytes_peer", st.BytesPeer.Load(), "bytes_relay", st.BytesRelay.Load(),
		"bytes_central", st.BytesCentral.Load(), "bad_fragments", st.BadFragments.Load(), "bad_peers", st.BadPeers.Load(),
		"dur", dur.Round(time.Millisecond), "summary", summary)

	// The report crosses the WAN while the fragments are checked, and its
	// answer says whether central cancelled the deployment meanwhile. A
	// package that installs now goes straight to "running"; "downloaded"
	// is for one held until its install window. (Reporting "downloaded"
	// and then "running" put two WAN round trips, 0.13–0.35 s each as a
	// lab branch's 20 agents finished together, between the branch's last
	// fragment and its results: docs/LAB.md.)
	held := j.InstallAfter != nil && m.now().Before(*j.InstallAfter)
	state := proto.StateRunning
	if held {
		state = proto.StateDownloaded
	}
	reported := make(chan error, 1)
	go func() { reported <- m.progress(ctx, pkg, state, &st) }()
	// No whole-file digest: every fragment is checked here against its CID
	// from the signed manifest (the store remembers the fragments it
	// verified itself, so this costs nothing after a fetch, and rehashes
	// any other), and the validated manifest's fragments cover the file
	// exactly, so the whole file is the one whose SHA-256 central signed.
	// Hashing 48 MiB again cost every agent of a branch 0.5–1 s of CPU at
	// the same moment (docs/LAB.md, docs/SECURITY.md).
	t0 := time.Now()
	bad, err := m.checkFragments(ctx, man)
	log.Debug("fragments checked", "dur", time.Since(t0))
	if errors.Is(<-reported, client.ErrFinished) {
		return nil, man, errCancelled
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, man, context.Cause(ctx)
		}
		return nil, man, fmt.Errorf("check fragments: %w", err)
	}
	if bad != nil {
		// Only a fetcher that stored an unverified fragment, or a store
		// changed under the agent, gets here; the bad file is gone.
		return nil, man, fmt.Errorf("fragment %d (%s) failed its check after the download", bad.Index, bad.CID)
	}
	if held {
		return nil, man, errHeld
	}
	payload := m.deps.Store.NewReader(man.Fragments, man.Size)
	defer payload.Close()

	if !r.beginInstall(ctx) {
		return nil, man, context.Cause(ctx)
	}
	var out install.Outcome
	if early != nil {
		var o *install.Outcome
		if o, err = early.wait(ctx); o != nil {
			out = *o
		} else if err == nil {
			out, err = early.inst.Act(ctx, man, work)
		}
	} else {
		out, err = m.deps.Installer.Install(ctx, man, payload, work)
	}
	r.discarded = m.discardWork(log, work)
	if err != nil {
		return nil, man, err
	}
	return m.result(pkg, out.Code, out.ExitCode, downloadDetail(summary, out.Detail)), man, nil
}

// checkFragments checks every fragment of man in the store against its
// CID and size; it returns the first one missing or wrong (which the store
// deletes) or nil.
func (m *Manager) checkFragments(ctx context.Context, man *proto.Manifest) (*proto.Fragment, error) {
	for i := range man.Fragments {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f := &man.Fragments[i]
		ok, err := m.deps.Store.Check(f.CID, f.Size)
		if err != nil {
			return nil, err
		}
		if !ok {
			return f, nil
		}
	}
	return nil, nil
}

// downloadDetail puts the download summary (bytes by source, fallbacks,
// dropped peers) in front of a result's detail; when the whole is too
// long, the front of detail (the oldest command output) is cut.
func downloadDetail(summary, detail string) string {
	head := "download: " + summary
	if len(head) > proto.MaxResultDetail/2 {
		head = head[:proto.MaxResultDetail/2]
	}
	if detail == "" {
		return head
	}
	if room := proto.MaxResultDetail - len(head) - 1; len(detail) > room {
		detail = detail[len(detail)-room:]
	}
	return head + "\n" + detail
}

// progress sends one progress report in state (a proto.State* value).
func (m *Manager) progress(ctx context.Context, pkg, state string, st *fetch.Stats) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	start := time.Now()
	err := m.deps.Reporter.Progress(ctx, pkg, proto.Progress{
		State: state, FragmentsDone: int(st.Done.Load()), FragmentsTotal: int(st.Total.Load()),
		BytesPeer: st.BytesPeer.Load(), BytesRelay: st.BytesRelay.Load(), BytesCentral: st.BytesCentral.Load(),
	})
	m.log.Debug("progress reported", "package", pkg, "state", state, "dur", time.Since(start).Round(time.Millisecond), "err", err)
	return err
}

// reportProgress reports "downloading" now and every ProgressInterval until
// the returned stop is called. Central answering that the deployment is
// finished stops the run.
func (m *Manager) reportProgress(ctx context.Context, r *running, pkg string, st *fetch.Stats) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(m.cfg.ProgressInterval)
		defer t.Stop()
		for {
			err := m.progress(ctx, pkg, proto.StateDownloading, st)
			if errors.Is(err, client.ErrFinished) {
				m.log.Info("central says the deployment is over", "package", pkg)
				r.stop(errCancelled)
				return
			}
			if err != nil && ctx.Err() == nil {
				m.log.Warn("report progress", "package", pkg, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// discardDir holds the work directories of finished installs until they
// are removed. Package IDs are digits, so no package's work directory has
// its name.
func (m *Manager) discardDir() string { return filepath.Join(m.deps.StateDir, "work", ".discarded") }

// discardWork moves a finished install's work directory out of the way and
// returns where it went, for the run to remove once its result is handed
// over: removing a large unpacked package takes a while (0.1-0.5 s for
// 64 MiB when a lab branch's agents finished together, docs/LAB.md), and
// the admin waits for the outcome, not for the cleanup. A directory that
// cannot be moved is removed here; "" means nothing is left to remove.
func (m *Manager) discardWork(log *slog.Logger, work string) string {
	to := filepath.Join(m.discardDir(), fmt.Sprintf("%s-%d", filepath.Base(work), time.Now().UnixNano()))
	err := os.MkdirAll(m.discardDir(), 0o700)
	if err == nil {
		if err = os.Rename(work, to); err == nil {
			return to
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	log.Debug("work directory not moved; removing it now", "err", err)
	if err := m.removeDir(work); err != nil {
		log.Warn("remove work dir", "err", err)
	}
	return ""
}
