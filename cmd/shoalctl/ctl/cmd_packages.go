package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

func runPackageCreate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("package create")
	var spec api.PackageSpec
	set.StringVar(&spec.Name, "name", "", "catalog name (default: the file name)")
	set.StringVar(&spec.Description, "description", "", "description")
	set.StringVar(&spec.Platform, "platform", "", "LINUX (default), WINDOWS or MACOSX")
	set.StringVar(&spec.Action, "action", "EXECUTE", "EXECUTE, STORE or LAUNCH (default: from --path or --launch, else EXECUTE)")
	set.StringVar(&spec.Command, "command", "", "command to run (EXECUTE)")
	set.StringVar(&spec.Path, "path", "", "target directory (STORE)")
	set.StringVar(&spec.LaunchName, "launch", "", "program to launch from the archive (LAUNCH)")
	priority := set.Int("priority", 5, "priority, 0 (highest) to 10")
	set.IntVar(&spec.Fragments, "fragments", 0, "number of OCS fragments (default: from the fragment size)")
	set.Int64Var(&spec.FragmentSize, "fragment-size", 0, "OCS fragment size in bytes")
	set.BoolVar(&spec.NotifyUser, "notify-user", false, "ask the user first (Windows agents)")
	set.StringVar(&spec.NotifyText, "notify-text", "", "text shown to the user")
	stall := set.Duration("stall-timeout", 60*time.Second, "fail when the upload makes no progress this long")
	noProgress := set.Bool("no-progress", false, "draw no progress bar")
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	spec.Priority = priority
	actionSet := false
	set.Visit(func(f *flag.Flag) { actionSet = actionSet || f.Name == "action" })
	if !actionSet {
		switch {
		case spec.Path != "" && spec.Command == "" && spec.LaunchName == "":
			spec.Action = "STORE"
		case spec.LaunchName != "" && spec.Command == "" && spec.Path == "":
			spec.Action = "LAUNCH"
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	opt := UploadOptions{Stall: *stall}
	if !*noProgress {
		bar := newProgressBar(c.io.Stderr, c.stderrTTY())
		opt.Progress = bar.update
	}
	p, err := cl.CreatePackage(ctx, pos[0], spec, opt)
	if err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(p)
	}
	t := c.table("ID", "NAME", "ACTION", "PRIORITY", "SIZE", "OCS FRAGMENTS", "MD5")
	t.row(p.ID, p.Name, p.Action, p.Priority, humanBytes(p.Size), p.OCSFragmentCount, p.MD5)
	return t.flush()
}

func runPackageList(ctx context.Context, c *cli, args []string) error {
	set := c.flags("package list")
	limit := set.Int("limit", 50, "page size, 1..1000")
	offset := set.Int("offset", 0, "packages to skip")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.Package]
	return c.show(ctx, "/packages", page(*limit, *offset), &l, func() error {
		t := c.table("ID", "NAME", "+PLATFORM", "ACTION", "PRIORITY", "SIZE", "OCS FRAGMENTS", "+MD5", "ACTIVE", "CREATED")
		for _, p := range l.Items {
			t.row(p.ID, p.Name, p.Platform, p.Action, p.Priority, humanBytes(p.Size), p.OCSFragmentCount, p.MD5, yesNo(p.Active), when(&p.CreatedAt))
		}
		if err := t.flush(); err != nil {
			return err
		}
		return c.more(len(l.Items), l.Offset, l.Total)
	})
}

// page returns the query parameters of one page of a list.
func page(limit, offset int) url.Values {
	return url.Values{"limit": {strconv.Itoa(limit)}, "offset": {strconv.Itoa(offset)}}
}

// more says how many items the page left out.
func (c *cli) more(shown, offset int, total int64) error {
	if rest := total - int64(offset) - int64(shown); rest > 0 {
		_, err := fmt.Fprintf(c.io.Stdout, "(%d of %d shown; use --offset %d for more)\n", shown, total, offset+shown)
		return err
	}
	return nil
}

func runPackageShow(ctx context.Context, c *cli, args []string) error {
	id, err := c.parsePackage(c.flags("package show"), args)
	if err != nil {
		return err
	}
	var p api.PackageDetail
	return c.show(ctx, "/packages/"+id, nil, &p, func() error { return c.printPackage(&p) })
}

// printPackage prints a package's details as a two-column table.
func (c *cli) printPackage(p *api.PackageDetail) error {
	t := newTable(c.io.Stdout)
	action := p.Action + " " + p.Command + p.Path + p.LaunchName
	sig := p.Signature.Status
	if p.Signature.Error != "" {
		sig += ": " + p.Signature.Error
	}
	for _, kv := range [][2]any{
		{"ID", p.ID}, {"Name", p.Name}, {"Platform", p.Platform}, {"Action", strings.TrimSpace(action)},
		{"Priority", p.Priority}, {"Size", fmt.Sprintf("%s (%d bytes)", humanBytes(p.Size), p.Size)},
		{"MD5", p.MD5}, {"SHA-256", p.SHA256}, {"Signature", sig + " (key " + p.Signature.KeyID + ")"},
		{"OCS fragments", len(p.OCSFragments)}, {"Shoal fragments", fmt.Sprintf("%d of %s", len(p.Fragments), humanBytes(p.FragmentSize))},
		{"Active", yesNo(p.Active)}, {"Info location", p.InfoLoc}, {"Pack location", p.PackLoc},
		{"Activated", when(p.ActivatedAt)}, {"Created", when(&p.CreatedAt)},
		{"Deployments", countsLine(p.DeploymentCounts)},
		{"Served by central", fmt.Sprintf("%s in %s, %s, %s",
			humanBytes(p.Downloads.Bytes), plural(p.Downloads.Requests, "request"), plural(p.Downloads.Fragments, "fragment"), plural(p.Downloads.Info, "info file"))},
	} {
		t.row(fmt.Sprint(kv[0])+":", kv[1])
	}
	return t.flush()
}

// countsLine prints deployment counts in state order.
func countsLine(counts map[string]int64) string {
	var parts []string
	var total int64
	for _, st := range api.States() {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", st, n))
			total += n
		}
	}
	if total == 0 {
		return "none"
	}
	return fmt.Sprintf("%d: %s", total, strings.Join(parts, ", "))
}

func runPackageDelete(ctx context.Context, c *cli, args []string) error {
	return c.packageAction(ctx, "package delete", args, "DELETE", "", "Deleted package %s.\n")
}

func runPackageDeactivate(ctx context.Context, c *cli, args []string) error {
	return c.packageAction(ctx, "package deactivate", args, "POST", "/deactivate", "Deactivated package %s.\n")
}

// packageAction runs the command name, which sends method to the package's
// path plus suffix and says done, a format of the package ID.
func (c *cli) packageAction(ctx context.Context, name string, args []string, method, suffix, done string) error {
	id, err := c.parsePackage(c.flags(name), args)
	if err != nil {
		return err
	}
	return c.act(ctx, method, "/packages/"+id+suffix, map[string]string{"package_id": id}, done, id)
}

// activateTimeout bounds an activation: central fetches every fragment.
const activateTimeout = 10 * time.Minute

func runPackageActivate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("package activate")
	var req api.ActivateRequest
	set.StringVar(&req.InfoLoc, "info-loc", "", "where agents fetch the info file, host[:port]/path (default: central)")
	set.StringVar(&req.PackLoc, "pack-loc", "", "where agents fetch fragments, host[:port]/path (default: central)")
	set.StringVar(&req.Proto, "proto", "", "fragment protocol: HTTP (default) or HTTPS")
	set.BoolVar(&req.SkipCheck, "skip-check", false, "activate without the availability check")
	id, err := c.parsePackage(set, args)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if cl.timeout < activateTimeout {
		cl.timeout = activateTimeout
	}
	var res api.ActivateResult
	err = cl.Do(ctx, "POST", "/packages/"+id+"/activate", nil, req, &res)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == 422 {
		fmt.Fprintf(c.io.Stderr, "Package %s was NOT activated: %s\n", id, ae.Body.Error)
		for _, p := range ae.Body.Detail {
			fmt.Fprintf(c.io.Stderr, "  - %s\n", p)
		}
		if c.json() {
			_ = c.printJSON(ae.Body)
		}
		return errReported
	}
	if err != nil {
		return err
	}
	check := "passed: info file and " + plural(res.Check.FragmentsChecked, "fragment") + " fetched and verified"
	if res.Check.Skipped {
		check = "skipped"
	}
	return c.report(res, "Activated package %s (%s).\n  info location: %s\n  pack location: %s (%s)\n  availability check: %s\n",
		id, res.Package.Name, res.Package.InfoLoc, res.Package.PackLoc, res.Package.Proto, check)
}

// filterFlags registers the inventory search flags; values() returns them
// as query parameters.
type filterFlags map[string]*string

func addFilterFlags(set interface {
	String(name, value, usage string) *string
}) filterFlags {
	usage := map[string]string{
		api.QueryName: "part of the computer name", api.QueryOS: "part of the OS name",
		api.QuerySoftware: "part of an installed software's name", api.QuerySoftwareVersion: "version of --software: 24.00, or a comparison such as '< 24.00'",
		api.QueryNoSoftware: "part of the name of a software the computers must not have",
		api.QueryIP:         "address or CIDR prefix", api.QueryTag: "OCS TAG", api.QuerySite: "site name or id",
		api.QueryContactSince:  "last contact since: RFC 3339, a date or a duration such as 24h",
		api.QueryContactBefore: "last contact before: RFC 3339, a date or a duration",
	}
	f := filterFlags{}
	for _, q := range api.ComputerFilterParams() {
		f[q] = set.String(strings.ReplaceAll(q, "_", "-"), "", usage[q])
	}
	f[api.QuerySavedSearch] = set.String("search", "", "a saved search (name or id) whose criteria apply; flags given beside it win")
	return f
}

func (f filterFlags) values() url.Values {
	v := url.Values{}
	for k, p := range f {
		if *p != "" {
			v.Set(k, *p)
		}
	}
	return v
}

func (f filterFlags) filter() (*api.ComputerFilter, error) {
	v := f.values()
	if len(v) == 0 {
		return nil, nil
	}
	cf, err := api.ParseComputerFilter(v, time.Now())
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return &cf, nil
}

func runPackageAffect(ctx context.Context, c *cli, args []string) error {
	set := c.flags("package affect")
	var ids uintList
	set.Var(&ids, "computer", "computer id (repeat or comma-separate)")
	filter := addFilterFlags(set)
	dry := set.Bool("dry-run", false, "only count the computers selected")
	force := set.Bool("force", false, "deploy again where already done or installed")
	all := set.Bool("all", false, "select every computer (refused without it when no search flag is given)")
	id, err := c.parsePackage(set, args)
	if err != nil {
		return err
	}
	req := api.AffectRequest{ComputerIDs: ids, DryRun: *dry, Force: *force}
	if err := filter.resolveSite(ctx, c); err != nil {
		return err
	}
	if req.Filter, err = filter.filter(); err != nil {
		return err
	}
	if *all {
		if req.Filter == nil {
			req.Filter = &api.ComputerFilter{}
		}
		req.All = true
	}
	if len(req.ComputerIDs) == 0 && req.Filter == nil {
		return &usageError{msg: "select computers with --computer or a search flag (--name, --os, --software, --ip, --tag, …), or every computer with --all"}
	}
	var res api.AffectResult
	if err := c.call(ctx, "POST", "/packages/"+id+"/affect", nil, req, &res); err != nil {
		return err
	}
	if !c.json() {
		for _, e := range res.Exclusions {
			fmt.Fprintf(c.io.Stdout, "Excluded: %s.\n", e.Reason)
		}
	}
	if res.DryRun {
		return c.report(res, "%s selected (dry run: nothing changed).\n", plural(res.Selected, "computer"))
	}
	return c.report(res, "%s selected, %s created.\n", plural(res.Selected, "computer"), plural(res.Created, "deployment"))
}
