package lab

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/shoal-project/shoal/proto/api"
)

// labSite is the central site of one branch LAN during one scenario.
type labSite struct {
	ID     uint
	Name   string
	Branch *Branch
}

// createSites creates one site per branch, named <scenario>-b<b>, whose
// CIDR is the branch LAN, so that the agents and the relay of a branch
// share a site. location, when not nil, gives each site's OCS fragment
// location (a relay configured by hand); otherwise it is central's own, or
// what an enrolled relay registers. Sites must exist before the agents
// enroll or send their first inventory: central assigns a computer's site
// from its address then.
func (e *env) createSites(ctx context.Context, scenario string, location func(br *Branch) string) ([]labSite, error) {
	var sites []labSite
	for _, br := range e.topo.Branches {
		req := api.SiteRequest{Name: fmt.Sprintf("%s-b%d", scenario, br.Index), CIDRs: []string{br.LAN.String()},
			Description: "branch lab, scenario " + scenario}
		if location != nil {
			req.FragmentLocation = location(br)
		}
		var s api.Site
		if err := e.central.call(ctx, "POST", "/sites", nil, req, &s); err != nil {
			return sites, fmt.Errorf("create site %s: %w", req.Name, err)
		}
		sites = append(sites, labSite{ID: s.ID, Name: s.Name, Branch: br})
	}
	return sites, nil
}

// deleteSites deletes the scenario's sites, so that the next scenario's
// agents on the same LANs get the next scenario's sites (and no stale
// relay). Their computers keep no site.
func (e *env) deleteSites(ctx context.Context, sites []labSite) error {
	var errs []error
	for _, s := range sites {
		if err := e.central.call(ctx, "DELETE", "/sites/"+strconv.FormatUint(uint64(s.ID), 10), nil, nil, nil); err != nil {
			errs = append(errs, fmt.Errorf("delete site %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}
