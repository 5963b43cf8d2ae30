package deploy

import (
	"context"
	"net/url"
	"strings"

	"github.com/shoal-project/shoal/central/packages"
	"github.com/shoal-project/shoal/proto"
)

// SetReplicas tells the service every live replica of central (this one
// included) by its HTTPS base URL (https://host:port), so that an
// activation checks the package on each of them (checkReplicas). Call it
// once, before serving; without it, or with one replica, only the
// configured locations are checked.
func (s *Service) SetReplicas(replicas func() []string) { s.replicas = replicas }

// checkReplicas checks that every replica serves package m intact, over
// its own HTTPS listener (info file and fragments at /download/): a
// replica without shared package storage pulls the package from another
// one on the first request and serves it only once it verified
// (packages.Builder.Ensure), so after this check every replica has it.
// Each problem is added to r, prefixed with the replica. It checks nothing
// when there are fewer than two replicas: the configured locations reach
// the one central there is.
func (s *Service) checkReplicas(ctx context.Context, m *proto.Manifest, r *packages.CheckReport) {
	if s.replicas == nil {
		return
	}
	reps := s.replicas()
	if len(reps) < 2 {
		return
	}
	for _, base := range reps {
		u, err := url.Parse(base)
		if err != nil || u.Host == "" {
			r.Problems = append(r.Problems, "replica "+base+": not a base URL")
			continue
		}
		rep := packages.CheckReplica(ctx, s.client, m, u.Host+"/download")
		r.FragmentsChecked += rep.FragmentsChecked
		for _, p := range rep.Problems {
			r.Problems = append(r.Problems, "replica "+strings.TrimRight(base, "/")+": "+p)
		}
	}
	r.OK = len(r.Problems) == 0
}
