package ctl

import (
	"bytes"
	"context"
	"flag"
	"time"
)

// addWatch registers --watch and --interval on a list command.
func addWatch(set *flag.FlagSet) (watch *bool, interval *time.Duration) {
	return set.Bool("watch", false, "redraw every --interval until Ctrl-C (JSON lines with -o json)"),
		set.Duration("interval", 2*time.Second, "refresh period of --watch")
}

// repeat runs draw once, or with watch every interval until ctx ends. On a
// terminal each table is drawn over the previous one (redrawFrame); with
// -o json or yaml each refresh is one document of a stream.
func (c *cli) repeat(ctx context.Context, watch bool, interval time.Duration, draw func() error) error {
	if watch && interval < 100*time.Millisecond {
		return &usageError{msg: "--interval must be at least 100ms"}
	}
	c.streaming = watch
	defer func() { c.streaming = false }()
	t := time.NewTimer(0)
	defer t.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return nil // Ctrl-C ends --watch normally
		case <-t.C:
		}
		if err := c.frame(watch, draw); err != nil {
			if ctx.Err() != nil && !first {
				return nil
			}
			return err
		}
		if !watch {
			return nil
		}
		t.Reset(interval)
	}
}

// frame runs draw, drawing over the previous frame on a terminal.
func (c *cli) frame(watch bool, draw func() error) error {
	if !watch || c.json() || !c.stdoutTTY() {
		return draw()
	}
	out := c.io.Stdout
	var buf bytes.Buffer
	c.io.Stdout = &buf
	err := draw()
	c.io.Stdout = out
	if err != nil {
		return err
	}
	_, err = out.Write(redrawFrame(buf.Bytes(), c.drawn))
	c.drawn = true
	return err
}
