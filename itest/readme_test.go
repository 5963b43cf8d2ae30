//go:build integration

package itest

import (
	"strings"
)

// readmeBlock is one fenced code block of README.md.
type readmeBlock struct {
	line int    // the line of the opening fence, from 1
	lang string // the first word of the info string
	text string
	// skip is the reason given by a "<!-- readme-test: skip: reason -->"
	// comment on the line before the fence; such a block is not run.
	skip string
}

// readmeBlocks returns the fenced code blocks of a Markdown document.
func readmeBlocks(doc string) []readmeBlock {
	var out []readmeBlock
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			continue
		}
		b := readmeBlock{line: i + 1}
		if f := strings.Fields(strings.TrimPrefix(l, "```")); len(f) > 0 {
			b.lang = f[0]
		}
		if i > 0 {
			prev := strings.TrimSpace(lines[i-1])
			if r, ok := strings.CutPrefix(prev, "<!-- readme-test: skip:"); ok {
				b.skip = strings.TrimSpace(strings.TrimSuffix(r, "-->"))
			}
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		b.text = strings.Join(body, "\n")
		out = append(out, b)
	}
	return out
}
