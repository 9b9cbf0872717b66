package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plexus/plexus/internal/broker"
)

// docs/apis.md must be what the generator renders from the API table.
func TestDocsUpToDate(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", "..", docsPath))
	if err != nil {
		t.Fatalf("%v; generate it from the module root with: %s", err, docsCommand)
	}
	if !bytes.Equal(got, markdown()) {
		t.Fatalf("%s is stale: the API table changed; regenerate it from the module root with: %s", docsPath, docsCommand)
	}
}

func TestEveryServedAPIListed(t *testing.T) {
	md := string(markdown())
	apis := broker.APIs()
	if len(apis) == 0 {
		t.Fatal("empty API table")
	}
	for i, a := range apis {
		if i > 0 && apis[i-1].Key >= a.Key {
			t.Errorf("APIs not sorted by key at %d", a.Key)
		}
		if a.Name == "" || a.Name == "Unknown" || a.MinVersion > a.MaxVersion {
			t.Errorf("bad row %+v", a)
		}
		if !strings.Contains(md, "| "+a.Name+" | "+versions(a)+" |") {
			t.Errorf("%s missing from the page", a.Name)
		}
	}
	if !strings.Contains(md, "| 0 | Produce | ") || !strings.Contains(md, "| ApiVersions | ") {
		t.Error("Produce or ApiVersions missing")
	}
}
