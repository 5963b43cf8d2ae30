package agentapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/shoal-project/shoal/central/deploy"
	"github.com/shoal-project/shoal/central/inventory"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto"
)

func toJobs(pend []deploy.AgentJob) []proto.Job {
	out := make([]proto.Job, 0, len(pend))
	for _, p := range pend {
		j := proto.Job{PackageID: p.Package.ID, Name: p.Package.Name, Priority: p.Package.Priority,
			Force: p.Deployment.Force, State: p.Deployment.State}
		if !p.InstallAfter.IsZero() {
			at := p.InstallAfter.UTC()
			j.InstallAfter = &at
		}
		out = append(out, j)
	}
	return out
}

// jobs answers the computer's job list as soon as it differs from the one
// the tag names, or when wait has passed. A held request re-reads the
// database when the waker says the computer's jobs may have changed (on
// any replica), and every PollInterval, or every livePollInterval while
// the waker's notifications arrive. Waiting deployments that are answered
// become notified.
func (a *API) jobs(c echo.Context) error {
	cl := callerOf(c)
	ctx := c.Request().Context()
	var wait time.Duration
	if v := c.QueryParam("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("wait must be a duration like 25s: %w", errBadRequest)
		}
		wait = min(d, a.cfg.MaxWait)
	}
	tag := c.QueryParam("tag")
	hold := c.QueryParam(proto.JobsHoldParam) == "1"
	start := a.now()
	if err := a.store.TouchAgent(ctx, cl.computer.ID, start); err != nil {
		a.log.Warn("touch agent", "computer", cl.computer.ID, "err", err)
	}
	deadline := start.Add(wait)
	// A site handed over to another tracker (a replica left or joined)
	// while the request is held answers at once, so the agent
	// re-announces there. (A hand-over between two requests reaches the
	// agent with its next answer.)
	tracker := a.trackerFor(cl.computer.SiteID)
	var woken <-chan struct{} // nil without a waker: poll only
	if wait > 0 {
		defer a.metrics.LongPoll()()
		if a.waker != nil {
			// Watch before the first read, so that no change falls
			// between a read and the wait.
			ch, stop := a.waker.WatchComputer(cl.computer.ID)
			defer stop()
			woken = ch
		}
	}
	wakeup := false // the last wait ended with a notification
	for i := 0; ; i++ {
		pend, err := a.deploy.Jobs(ctx, cl.computer.ID, a.now(), hold)
		if err != nil {
			return err
		}
		jobs := toJobs(pend)
		cur := proto.JobsTag(jobs)
		orders, err := a.claimWakes(ctx, cl.computer.SiteID, cl.computer.ID, fmt.Sprintf("agent %s (computer %d)", cl.computer.Name, cl.computer.ID))
		if err != nil {
			return err
		}
		answer := len(orders) > 0 || cur != tag || !a.now().Before(deadline) || a.trackerFor(cl.computer.SiteID) != tracker
		// A held request must notice a revocation, at the latest when it
		// answers (revocations wake every held request).
		if i > 0 && (answer || i%10 == 0 || wakeup) {
			comp, err := a.store.Computer(ctx, cl.computer.ID)
			if err != nil {
				return err
			}
			if comp.Revoked {
				return errRevoked
			}
		}
		if answer {
			var notify []uint
			for _, p := range pend {
				if p.Deployment.State == store.StateWaiting {
					notify = append(notify, p.Deployment.ID)
				}
			}
			if err := a.deploy.MarkNotified(ctx, notify, a.now()); err != nil {
				return err
			}
			site, err := a.siteInfo(ctx, cl.computer.SiteID)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, proto.JobsResponse{Jobs: jobs, Tag: cur, Site: site, Wake: orders})
		}
		if i == 0 {
			a.log.Debug("jobs poll held", "computer", cl.computer.ID, "wait", wait)
		}
		t := time.NewTimer(a.pollInterval())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-a.draining:
			t.Stop()
			return errDraining
		case <-woken:
			t.Stop()
			wakeup = true
			continue
		case <-t.C:
		}
		wakeup = false
	}
}

var validState = map[string]bool{proto.StateDownloading: true, proto.StateDownloaded: true, proto.StateRunning: true}

func (a *API) progress(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	var p proto.Progress
	if err := a.bindJSON(c, &p); err != nil {
		return err
	}
	if !validState[p.State] {
		return fmt.Errorf("state %q: want downloading, downloaded or running: %w", p.State, errBadRequest)
	}
	cl := callerOf(c)
	err = a.deploy.RecordProgress(c.Request().Context(), cl.computer.ID, id, store.Progress{
		State: p.State, FragmentsDone: p.FragmentsDone, FragmentsTotal: p.FragmentsTotal,
		BytesPeer: p.BytesPeer, BytesRelay: p.BytesRelay, BytesCentral: p.BytesCentral,
	}, a.now())
	if errors.Is(err, store.ErrInvalid) {
		// The state was checked above: the deployment is finished.
		return fmt.Errorf("progress of %s: %w", id, errFinished)
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

var codeRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

func (a *API) result(c echo.Context) error {
	id, err := pkgParam(c)
	if err != nil {
		return err
	}
	var r proto.Result
	if err := a.bindJSON(c, &r); err != nil {
		return err
	}
	if !codeRE.MatchString(r.Code) {
		return fmt.Errorf("code %q: want an OCS result code: %w", r.Code, errBadRequest)
	}
	detail := r.Detail
	if len(detail) > proto.MaxResultDetail {
		detail = "…" + detail[len(detail)-proto.MaxResultDetail:]
	}
	if r.ExitCode != nil && detail == "" {
		detail = fmt.Sprintf("exit code %d", *r.ExitCode)
	}
	cl := callerOf(c)
	if err := a.deploy.RecordResult(c.Request().Context(), deploy.Report{ComputerID: cl.computer.ID, PackageID: id, Code: r.Code, Detail: detail, AddHistory: true, At: a.now()}); err != nil {
		return err
	}
	a.log.Info("deployment result", "computer", cl.computer.ID, "device", cl.computer.DeviceID, "package", id, "code", r.Code, "exit_code", r.ExitCode)
	return c.NoContent(http.StatusNoContent)
}

func (a *API) inventory(c echo.Context) error {
	var inv proto.AgentInventory
	if err := a.bindJSON(c, &inv); err != nil {
		return err
	}
	cl := callerOf(c)
	ctx := c.Request().Context()
	snap, err := a.boundedSnapshot(&inv, cl.computer.DeviceID, cl.identity.Version, a.now())
	if err != nil {
		return err
	}
	// A Shoal agent's history only grows, and a result recorded while
	// this inventory was on its way must not be dropped: the store merges
	// in the same transaction.
	snap.KeepHistory = true
	if site := a.siteOf(ctx, c.RealIP()); site != nil {
		snap.Computer.SiteID = &site.ID
	}
	began := time.Now()
	res, err := inventory.Record(ctx, a.store, snap)
	if err != nil {
		return err
	}
	a.metrics.Ingest("shoal", time.Since(began))
	a.log.Info("inventory stored", "computer", res.ComputerID, "device", cl.computer.DeviceID, "softwares", len(snap.Softwares))
	return c.NoContent(http.StatusNoContent)
}

// livePollInterval is how often a held jobs request re-reads the database
// while change notifications arrive (the waker is live): the re-read is
// only a safety net then.
const livePollInterval = 5 * time.Second

// waker tells a held jobs request that its computer's job list may have
// changed (central/notify.Hub, across replicas).
type waker interface {
	WatchComputer(id uint) (<-chan struct{}, func())
	// WatchRelays is WatchComputer for relays' job lists.
	WatchRelays() (<-chan struct{}, func())
	// Live reports whether changes made by other replicas are notified;
	// while not, held requests poll every PollInterval.
	Live() bool
}

// revocations is told when the agent API revokes a computer, so that
// every replica learns of it.
type revocations interface {
	RevocationsChanged(ctx context.Context)
}

// wakeOrders hands out the Wake-on-LAN orders of a site (central/wake).
type wakeOrders interface {
	Claim(ctx context.Context, siteID *uint, exclude uint, sender string) ([]proto.WakeOrder, error)
}

// SetWake sets who hands out Wake-on-LAN orders to relays and agents;
// central calls it once before serving.
func (a *API) SetWake(w wakeOrders) { a.wake = w }

// claimWakes takes the wake orders of a site for a sender; an error is
// logged and leaves the orders for another sender.
func (a *API) claimWakes(ctx context.Context, siteID *uint, exclude uint, sender string) ([]proto.WakeOrder, error) {
	if a.wake == nil {
		return nil, nil
	}
	orders, err := a.wake.Claim(ctx, siteID, exclude, sender)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.log.Warn("wake orders", "sender", sender, "err", err)
		return nil, nil
	}
	return orders, nil
}

// SetWaker sets the source of job list change notifications and who is
// told of revocations; central calls it once before serving. Without it,
// held requests poll.
func (a *API) SetWaker(w waker, r revocations) { a.waker, a.revocations = w, r }

func (a *API) pollInterval() time.Duration {
	if a.waker != nil && a.waker.Live() {
		return max(a.cfg.PollInterval, livePollInterval)
	}
	return a.cfg.PollInterval
}
