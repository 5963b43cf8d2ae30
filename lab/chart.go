package lab

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// niceStep returns a round tick step (1, 2 or 5 × 10^k) that splits span
// into at most about n intervals.
func niceStep(span float64, n int) float64 {
	if span <= 0 || n < 1 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// CDF writes an SVG chart of the completion time CDF of every scenario that
// has completions, with the floor S·8/U as a dashed line.
func (rep *Report) CDF(w io.Writer) {
	const (
		width, height = 760, 420
		left, right   = 64, 200
		top, bottom   = 36, 52
	)
	colors := [...]string{"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}
	pw, ph := float64(width-left-right), float64(height-top-bottom)
	xmax := rep.Params.FloorSeconds
	for _, r := range rep.Scenarios {
		for _, c := range r.Completions {
			xmax = max(xmax, c)
		}
	}
	step := niceStep(xmax*1.05, 8)
	xmax = math.Ceil(xmax*1.05/step) * step
	if xmax <= 0 {
		xmax, step = 1, 0.25
	}
	x := func(v float64) float64 { return float64(left) + v/xmax*pw }
	y := func(f float64) float64 { return float64(top) + (1-f)*ph }

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	p := rep.Params
	title := fmt.Sprintf("Agent completion CDF — S = %.0f MiB, U = %g Mbit/s, +%g ms each way, %d branch(es)",
		float64(p.SizeBytes)/MiB, p.UplinkMbit, p.DelayMs, p.Branches)
	fmt.Fprintf(w, `<text x="%d" y="20" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	// Grid and ticks.
	for v := 0.0; v <= xmax+step/2; v += step {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(v), top, x(v), y(0))
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x(v), y(0)+16, v)
	}
	for f := 0.0; f <= 1.0001; f += 0.25 {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(f), x(xmax), y(f))
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end">%g%%</text>`+"\n", left-6, y(f)+4, f*100)
	}
	fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">seconds from affectation</text>`+"\n", float64(left)+pw/2, height-12)
	fmt.Fprintf(w, `<text x="16" y="%.1f" text-anchor="middle" transform="rotate(-90 16 %.1f)">agents done</text>`+"\n",
		float64(top)+ph/2, float64(top)+ph/2)
	// Floor.
	if fl := p.FloorSeconds; fl > 0 && fl <= xmax {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#000" stroke-dasharray="5,4"/>`+"\n", x(fl), top, x(fl), y(0))
	}
	// One step line per scenario.
	ly := top + 10
	n := 0
	for _, r := range rep.Scenarios {
		if len(r.Completions) == 0 {
			continue
		}
		color := colors[n%len(colors)]
		n++
		total := float64(r.Agents * r.Branches)
		if total < float64(len(r.Completions)) {
			total = float64(len(r.Completions))
		}
		var pts strings.Builder
		fmt.Fprintf(&pts, "%.1f,%.1f", x(0), y(0))
		for i, c := range r.Completions {
			fmt.Fprintf(&pts, " %.1f,%.1f %.1f,%.1f", x(c), y(float64(i)/total), x(c), y(float64(i+1)/total))
		}
		fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", color, pts.String())
		fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", width-right+12, ly, width-right+32, ly, color)
		fmt.Fprintf(w, `<text x="%d" y="%d">%s (N=%d)</text>`+"\n", width-right+38, ly+4, html.EscapeString(r.Scenario), r.Agents)
		ly += 20
	}
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000" stroke-dasharray="5,4"/>`+"\n", width-right+12, ly, width-right+32, ly)
	fmt.Fprintf(w, `<text x="%d" y="%d">floor S·8/U</text>`+"\n", width-right+38, ly+4)
	fmt.Fprintln(w, "</svg>")
}
