package ctl

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// runCompletion prints a bash or zsh completion script. The scripts
// complete nouns, then verbs, then options, from the command table: they
// call "shoalctl __complete WORDS…", which prints the candidates, so a
// new command needs no new script.
func runCompletion(_ context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags("completion"), args, 1, 1)
	if err != nil {
		return err
	}
	switch pos[0] {
	case "bash":
		_, err = fmt.Fprint(c.io.Stdout, bashCompletion)
	case "zsh":
		_, err = fmt.Fprint(c.io.Stdout, zshCompletion)
	default:
		return &usageError{msg: fmt.Sprintf("shell must be bash or zsh, not %q", pos[0])}
	}
	return err
}

const bashCompletion = `# shoalctl completion for bash: source <(shoalctl completion bash)
_shoalctl() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local IFS=$'\n'
	COMPREPLY=($(shoalctl __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" -- "$cur" 2>/dev/null))
}
complete -o default -F _shoalctl shoalctl
`

const zshCompletion = `#compdef shoalctl
# shoalctl completion for zsh: source <(shoalctl completion zsh)
_shoalctl() {
	local -a candidates
	candidates=("${(@f)$(shoalctl __complete "${(@)words[2,CURRENT-1]}" -- "${words[CURRENT]}" 2>/dev/null)}")
	compadd -a candidates
}
if (( $+functions[compdef] )); then
	compdef _shoalctl shoalctl
fi
`

// complete returns the completions of cur after the words before it:
// a noun, a verb of the noun, or an option of the command.
func (c *cli) complete(words []string, cur string) []string {
	// Skip global options and their values.
	var rest []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") {
			if !strings.Contains(w, "=") && i+1 < len(words) && !c.boolFlag(w) {
				i++
			}
			continue
		}
		rest = append(rest, w)
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if strings.HasPrefix(s, cur) && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if strings.HasPrefix(cur, "-") {
		if cmd, _, ok := lookup(rest); ok {
			for _, f := range c.commandFlags(cmd) {
				add("--" + f)
			}
		}
		sort.Strings(out)
		return out
	}
	for _, cmd := range commands() {
		for _, name := range append([]string{cmd.name}, cmd.aliases...) {
			w := strings.Fields(name)
			if len(w) > len(rest) && equalWords(w[:len(rest)], rest) {
				add(w[len(rest)])
			}
		}
	}
	sort.Strings(out)
	return out
}

func equalWords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// boolFlag reports whether a global option takes no value.
func (c *cli) boolFlag(w string) bool {
	name := strings.TrimLeft(w, "-")
	return name == "no-headers" || name == "h" || name == "help"
}

// commandFlags returns the option names of cmd, global ones included, by
// running it with --help into a discarded output.
func (c *cli) commandFlags(cmd command) []string {
	probe := &cli{io: IO{Stdout: discard{}, Stderr: discard{}, Getenv: c.io.Getenv}, cmd: cmd}
	probe.collect = &[]string{}
	_ = cmd.run(context.Background(), probe, []string{"--help"})
	return *probe.collect
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
