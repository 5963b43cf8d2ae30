package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/audit"
	"github.com/shoal-project/shoal/central/store"
	"github.com/shoal-project/shoal/proto/api"
)

// exportPage is how many computers the CSV export reads per query.
const exportPage = 1000

// ExportComputers writes every computer f selects as CSV, with the
// api.ComputerCSVHeader columns, page by page (never the whole result in
// memory). The first page is read before start is called for the writer,
// so that a caller can still answer an error with its status code.
func (s *Service) ExportComputers(ctx context.Context, f store.ComputerFilter, start func() io.Writer) error {
	sites, err := s.store.ListSites(ctx)
	if err != nil {
		return fmt.Errorf("export computers: %w", err)
	}
	siteNames := make(map[uint]string, len(sites))
	for _, st := range sites {
		siteNames[st.ID] = st.Name
	}
	f.Limit, f.Offset = exportPage, 0
	page, total, err := s.store.SearchComputers(ctx, f)
	if err != nil {
		return fmt.Errorf("export computers: %w", err)
	}
	cw := csv.NewWriter(start())
	if err := cw.Write(api.ComputerCSVHeader); err != nil {
		return fmt.Errorf("export computers: %w", err)
	}
	written := 0
	for len(page) > 0 {
		ids := make([]uint, len(page))
		for i := range page {
			ids[i] = page[i].ID
		}
		tags, err := s.store.UIComputerTags(ctx, ids)
		if err != nil {
			return fmt.Errorf("export computers: %w", err)
		}
		for i := range page {
			if err := cw.Write(computerRow(&page[i], siteNames, tags)); err != nil {
				return fmt.Errorf("export computers: %w", err)
			}
		}
		written += len(page)
		if int64(written) >= total {
			break
		}
		cw.Flush()
		f.Offset = written
		if page, _, err = s.store.SearchComputers(ctx, f); err != nil {
			return fmt.Errorf("export computers: %w", err)
		}
	}
	cw.Flush()
	return cw.Error()
}

// computerRow is one line of the CSV export.
func computerRow(c *store.Computer, sites map[uint]string, tags map[uint]string) []string {
	site := ""
	if c.SiteID != nil {
		site = sites[*c.SiteID]
	}
	rfc := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	row := []string{strconv.FormatUint(uint64(c.ID), 10), c.Name, c.OSName, c.OSVersion, c.Arch, c.IPAddr, c.FirstMAC, c.Serial, site,
		tags[c.ID], c.UserID, c.ProcessorType, strconv.Itoa(c.ProcessorCount), strconv.Itoa(c.MemoryMB), c.Source,
		rfc(c.FirstSeen), rfc(c.LastInventory), rfc(c.LastContact)}
	for i, cell := range row {
		row[i] = CSVSafe(cell)
	}
	return row
}

// CSVSafe defuses a cell a spreadsheet would run as a formula (CSV
// injection): inventory values come from agents, so a computer named
// "=HYPERLINK(…)" must stay text.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// DeleteComputers deletes computers and their deployments, each audited,
// and returns how many it deleted; a computer already gone is skipped.
func (s *Service) DeleteComputers(ctx context.Context, who audit.Actor, ids []uint) (int, error) {
	n := 0
	for _, id := range ids {
		c, err := s.store.Computer(ctx, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return n, err
		}
		if err := s.store.DeleteComputer(ctx, id); err != nil {
			return n, fmt.Errorf("delete computer %d: %w", id, err)
		}
		s.Record(ctx, who, "computer.delete", strconv.FormatUint(uint64(id), 10), c.Name)
		n++
	}
	return n, nil
}
