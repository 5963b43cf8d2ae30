package ctl

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/proto/api"
)

// Status is what deploy status prints with -o json: the counts and one
// page of per-computer rows.
type Status struct {
	Counts      api.DeploymentCounts     `json:"counts"`
	Deployments api.List[api.Deployment] `json:"deployments"`
	// Done is true when every deployment is final.
	Done bool `json:"done"`
}

func runDeployStatus(ctx context.Context, c *cli, args []string) error {
	set := c.flags("deploy status")
	state := set.String("state", "", "only rows in this state: "+strings.Join(api.States(), ", "))
	site := set.String("site", "", "only computers of this site (name or id), or 'none'")
	watch := set.Bool("watch", false, "refresh until every deployment is final (or Ctrl-C)")
	interval := set.Duration("interval", 2*time.Second, "refresh period of --watch")
	limit := set.Int("limit", 50, "rows to show, 1..1000")
	id, err := c.parsePackage(set, args)
	if err != nil {
		return err
	}
	if *interval < 100*time.Millisecond {
		return &usageError{msg: "--interval must be at least 100ms"}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *state != "" {
		q.Set("state", *state)
	}
	cq := url.Values{}
	if *site, err = c.siteParam(ctx, *site); err != nil {
		return err
	}
	if *site != "" {
		q.Set("site", *site)
		cq.Set("site", *site)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C ends --watch normally
		case <-t.C:
		}
		var st Status
		if err := cl.Do(ctx, "GET", "/packages/"+id+"/deployment-counts", cq, nil, &st.Counts); err != nil {
			if ctx.Err() != nil && !first {
				return nil
			}
			return err
		}
		if err := cl.Do(ctx, "GET", "/packages/"+id+"/deployments", q, nil, &st.Deployments); err != nil {
			if ctx.Err() != nil && !first {
				return nil
			}
			return err
		}
		st.Done = st.Counts.Finished == st.Counts.Total
		if err := c.printStatus(id, &st, *watch); err != nil {
			return err
		}
		if !*watch || st.Done {
			return nil
		}
		t.Reset(*interval)
	}
}

func (c *cli) printStatus(id string, st *Status, watch bool) error {
	if c.json() {
		// One document per refresh: JSON lines (YAML documents) with --watch.
		if watch {
			return c.streamDoc(st)
		}
		return c.printJSON(st)
	}
	if watch && c.stdoutTTY() {
		// Draw the frame off screen, then over the previous one.
		out := c.io.Stdout
		var frame bytes.Buffer
		c.io.Stdout = &frame
		defer func() {
			c.io.Stdout = out
			_, _ = out.Write(redrawFrame(frame.Bytes(), c.drawn))
			c.drawn = true
		}()
	}
	fmt.Fprintf(c.io.Stdout, "Package %s: %s  (%s)\n", id, countsLine(st.Counts.Counts), time.Now().Format("15:04:05"))
	t := c.table("ID", "COMPUTER", "SITE", "STATE", "FRAGMENTS", "PEER", "RELAY", "CENTRAL", "RESULT", "LAST CHANGE")
	for _, d := range st.Deployments.Items {
		frags := "-"
		if d.FragmentsTotal > 0 {
			frags = fmt.Sprintf("%d/%d", d.FragmentsDone, d.FragmentsTotal)
		}
		t.row(d.ID, d.ComputerName, d.SiteName, d.State, frags, humanBytes(d.BytesPeer), humanBytes(d.BytesRelay),
			humanBytes(d.BytesCentral), d.ResultCode, when(&d.UpdatedAt))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if n := st.Deployments.Total - int64(len(st.Deployments.Items)); n > 0 {
		fmt.Fprintf(c.io.Stdout, "(%s more; use --limit or --state)\n", plural(n, "row"))
	}
	explainCodes(c, st.Deployments.Items)
	if watch && st.Done {
		fmt.Fprintln(c.io.Stdout, "Every deployment is final.")
	}
	return nil
}

func runDeployRedeploy(ctx context.Context, c *cli, args []string) error {
	return c.deploymentAction(ctx, "deploy redeploy", args, "/redeploy")
}

func runDeployCancel(ctx context.Context, c *cli, args []string) error {
	return c.deploymentAction(ctx, "deploy cancel", args, "/cancel")
}

// deploymentAction runs the command name, which posts to a deployment's
// path plus suffix and prints the deployment it becomes.
func (c *cli) deploymentAction(ctx context.Context, name string, args []string, suffix string) error {
	id, err := c.parseID(c.flags(name), args, "deployment")
	if err != nil {
		return err
	}
	var d api.DeploymentDetail
	if err := c.call(ctx, "POST", fmt.Sprintf("/deployments/%d%s", id, suffix), nil, nil, &d); err != nil {
		return err
	}
	return c.report(d, "Deployment %d of package %s on %s is now %s.\n", d.Deployment.ID, d.Deployment.PackageID,
		d.Deployment.ComputerName, d.Deployment.State)
}

// explainCodes prints, once per code, what the failure codes of rows mean.
func explainCodes(c *cli, rows []api.Deployment) {
	seen := map[string]bool{}
	for _, d := range rows {
		if d.ResultCode == "" || d.ResultHelp == "" || seen[d.ResultCode] || strings.HasPrefix(d.ResultCode, "SUCCESS") {
			continue
		}
		seen[d.ResultCode] = true
		fmt.Fprintf(c.io.Stdout, "%s: %s.\n", d.ResultCode, d.ResultHelp)
	}
}

func runCodes(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("codes"), args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		code := strings.ToUpper(pos[0])
		help := api.CodeHelp(code)
		return c.report(api.ResultCode{Code: code, Help: help}, "%s: %s.\n", code, help)
	}
	var res api.List[api.ResultCode]
	if err := c.call(ctx, "GET", "/result-codes", nil, nil, &res); err != nil {
		return err
	}
	if c.json() {
		return c.printJSON(res)
	}
	for _, rc := range res.Items {
		fmt.Fprintf(c.io.Stdout, "%s: %s.\n", rc.Code, rc.Help)
	}
	return nil
}

// redrawFrame returns what draws frame over the previous one on a
// terminal: the first frame clears the screen, later ones move the cursor
// home and overwrite each line, clearing what remains of it and of the
// screen below, so nothing flickers and nothing scrolls.
func redrawFrame(frame []byte, drawn bool) []byte {
	var b bytes.Buffer
	if !drawn {
		b.WriteString("\x1b[2J")
	}
	b.WriteString("\x1b[H")
	for line := range bytes.Lines(frame) {
		b.Write(bytes.TrimSuffix(line, []byte("\n")))
		b.WriteString("\x1b[K\n")
	}
	b.WriteString("\x1b[J")
	return b.Bytes()
}
