// Command gendocs writes docs/cli.md from the command tree in
// internal/cli. Run it from the module root:
//
//	go run ./internal/cli/gendocs
package main

import (
	"fmt"
	"os"

	"github.com/plexus/plexus/internal/cli"
)

func main() {
	if err := os.WriteFile(cli.DocsPath, cli.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err, "(run from the module root)")
		os.Exit(1)
	}
}
