package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes v to stdout as indented JSON, or as YAML with -o yaml.
func (c *cli) printJSON(v any) error {
	if c.streaming {
		return c.streamDoc(v)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	if c.g.output == "yaml" {
		if b, err = jsonToYAML(b); err != nil {
			return err
		}
		_, err = c.io.Stdout.Write(b)
		return err
	}
	_, err = c.io.Stdout.Write(append(b, '\n'))
	return err
}

// streamDoc writes one document of a stream (deploy status --watch): a
// JSON line, or a YAML document after "---".
func (c *cli) streamDoc(v any) error {
	b, err := jsonLine(v)
	if err != nil {
		return err
	}
	if c.g.output == "yaml" {
		if b, err = jsonToYAML(b); err != nil {
			return err
		}
		b = append([]byte("---\n"), b...)
	}
	_, err = c.io.Stdout.Write(b)
	return err
}

// jsonLine encodes v as one line of JSON.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	return append(b, '\n'), nil
}

// report prints v as JSON with -o json, and otherwise the sentence that
// format makes of args.
func (c *cli) report(v any, format string, args ...any) error {
	if c.json() {
		return c.printJSON(v)
	}
	_, err := fmt.Fprintf(c.io.Stdout, format, args...)
	return err
}

// table writes tab-separated rows aligned in columns.
type table struct {
	tw *tabwriter.Writer
	// keep says which cells of a row are printed; nil keeps all.
	keep []bool
}

// newTable returns a table with every column and a header line.
func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(toAny(header)...)
	}
	return t
}

// table returns a table on stdout for header: columns whose name starts
// with "+" only appear with -o wide, and --no-headers drops the header
// line.
func (c *cli) table(header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(c.io.Stdout, 0, 8, 2, ' ', 0), keep: make([]bool, len(header))}
	names := make([]any, 0, len(header))
	for i, h := range header {
		name, wide := strings.CutPrefix(h, "+")
		t.keep[i] = !wide || c.g.output == "wide"
		names = append(names, name)
	}
	if !c.g.noHeaders {
		t.row(names...)
	}
	return t
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (t *table) row(cells ...any) {
	parts := make([]string, 0, len(cells))
	for i, c := range cells {
		if t.keep != nil && i < len(t.keep) && !t.keep[i] {
			continue
		}
		s := fmt.Sprint(c)
		if s == "" {
			s = "-"
		}
		parts = append(parts, strings.NewReplacer("\t", " ", "\n", " ").Replace(s))
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// humanBytes prints n in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// when prints a time in the local time zone, with the zone, or "-".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// plural writes n and noun, with an s unless n is 1: "1 computer",
// "2 computers". Nouns with another plural pass it after a "|": "entry|entries".
func plural[N ~int | ~int64 | ~uint](n N, noun string) string {
	one, many, ok := strings.Cut(noun, "|")
	if !ok {
		many = one + "s"
	}
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
