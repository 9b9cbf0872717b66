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
	read, _ := namesOutside(t, "..", "config")
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

// TestBrokerKeysAreRead is the same guard for broker settings, which code
// reads by name (cfg.Long("log.retention.check.interval.ms")) or through
// the name's constant: every broker key that is not marked Ignored must be
// named outside internal/config or in this package's cross-key checks
// (broker.go), or supply a topic key's default (which TestTopicKeysAreRead
// covers), or be another key's default.
func TestBrokerKeysAreRead(t *testing.T) {
	selectors, literals := namesOutside(t, "..", "config")
	for n := range identsIn(t, "broker.go") {
		selectors[n] = true
	}
	consts := constNames(t, "names.go")
	fed := map[string]bool{} // keys that are a topic key's synonym or a default source
	for i := range table {
		for _, s := range table[i].BrokerSynonyms {
			fed[s.Name] = true
		}
		if table[i].DefaultFrom != "" {
			fed[table[i].DefaultFrom] = true
		}
	}
	for i := range table {
		k := &table[i]
		if !k.Broker || k.Topic || k.Ignored || fed[k.Name] {
			continue
		}
		if !literals[k.Name] && !selectors[consts[k.Name]] {
			t.Errorf("broker key %s is named nowhere outside internal/config: wire it, or mark it Ignored", k.Name)
		}
	}
}

// identsIn returns the identifiers used in file.
func identsIn(t *testing.T, file string) map[string]bool {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok {
			out[id.Name] = true
		}
		return true
	})
	return out
}

// constNames maps each key name to the name of its constant in file.
func constNames(t *testing.T, file string) map[string]string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, id := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[v] = id.Name
					}
				}
			}
		}
		return true
	})
	return out
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

// namesOutside returns the names used after a dot, and the string
// literals, in the non-test Go files under root, except in the directory
// named skip.
func namesOutside(t *testing.T, root, skip string) (selectors, literals map[string]bool) {
	selectors, literals = map[string]bool{}, map[string]bool{}
	inspectOutside(t, root, skip, func(_ *token.FileSet, n ast.Node) {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			selectors[n.Sel.Name] = true
		case *ast.BasicLit:
			if n.Kind == token.STRING {
				if v, err := strconv.Unquote(n.Value); err == nil {
					literals[v] = true
				}
			}
		}
	})
	return selectors, literals
}

// inspectOutside calls fn on every node of the non-test Go files under
// root, except in the directory named skip.
func inspectOutside(t *testing.T, root, skip string, fn func(*token.FileSet, ast.Node)) {
	t.Helper()
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
			fn(fset, n)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The broker's typed getters (Int, Long, Bool, Double, String, List) answer
// a zero value for a name the table does not hold, so a setting read by a
// misspelt or missing name silently takes no effect. Every literal name
// passed to them outside this package must be a key of the table.
func TestNamesReadAreKeys(t *testing.T) {
	getters := map[string]bool{"Int": true, "Long": true, "Bool": true, "Double": true, "String": true, "List": true}
	inspectOutside(t, "..", "config", func(fset *token.FileSet, n ast.Node) {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		lit, isLit := call.Args[0].(*ast.BasicLit)
		if !ok || !getters[sel.Sel.Name] || !isLit || lit.Kind != token.STRING {
			return
		}
		name, err := strconv.Unquote(lit.Value)
		if err != nil || !strings.Contains(name, ".") {
			return // not a config name
		}
		if _, known := Lookup(name); !known {
			t.Errorf("%s: %s(%q) reads a setting the config table does not have", fset.Position(lit.Pos()), sel.Sel.Name, name)
		}
	})
}
