package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/configuration.md must be what Markdown renders from the table.
func TestDocsUpToDate(t *testing.T) {
	path := filepath.Join("..", "..", DocsPath)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; generate it with: %s", err, DocsCommand)
	}
	if want := Markdown(); !bytes.Equal(got, want) {
		t.Fatalf("%s is stale; regenerate it from the module root with: %s", DocsPath, DocsCommand)
	}
}

func TestDocsListEveryKey(t *testing.T) {
	md := string(Markdown())
	for _, k := range Keys() {
		if !strings.Contains(md, "| `"+k.Name+"`") {
			t.Errorf("%s missing from the reference", k.Name)
		}
	}
	if !strings.Contains(md, "`write.caching` **Plexus**") || !strings.Contains(md, "`admin.listeners` **Plexus**") {
		t.Errorf("Plexus-only settings not marked")
	}
}
