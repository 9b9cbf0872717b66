package topic

import (
	"io"

	"github.com/plexus/plexus/internal/cli/out"
)

// printResults prints per-topic outcomes as TOPIC STATUS rows, or JSON.
func printResults(w io.Writer, format string, rs []result) error {
	if format == out.JSON {
		if rs == nil {
			rs = []result{}
		}
		return out.WriteJSON(w, rs)
	}
	t := out.NewTable(w, "topic", "status")
	for _, r := range rs {
		status := r.Status
		if r.failed {
			status = r.Error
		}
		t.Row(r.Topic, status)
	}
	return t.Flush()
}
