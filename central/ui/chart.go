package ui

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/shoal-project/shoal/central/store"
)

// Geometry of the completion chart.
const (
	chartW, chartH                      = 640, 220
	padLeft, padRight, padTop, padBelow = 48, 16, 16, 36
)

// completionChart draws the finished deployments of a package over time as
// two cumulative step lines (success, error or cancelled) against the
// number of deployments, from the first affectation to now.
func completionChart(finishes []store.Completion, start, now time.Time, total int64) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="cc-title"><title id="cc-title">Finished deployments over time</title>`, chartW, chartH)
	if start.IsZero() || total == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="middle">No deployment yet.</text></svg>`, chartW/2, chartH/2)
		return template.HTML(b.String()) //nolint:gosec // numbers and escaped text only
	}
	end := now
	if n := len(finishes); n > 0 && finishes[n-1].FinishedAt.After(end) {
		end = finishes[n-1].FinishedAt
	}
	if !end.After(start.Add(time.Minute)) {
		end = start.Add(time.Minute)
	}
	plotW, plotH := float64(chartW-padLeft-padRight), float64(chartH-padTop-padBelow)
	x := func(t time.Time) float64 {
		if t.Before(start) {
			t = start
		}
		return float64(padLeft) + plotW*float64(t.Sub(start))/float64(end.Sub(start))
	}
	y := func(n int64) float64 { return float64(padTop) + plotH - plotH*float64(n)/float64(total) }

	// Axes, the total line and tick labels.
	fmt.Fprintf(&b, `<line class="axis-line" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padLeft, y(0), chartW-padRight, y(0))
	fmt.Fprintf(&b, `<line class="axis-line" x1="%d" y1="%d" x2="%d" y2="%.1f"/>`, padLeft, padTop, padLeft, y(0))
	fmt.Fprintf(&b, `<line class="total-line" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padLeft, y(total), chartW-padRight, y(total))
	for _, n := range []int64{0, total / 2, total} {
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%d</text>`, padLeft-6, y(n)+4, n)
	}
	layout := "15:04"
	if end.Sub(start) > 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="start">%s</text>`, padLeft, chartH-padBelow+16, html.EscapeString(start.UTC().Format(layout)))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s UTC</text>`, chartW-padRight, chartH-padBelow+16, html.EscapeString(end.UTC().Format(layout)))

	series := []struct {
		class string
		match func(string) bool
	}{
		{"c-ok", func(s string) bool { return s == store.StateSuccess }},
		{"c-bad", func(s string) bool { return s != store.StateSuccess }},
	}
	for _, s := range series {
		var n int64
		path := fmt.Sprintf("M%.1f %.1f", x(start), y(0))
		for _, f := range finishes {
			if !s.match(f.State) {
				continue
			}
			path += fmt.Sprintf(" H%.1f", x(f.FinishedAt))
			n++
			path += fmt.Sprintf(" V%.1f", y(n))
		}
		path += fmt.Sprintf(" H%.1f", x(end))
		fmt.Fprintf(&b, `<path class="series %s" d="%s"/>`, s.class, path)
	}
	// Legend.
	lx := padLeft + 8
	for _, l := range []struct{ class, text string }{{"c-ok", "success"}, {"c-bad", "error or cancelled"}, {"total-swatch", fmt.Sprintf("%d affected", total)}} {
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="10" height="10"/><text class="legend" x="%d" y="%d">%s</text>`,
			l.class, lx, chartH-14, lx+14, chartH-5, html.EscapeString(l.text))
		lx += 30 + 7*len(l.text)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and escaped text only
}

// bytesChart draws, per site, the bytes the computers of a package got from
// peers, relays and central as stacked horizontal bars.
func bytesChart(sites []store.SiteBytes) template.HTML {
	const rowH, labelW, barX, right = 30, 150, 160, 90
	var top int64
	for _, s := range sites {
		top = max(top, s.BytesPeer+s.BytesRelay+s.BytesCentral)
	}
	h := padTop + rowH*max(len(sites), 1) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="bc-title"><title id="bc-title">Bytes by source per site</title>`, chartW, h)
	if top == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="axis" text-anchor="middle">No bytes by source reported yet. Shoal agents report them; OCS agents do not.</text></svg>`, chartW/2, h/2)
		return template.HTML(b.String()) //nolint:gosec // numbers and escaped text only
	}
	barW := float64(chartW - barX - right)
	for i, s := range sites {
		y := padTop + i*rowH
		name := s.SiteName
		if s.SiteID == nil {
			name = "(no site)"
		}
		if len(name) > 22 {
			name = name[:21] + "…"
		}
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>`, labelW, y+15, html.EscapeString(name))
		x := float64(barX)
		for _, part := range []struct {
			class string
			n     int64
		}{{"c-peer", s.BytesPeer}, {"c-relay", s.BytesRelay}, {"c-central", s.BytesCentral}} {
			w := barW * float64(part.n) / float64(top)
			if w > 0 {
				fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%d" width="%.1f" height="20"><title>%s</title></rect>`,
					part.class, x, y, w, html.EscapeString(humanBytes(part.n)))
			}
			x += w
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d">%s</text>`, x+6, y+15, html.EscapeString(humanBytes(s.BytesPeer+s.BytesRelay+s.BytesCentral)))
	}
	ly := h - 12
	lx := barX
	for _, l := range []struct{ class, text string }{{"c-peer", "LAN peers"}, {"c-relay", "relay"}, {"c-central", "central"}} {
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="%d" width="10" height="10"/><text class="legend" x="%d" y="%d">%s</text>`,
			l.class, lx, ly-9, lx+14, ly, l.text)
		lx += 30 + 7*len(l.text)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and escaped text only
}
