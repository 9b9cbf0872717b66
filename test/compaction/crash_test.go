package compaction

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/brokertest"
	plog "github.com/plexus/plexus/internal/log"
)

// stepFS is an in-memory disk that, while armed, copies itself after every
// operation that changes a file under watch: each copy is the disk as a
// kill -9 (Clone) or a power loss (CrashClone) at that moment leaves it.
type stepFS struct {
	*plog.MemFS
	mu    sync.Mutex
	watch string // path fragment; "" disarms
	kills []*plog.MemFS
	power []*plog.MemFS
	ops   []string
}

func (s *stepFS) step(op, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watch == "" || !strings.Contains(name, s.watch) {
		return
	}
	s.ops = append(s.ops, op+" "+name)
	s.kills = append(s.kills, s.MemFS.Clone())
	s.power = append(s.power, s.MemFS.CrashClone())
}

type stepFile struct {
	plog.File
	fs   *stepFS
	name string
}

func (s *stepFS) OpenFile(name string, flag int, perm os.FileMode) (plog.File, error) {
	f, err := s.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		s.step("create", name)
	}
	return &stepFile{File: f, fs: s, name: name}, nil
}

func (s *stepFS) Remove(name string) error {
	err := s.MemFS.Remove(name)
	s.step("remove", name)
	return err
}

func (s *stepFS) Rename(a, b string) error {
	err := s.MemFS.Rename(a, b)
	s.step("rename", a+" -> "+b)
	return err
}

func (s *stepFS) SyncDir(name string) error {
	err := s.MemFS.SyncDir(name)
	s.step("syncdir", name+"/")
	return err
}

func (f *stepFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.fs.step("write", f.name)
	return n, err
}

func (f *stepFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.fs.step("write", f.name)
	return n, err
}

func (f *stepFile) Sync() error {
	err := f.File.Sync()
	f.fs.step("sync", f.name)
	return err
}

func (f *stepFile) Truncate(n int64) error {
	err := f.File.Truncate(n)
	f.fs.step("truncate", f.name)
	return err
}

// TestCrashDuringCleaning kills the broker (and cuts the power) after
// every file operation of a cleaning pass, restarts it on what the disk
// holds, and reads the topic back with franz-go: every record read is one
// that was produced at that offset, offsets increase, every key has its
// latest value; a new pass then leaves exactly the latest values.
func TestCrashDuringCleaning(t *testing.T) {
	const dir = "/plexus-data"
	sfs := &stepFS{MemFS: plog.NewMemFS()}
	b := startBroker(t, brokertest.WithFS(sfs), brokertest.WithDataDir(dir))
	topic := topicName("crash")
	createTopic(t, b.Addr, topic, compactedConfigs("delete.retention.ms", "0"))
	w := newWorkload(25, 8, 3)
	produceFranz(t, b.Addr, topic, w, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	produced := map[int64]got{}
	for _, r := range readAllFranz(t, b.Addr, topic) {
		produced[r.offset] = r
	}
	ctx := ctxFor(t)
	sfs.mu.Lock()
	sfs.watch = "/" + topic + "-0/"
	sfs.mu.Unlock()
	// The first pass merges the segments of eight rounds into one and
	// keeps the tombstones; the second removes them.
	for i := 0; i < 2; i++ {
		if err := b.Broker.CleanNow(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	sfs.mu.Lock()
	sfs.watch = ""
	kills, power, ops := sfs.kills, sfs.power, sfs.ops
	sfs.mu.Unlock()
	b.Close()
	if len(ops) < 8 {
		t.Fatalf("only %d steps: %v", len(ops), ops)
	}
	t.Logf("%d steps", len(ops))
	want := w.expected(true)
	for i := range ops {
		for kind, fs := range map[string]*plog.MemFS{"kill": kills[i], "power": power[i]} {
			if kind == "power" && i%2 == 1 && testing.Short() {
				continue
			}
			t.Run(fmt.Sprintf("%s-%02d", kind, i), func(t *testing.T) {
				rb := startBroker(t, brokertest.WithFS(fs), brokertest.WithDataDir(dir))
				recs := readAllFranz(t, rb.Addr, topic)
				state := map[string][]byte{}
				prev := int64(-1)
				for _, r := range recs {
					p, ok := produced[r.offset]
					if r.offset <= prev || !ok || p.key != r.key || string(p.value) != string(r.value) {
						t.Fatalf("after %q: read %s=%q at %d (after %d), produced %s=%q there", ops[i], r.key, r.value, r.offset, prev, p.key, p.value)
					}
					prev = r.offset
					if r.value == nil {
						delete(state, r.key)
					} else {
						state[r.key] = r.value
					}
				}
				if len(state) != len(want) {
					t.Fatalf("after %q: %d live keys, want %d", ops[i], len(state), len(want))
				}
				for k, v := range want {
					if string(state[k]) != string(v) {
						t.Fatalf("after %q: key %s is %q, want %q", ops[i], k, state[k], v)
					}
				}
				for pass := 0; pass < 2; pass++ { // the second takes the tombstones
					if err := rb.Broker.CleanNow(ctxFor(t), topic); err != nil {
						t.Fatal(err)
					}
				}
				checkCompacted(t, readAllFranz(t, rb.Addr, topic), want)
			})
		}
	}
}
