package ctl

import (
	"context"
	"fmt"

	"github.com/shoal-project/shoal/proto/api"
)

// runComputerWake asks central to wake a computer (Wake-on-LAN through a
// relay or an awake Shoal agent of its site).
func runComputerWake(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("computers wake"), args, "computer")
	if err != nil {
		return err
	}
	var w api.Wake
	if err := c.call(ctx, "POST", fmt.Sprintf("/computers/%d/wake", id), nil, nil, &w); err != nil {
		return err
	}
	return c.report(w, "Computer %d: wake request %d for MAC %s; a relay or an awake Shoal agent of its site sends the magic packet ('shoalctl computers wakes %d' shows if it woke).\n",
		id, w.ID, w.MAC, id)
}

// runComputerWakes lists a computer's wake requests and what came of them.
func runComputerWakes(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("computers wakes"), args, "computer")
	if err != nil {
		return err
	}
	var l api.List[api.Wake]
	return c.show(ctx, fmt.Sprintf("/computers/%d/wakes", id), nil, &l, func() error {
		t := newTable(c.io.Stdout, "ID", "STATE", "REASON", "BY", "REQUESTED", "SENT BY", "WOKEN")
		for _, w := range l.Items {
			t.row(w.ID, w.State, w.Reason, w.RequestedBy, when(&w.RequestedAt), w.SentBy, when(w.WokenAt))
		}
		return t.flush()
	})
}
