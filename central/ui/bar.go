package ui

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/shoal-project/shoal/central/store"
)

// stackBar draws deployments as one bar with a segment per outcome:
// success (green), error (red), cancelled (grey), then what is unfinished
// (empty), so that a package failing on many computers never looks done.
// It is an SVG with attributes only, which the page's CSP (no inline
// styles) allows.
func stackBar(counts map[string]int64) template.HTML {
	total := sumCounts(counts)
	ok, bad, cancelled := counts[store.StateSuccess], counts[store.StateError], counts[store.StateCancelled]
	label := fmt.Sprintf("%d success, %d error, %d cancelled, %d unfinished, of %d", ok, bad, cancelled, total-ok-bad-cancelled, total)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="stackbar" viewBox="0 0 1000 10" preserveAspectRatio="none" role="img" aria-label="%s"><title>%s</title>`,
		template.HTMLEscapeString(label), template.HTMLEscapeString(label))
	b.WriteString(`<rect class="b-todo" x="0" y="0" width="1000" height="10"/>`)
	x := int64(0)
	for _, seg := range []struct {
		class string
		n     int64
	}{{"b-ok", ok}, {"b-bad", bad}, {"b-cancel", cancelled}} {
		if seg.n == 0 || total == 0 {
			continue
		}
		w := seg.n * 1000 / total
		if w == 0 {
			w = 1 // One failure among thousands stays visible.
		}
		fmt.Fprintf(&b, `<rect class="%s" x="%d" y="0" width="%d" height="10"/>`, seg.class, x, w)
		x += w
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: built from integers and escaped text only.
}

// failureGroup is the recent failures of one package with one result
// code: identical rows shown once with how many computers they are.
type failureGroup struct {
	PackageID, PackageName, ResultCode string
	Computers                          int
	// First is the most recent row of the group (its computer and time).
	First store.DeploymentRow
}

// groupFailures folds failed rows (most recent first) by package and code,
// keeping the order of each group's most recent row.
func groupFailures(rows []store.DeploymentRow) []failureGroup {
	var out []failureGroup
	at := map[[2]string]int{}
	for _, r := range rows {
		k := [2]string{r.PackageID, r.ResultCode}
		if i, ok := at[k]; ok {
			out[i].Computers++
			continue
		}
		at[k] = len(out)
		out = append(out, failureGroup{PackageID: r.PackageID, PackageName: r.PackageName, ResultCode: r.ResultCode, Computers: 1, First: r})
	}
	return out
}
