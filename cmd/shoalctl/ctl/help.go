package ctl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// This file holds the help texts: the command list (shoalctl help), one
// command's help (shoalctl help CMD, CMD --help) and one noun's verbs
// (shoalctl help package).

// lookup finds the command whose name or alias is the longest prefix of
// args, and returns it with the rest of args.
func lookup(args []string) (command, []string, bool) {
	var best command
	var rest []string
	bestLen := 0
	for _, cmd := range commands() {
		for _, name := range append([]string{cmd.name}, cmd.aliases...) {
			words := strings.Fields(name)
			if len(words) > len(args) || len(words) <= bestLen || !slices.Equal(words, args[:len(words)]) {
				continue
			}
			best, rest, bestLen = cmd, args[len(words):], len(words)
		}
	}
	return best, rest, bestLen > 0
}

// nounCommands returns the commands whose name starts with noun.
func nounCommands(noun string) []command {
	var out []command
	for _, cmd := range commands() {
		if first, _, _ := strings.Cut(cmd.name, " "); first == noun {
			out = append(out, cmd)
		}
	}
	return out
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "shoalctl: command-line client of shoal-central's REST API.\n\nUsage: shoalctl [options] NOUN VERB [arguments]\n\nCommands:\n")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-21s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nRun 'shoalctl help COMMAND' (or 'shoalctl COMMAND --help') for its arguments, options and examples.\n")
	c.globalHelp(w)
}

func (c *cli) globalHelp(w io.Writer) {
	fmt.Fprintf(w, `
Options for every command (before or after it):
  --server URL     central's HTTPS address, e.g. https://central:8443 ($%s)
  --ca FILE        CA certificate to trust, central's cacert.pem ($%s)
  --token TOKEN    API token ($%s)
  --config FILE    where login keeps its settings ($%s, default ~/.config/shoal/shoalctl.json)
  -o FORMAT        output: table (default), wide (more columns), json or yaml
  --no-headers     print tables without their header line
  --timeout D      deadline of each request (default 30s)
Times are printed in the local time zone (TZ=Europe/Paris shoalctl … picks another).
`, EnvServer, EnvCA, EnvToken, EnvConfig)
}

// helpTopic prints the help of the command or noun that args name, and
// reports whether it found one.
func (c *cli) helpTopic(ctx context.Context, args []string) bool {
	if cmd, rest, ok := lookup(args); ok && len(rest) == 0 {
		if cmd.run == nil {
			c.usage(c.io.Stdout)
			return true
		}
		// The command prints its help, options included, when its flags
		// parse --help.
		c.cmd = cmd
		_ = cmd.run(ctx, c, []string{"--help"})
		return true
	}
	if len(args) == 1 {
		if cmds := nounCommands(args[0]); len(cmds) > 0 {
			c.nounHelp(c.io.Stdout, args[0], cmds)
			return true
		}
	}
	return false
}

// nounHelp lists the verbs of a noun.
func (c *cli) nounHelp(w io.Writer, noun string, cmds []command) {
	fmt.Fprintf(w, "shoalctl %s: the %s commands.\n\nCommands:\n", noun, noun)
	for _, cmd := range cmds {
		fmt.Fprintf(w, "  %-21s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "\nRun 'shoalctl help %s VERB' for a command's arguments, options and examples.\n", noun)
}

// commandHelp prints one command's help: what it does, its usage line,
// positional arguments, own options (from fs) and examples.
func (c *cli) commandHelp(w io.Writer, cmd command, fs *flag.FlagSet) {
	desc := cmd.description
	if desc == "" {
		desc = cmd.summary
	}
	fmt.Fprintf(w, "shoalctl %s: %s\n\nUsage:\n  shoalctl %s %s\n", cmd.name, cmd.summary, cmd.name, cmd.synopsis)
	if desc != cmd.summary {
		fmt.Fprintf(w, "\n%s\n", wrap(desc, 78))
	}
	if len(cmd.args) > 0 {
		fmt.Fprintf(w, "\nArguments:\n")
		for _, a := range cmd.args {
			fmt.Fprintf(w, "  %-14s %s\n", a[0], a[1])
		}
	}
	global := map[string]bool{}
	c.flags("").VisitAll(func(f *flag.Flag) { global[f.Name] = true })
	var opts []string
	if fs != nil {
		fs.VisitAll(func(f *flag.Flag) {
			if global[f.Name] {
				return
			}
			arg, usage := flag.UnquoteUsage(f)
			name := "--" + f.Name
			switch arg {
			case "":
			case "string":
				name += " TEXT"
			case "int", "uint":
				name += " N"
			case "value":
				name += " LIST"
			default:
				name += " " + strings.ToUpper(arg)
			}
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
				usage += " (default " + f.DefValue + ")"
			}
			opts = append(opts, fmt.Sprintf("  %-26s %s", name, usage))
		})
	}
	if len(opts) > 0 {
		fmt.Fprintf(w, "\nOptions:\n%s\n", strings.Join(opts, "\n"))
	}
	if len(cmd.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range cmd.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	if len(cmd.aliases) > 0 {
		fmt.Fprintf(w, "\nAlso spelled: %s\n", strings.Join(cmd.aliases, ", "))
	}
	fmt.Fprintf(w, "\nOptions for every command: --server, --ca, --token, --config, -o table|wide|json|yaml, --no-headers, --timeout (shoalctl help).\n")
}

// wrap breaks s into lines of at most width runes, at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		l := len([]rune(word))
		if i > 0 && n+1+l > width {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += l
	}
	return b.String()
}
