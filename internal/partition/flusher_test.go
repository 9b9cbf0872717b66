package partition

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	plog "github.com/plexus/plexus/internal/log"
)

// fileSyncOnly hides the MemFS's whole-file-system sync, as the OS file
// system does on a kernel whose syncfs may drop errors, so the flusher
// falls back to syncing partitions one by one.
type fileSyncOnly struct{ plog.FS }

// Both flusher modes acknowledge a batch only once it is durable: after
// concurrent acks=all appends to several partitions, a power cut (the
// MemFS crash clone) keeps every acknowledged batch. So do syncfs rounds
// when a partition's directory is on another file system than the one
// they sync (mounted there, or linked to another disk): that partition
// syncs its own files.
func TestFlusherAcksSurviveCrash(t *testing.T) {
	const parts, perPart = 6, 40
	for _, mode := range []string{"syncfs rounds", "per-partition syncs", "syncfs rounds, partition 1 mounted"} {
		t.Run(mode, func(t *testing.T) {
			mem := plog.NewMemFS()
			var fs plog.FS = mem
			if mode == "per-partition syncs" {
				fs = fileSyncOnly{mem}
			}
			if got := plog.SupportsSyncFS(fs); got != (mode != "per-partition syncs") {
				t.Fatalf("SupportsSyncFS = %v in mode %q", got, mode)
			}
			if mode == "syncfs rounds, partition 1 mounted" {
				if err := mem.MkdirAll("/data/t-1", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := mem.Mount("/data/t-1"); err != nil {
					t.Fatal(err)
				}
			}
			fl := NewFlusher(3, fs, "/data")
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			open := func(fs plog.FS, i int, fl *Flusher) *Partition {
				p, err := Open(Options{
					Topic: "t", Index: int32(i), FS: fs, Dir: fmt.Sprintf("/data/t-%d", i),
					Config: testConfig(), Flusher: fl, Logger: logger,
					Now: func() time.Time { return time.UnixMilli(1_700_000_000_000) },
				})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			ps := make([]*Partition, parts)
			for i := range ps {
				ps[i] = open(fs, i, fl)
			}
			var wg sync.WaitGroup
			for i, p := range ps {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; n < perPart; n++ {
						_, ack, err := p.Append(batch(int64(i), 0, int32(n), 1, 1_700_000_000_000), -1)
						if err == nil {
							err = ack.Wait(10 * time.Second)
						}
						if err != nil {
							t.Errorf("partition %d batch %d: %v", i, n, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			for i, p := range ps {
				if hw := p.HighWatermark(); hw != perPart {
					t.Errorf("partition %d: high watermark %d after %d acknowledged batches", i, hw, perPart)
				}
			}
			// Power cut: only what was synced survives. The partitions
			// are not closed, so nothing is synced at shutdown.
			crashed := mem.CrashClone()
			for i := range ps {
				p := open(crashed, i, nil)
				if end := p.LogEndOffset(); end != perPart {
					t.Errorf("partition %d after the crash: log end %d, want %d acknowledged", i, end, perPart)
				}
				p.Close()
			}
			fl.Close()
		})
	}
}
