package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"
)

// errReenrolled ends one run of the agent's parts when the state directory
// was enrolled again under it (shoal-agent enroll -force): Run then builds
// the parts again from the new enrollment, whose secret central now expects.
var errReenrolled = errors.New("agent: state directory enrolled again")

// enrollmentPoll is how often a running agent looks at enrollment.json.
const enrollmentPoll = 2 * time.Second

// sameEnrollment reports whether b is the enrollment a under which the
// agent runs: the renewal of the peer record rewrites the file without
// changing these.
func sameEnrollment(a, b *enrollment) bool {
	return a.Server == b.Server && a.ComputerID == b.ComputerID && a.DeviceID == b.DeviceID &&
		a.Secret == b.Secret && a.ManifestKeyID == b.ManifestKeyID && a.PeerID == b.PeerID
}

// watchEnrollment returns errReenrolled once enrollment.json holds another
// enrollment than cur, and nil when ctx ends. A file that cannot be read
// (being replaced, removed) is logged once and looked at again.
func (a *Agent) watchEnrollment(ctx context.Context, cur enrollment) error {
	path := filepath.Join(a.cfg.StateDir, enrollmentFile)
	last, _ := os.Stat(path)
	t := time.NewTicker(enrollmentPoll)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err == nil && last != nil && os.SameFile(fi, last) && fi.ModTime().Equal(last.ModTime()) && fi.Size() == last.Size() {
			continue
		}
		enr, err := loadEnrollment(a.cfg.StateDir)
		if err != nil {
			if !warned {
				a.log.Warn("enrollment file changed and cannot be loaded; running on with the enrollment loaded before", "err", err)
				warned = true
			}
			continue
		}
		last, warned = fi, false
		if !sameEnrollment(&cur, enr) {
			a.log.Info("state directory enrolled again; restarting with the new enrollment",
				"computer", enr.ComputerID, "device", enr.DeviceID, "server", enr.Server)
			return errReenrolled
		}
	}
}
