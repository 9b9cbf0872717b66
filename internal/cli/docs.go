package cli

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// DocsPath is where the generated command reference lives, relative to
// the module root, and DocsCommand regenerates it.
const (
	DocsPath    = "docs/cli.md"
	DocsCommand = "go run ./internal/cli/gendocs"
)

// Markdown renders docs/cli.md from the command tree: the conventions
// every command follows, then each command's help, examples and flags. A
// test keeps the file equal to this output.
func Markdown() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	root := NewRoot()
	p("# Command line reference\n\n")
	p("<!-- Generated from the command tree in internal/cli by `%s`. Do not edit by hand. -->\n\n", DocsCommand)
	p("%s", conventions)
	p("## Commands\n\n")
	var walk func(c *cobra.Command)
	var all []*cobra.Command
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, c := range all[1:] {
		p("- [`%s`](#%s): %s\n", c.CommandPath(), anchor(c.CommandPath()), c.Short)
	}
	p("\n")
	for _, c := range all[1:] {
		p("## %s\n\n", c.CommandPath())
		desc := c.Long
		if desc == "" {
			desc = c.Short + "."
		}
		p("%s\n\n", fenceIndented(strings.TrimSpace(desc)))
		if c.Runnable() {
			p("```text\n%s\n```\n\n", c.UseLine())
		}
		if len(c.Aliases) > 0 {
			p("Aliases: %s.\n\n", "`"+strings.Join(c.Aliases, "`, `")+"`")
		}
		if c.Example != "" {
			p("Examples:\n\n```sh\n%s\n```\n\n", dedent(c.Example))
		}
		if fl := c.LocalFlags().FlagUsages(); fl != "" && c.Runnable() {
			p("Flags:\n\n```text\n%s```\n\n", fl)
		}
		if c.HasSubCommands() {
			p("Subcommands:")
			for _, sub := range c.Commands() {
				if !sub.Hidden && sub.Name() != "help" {
					p(" [`%s`](#%s)", sub.Name(), anchor(sub.CommandPath()))
				}
			}
			p(".\n\n")
		}
	}
	return b.Bytes()
}

// fenceIndented puts runs of lines indented by two spaces (examples and
// tables in help text) in fenced blocks, so Markdown keeps their layout.
func fenceIndented(s string) string {
	var out []string
	in := false
	for _, l := range strings.Split(s, "\n") {
		indented := strings.HasPrefix(l, "  ")
		if indented && !in {
			out = append(out, "```text")
			in = true
		} else if !indented && in && l != "" {
			out = append(out, "```")
			in = false
		}
		if in && l == "" {
			// A blank line inside a block ends it unless more indented
			// lines follow; decided when the next line comes.
			out = append(out, "")
			continue
		}
		out = append(out, strings.TrimPrefix(l, "  "))
	}
	if in {
		out = append(out, "```")
	}
	// Close blocks before the blank line that preceded the prose.
	return strings.ReplaceAll(strings.Join(out, "\n"), "\n\n```\n", "\n```\n\n")
}

func anchor(path string) string { return strings.ReplaceAll(strings.ToLower(path), " ", "-") }

func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "  ")
	}
	return strings.Join(lines, "\n")
}

const conventions = `One binary, ` + "`plexus`" + `, runs the broker and the tools to manage it, in the
style of Redpanda's ` + "`rpk`" + ` (one command per noun, one subcommand per verb, rpk's
flag names where rpk has one). The tools are built on franz-go and work with
any Kafka cluster, not only Plexus.

## Conventions

- **Which cluster.** Every command that talks to a cluster takes
  ` + "`--brokers host:port[,host:port...]`" + `; without it the ` + "`PLEXUS_BROKERS`" + `
  environment variable, else 127.0.0.1:9092, where ` + "`plexus serve`" + ` listens by default.
  A ` + "`PLAINTEXT://`" + ` prefix, as in Kafka's configs, is accepted.
- **Output.** Tables aligned in columns, headers in upper case, for people;
  ` + "`--format json`" + ` prints the same information as JSON for programs (ids
  in Kafka's URL-safe base64 form, offsets as numbers, -1 where there is
  none). ` + "`consume`" + ` prints records in the format of ` + "`-f`" + ` and ` + "`produce`" + `
  reads the format of ` + "`--format`" + `.
- **Errors.** A failed command prints ` + "`error: ...`" + ` on stderr, naming the
  problem and what to do about it, and exits with status 1. Commands acting on
  several topics or groups print a row for each, with the Kafka error name
  and the broker's message for those that failed, and fail if any did. A
  broker that cannot be reached is reported at once:
  ` + "``cannot connect to 127.0.0.1:9092: connection refused; is a broker running at 127.0.0.1:9092? start one with `plexus serve` or pass --brokers``" + `.
- **Progress.** ` + "`produce`" + ` and ` + "`consume`" + ` show a running count on stderr
  when stderr is a terminal (and, for consume, stdout is not); scripts and
  pipes see only results.
- **Interrupting.** Ctrl-C stops ` + "`consume`" + ` cleanly (exit status 0, offsets of
  a group member committed); ` + "`produce`" + ` delivers what it has read, then stops.
- **Help.** ` + "`plexus --help`" + ` and ` + "`plexus COMMAND --help`" + ` show what is below, with
  examples.

`
