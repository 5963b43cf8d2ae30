package ctl

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/shoal-project/shoal/proto/api"
)

// This file holds the saved-search commands and the computer commands
// that act on a whole search result: export as CSV, delete.

// searchPath is the API path of a saved search given by name or ID.
func searchPath(ref string) string { return "/searches/" + url.PathEscape(strings.TrimSpace(ref)) }

func runSearchList(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("search list"), args, 0, 0); err != nil {
		return err
	}
	var l api.List[api.SavedSearch]
	return c.show(ctx, "/searches", nil, &l, func() error {
		t := c.table("ID", "NAME", "SHARED", "OWNER", "SEARCH", "+DESCRIPTION", "+UPDATED")
		for _, s := range l.Items {
			t.row(s.ID, s.Name, yesNo(s.Shared), s.Owner, searchText(s.Search), s.Description, when(&s.UpdatedAt))
		}
		return t.flush()
	})
}

func runSearchGet(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("search get"), args, 1, 1)
	if err != nil {
		return err
	}
	var s api.SavedSearch
	return c.show(ctx, searchPath(pos[0]), nil, &s, func() error {
		shared := "private"
		if s.Shared {
			shared = "shared"
		}
		fmt.Fprintf(c.io.Stdout, "Saved search %d %s (%s, by %s): %s\n", s.ID, s.Name, shared, s.Owner, searchText(s.Search))
		if s.Description != "" {
			fmt.Fprintln(c.io.Stdout, s.Description)
		}
		return nil
	})
}

func runSearchCreate(ctx context.Context, c *cli, args []string) error {
	set := c.flags("search create")
	shared := set.Bool("shared", false, "every user sees and may use it (default: only you)")
	desc := set.String("description", "", "description")
	filter := addFilterFlags(set)
	pos, err := c.parse(set, args, 1, 1)
	if err != nil {
		return err
	}
	search, err := c.searchMap(ctx, filter)
	if err != nil {
		return err
	}
	if len(search) == 0 {
		return &usageError{msg: "give the search flags to save (--name, --os, --software, …)"}
	}
	var s api.SavedSearch
	if err := c.call(ctx, "POST", "/searches", nil, api.SavedSearchRequest{Name: pos[0], Description: *desc, Shared: *shared, Search: search}, &s); err != nil {
		return err
	}
	return c.report(s, "Saved search %d %s: %s.\n", s.ID, s.Name, searchText(s.Search))
}

func runSearchDelete(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("search delete"), args, 1, 1)
	if err != nil {
		return err
	}
	if err := c.call(ctx, "DELETE", searchPath(pos[0]), nil, nil, nil); err != nil {
		return err
	}
	return c.report(map[string]string{"deleted": pos[0]}, "Deleted saved search %s.\n", pos[0])
}

func runComputerDelete(ctx context.Context, c *cli, args []string) error {
	id, err := c.parseID(c.flags("computer delete"), args, "computer")
	if err != nil {
		return err
	}
	return c.act(ctx, "DELETE", fmt.Sprintf("/computers/%d", id), map[string]uint{"deleted": id}, "Deleted computer %d.\n", id)
}

func runComputerExport(ctx context.Context, c *cli, args []string) error {
	set := c.flags("computer export")
	filter := addFilterFlags(set)
	file := set.String("file", "", "write to this file instead of standard output")
	if _, err := c.parse(set, args, 0, 0); err != nil {
		return err
	}
	if err := filter.resolveSite(ctx, c); err != nil {
		return err
	}
	if _, err := filter.filter(); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	w := c.io.Stdout
	if *file != "" {
		f, err := os.Create(*file)
		if err != nil {
			return fmt.Errorf("create %s: %w", *file, err)
		}
		defer f.Close()
		w = f
	}
	n, err := cl.Download(ctx, "/computers/export", filter.values(), w)
	if err != nil {
		return err
	}
	if *file != "" {
		if err := w.(*os.File).Close(); err != nil {
			return fmt.Errorf("write %s: %w", *file, err)
		}
		fmt.Fprintf(c.io.Stderr, "Wrote %s (%s).\n", *file, humanBytes(n))
	}
	return nil
}

// Download copies the body of a GET of path to w, within the client's
// timeout, and returns the bytes copied.
func (c *Client) Download(ctx context.Context, path string, q url.Values, w io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.url(path, q), nil)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", path, err)
	}
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, readError(resp)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("GET %s: %w", path, err)
	}
	return n, nil
}
