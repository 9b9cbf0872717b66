// Package out prints command results: aligned tables and key-value
// sections for people, JSON for programs (--format json), and progress on
// stderr when it is a terminal.
package out

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// Output formats of the --format flag.
const (
	Text = "text"
	JSON = "json"
)

// FormatFlag adds --format (text or json) to cmd and returns where its
// value lands. Check it with CheckFormat before doing any work.
func FormatFlag(cmd *cobra.Command) *string {
	f := new(string)
	cmd.Flags().StringVar(f, "format", Text, "output format: text (aligned tables) or json")
	return f
}

// CheckFormat rejects a --format value other than text or json.
func CheckFormat(f string) error {
	switch f {
	case Text, JSON:
		return nil
	}
	return fmt.Errorf("--format %q: use text or json", f)
}

// Table writes rows aligned in columns, headers in upper case.
type Table struct {
	tw *tabwriter.Writer
}

// NewTable starts a table on w with the given column headers.
func NewTable(w io.Writer, headers ...string) *Table {
	t := &Table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(headers) > 0 {
		up := make([]any, len(headers))
		for i, h := range headers {
			up[i] = strings.ToUpper(h)
		}
		t.Row(up...)
	}
	return t
}

// Row adds one row; values are printed with %v.
func (t *Table) Row(cols ...any) {
	for i, c := range cols {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		s := fmt.Sprint(c)
		// A tab or newline inside a value would break the alignment.
		s = strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
		io.WriteString(t.tw, s)
	}
	io.WriteString(t.tw, "\n")
}

// Flush writes the table out.
func (t *Table) Flush() error { return t.tw.Flush() }

// Section prints a section title underlined, in the style of rpk:
//
//	SUMMARY
//	=======
func Section(w io.Writer, title string) {
	title = strings.ToUpper(title)
	fmt.Fprintf(w, "%s\n%s\n", title, strings.Repeat("=", len(title)))
}

// KV prints aligned key-value lines: pairs alternate key and value.
func KV(w io.Writer, pairs ...any) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(tw, "%v\t%v\n", pairs[i], pairs[i+1])
	}
	return tw.Flush()
}

// WriteJSON prints v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// IsTerminal reports whether w is a terminal (a character device).
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Progress redraws one status line on a terminal every interval while a
// long operation runs. On anything but a terminal it prints nothing, so
// scripts and logs see only the results.
type Progress struct {
	w    io.Writer
	text func() string
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// StartProgress shows text() on w every 250ms if w is a terminal; call
// Stop when the operation ends. It returns nil (whose Stop does nothing)
// when w is not a terminal.
func StartProgress(w io.Writer, text func() string) *Progress {
	if !IsTerminal(w) {
		return nil
	}
	p := &Progress{w: w, text: text, stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(p.w, "\r\033[K%s", p.text())
			}
		}
	}()
	return p
}

// Stop erases the status line and stops redrawing it.
func (p *Progress) Stop() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.stop) })
	p.done.Wait()
}
