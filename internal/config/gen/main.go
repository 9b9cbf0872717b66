// Command gen writes docs/configuration.md from the settings table in
// internal/config. Run it from the module root:
//
//	go run ./internal/config/gen
package main

import (
	"fmt"
	"os"

	"github.com/plexus/plexus/internal/config"
)

func main() {
	if err := os.WriteFile(config.DocsPath, config.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err, "(run from the module root)")
		os.Exit(1)
	}
}
