package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestTopicKeysAreRead guards against a topic setting that is accepted and
// documented but that nothing reads: for every topic key not marked
// Ignored, a valid non-default value must change a field of Topic, and some
// code outside this package must read that field. A new key either gets a
// reader or is marked Ignored, so docs/configuration.md says "No effect".
func TestTopicKeysAreRead(t *testing.T) {
	b, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Through the same path as the overrides below (no override applies).
	def := b.Topic(map[string]string{"not.a.key": "1"})
	read := selectorsOutside(t, "..", "config")
	for i := range table {
		k := &table[i]
		if !k.Topic || k.Ignored {
			continue
		}
		fields := changedFields(b, def, k)
		if fields == nil {
			t.Logf("%s: no valid value other than its default; skipped", k.Name)
			continue
		}
		// A key may also move derived fields (retention.ms moves
		// local.retention.ms's); one read field is enough.
		if !slices.ContainsFunc(fields, func(f string) bool { return read[f] }) {
			t.Errorf("%s sets Topic.%s, which no code outside internal/config reads: wire it, or mark the key Ignored", k.Name, strings.Join(fields, ", "))
		}
	}
}

// changedFields finds a valid value of k other than its default and
// returns the Topic fields it changes; nil when there is none.
func changedFields(b *Broker, def Topic, k *Key) []string {
	for _, v := range candidates(k) {
		if ValidateTopic(map[string]string{k.Name: v}) != nil {
			continue
		}
		got := b.Topic(map[string]string{k.Name: v})
		var fields []string
		dv, gv := reflect.ValueOf(def), reflect.ValueOf(got)
		for i := range dv.NumField() {
			if !reflect.DeepEqual(dv.Field(i).Interface(), gv.Field(i).Interface()) {
				fields = append(fields, dv.Type().Field(i).Name)
			}
		}
		if len(fields) > 0 {
			return fields
		}
	}
	return nil
}

func candidates(k *Key) []string {
	switch k.Type {
	case TypeBoolean:
		return []string{"true", "false"}
	case TypeInt, TypeShort, TypeLong:
		n, _ := strconv.ParseInt(k.Default, 10, 64)
		return []string{strconv.FormatInt(n+1, 10), strconv.FormatInt(n-1, 10), "1", "2", "100", "0"}
	case TypeDouble:
		return []string{"0.25", "0.75", "1"}
	}
	// Strings and lists: the words of the valid values, and pairs.
	words := strings.FieldsFunc(k.ValidValues(), func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' })
	out := append([]string(nil), words...)
	for _, a := range words {
		for _, b := range words {
			out = append(out, a+","+b)
		}
	}
	return out
}

// selectorsOutside returns the names used after a dot in the non-test Go
// files under root, except in the directory named skip.
func selectorsOutside(t *testing.T, root, skip string) map[string]bool {
	names := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == skip {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if s, ok := n.(*ast.SelectorExpr); ok {
				names[s.Sel.Name] = true
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}
