package log

import (
	"errors"
	"syscall"
	"testing"
)

func TestAppendWriteFault(t *testing.T) {
	for _, partial := range []bool{false, true} {
		mem := NewMemFS()
		ffs := NewFaultFS(mem)
		c := smallConfig()
		l := openLog(t, ffs, c)
		want := appendN(t, l, 30, batchSpec{records: 2, valueSz: 40, ts: 1})
		end, size := l.EndOffset(), l.Size()
		segs := l.Segments()

		ffs.Inject(Fault{Ops: OpWrite, Path: ".log", Err: syscall.ENOSPC, Partial: partial})
		big := append(makeBatch(t, batchSpec{records: 3, valueSz: 40, ts: 1}), makeBatch(t, batchSpec{records: 3, valueSz: 40, ts: 1})...)
		if _, _, err := l.Append(big); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("append on a full disk: %v", err)
		}
		if ffs.Hits() == 0 {
			t.Fatal("fault not hit")
		}
		if l.EndOffset() != end || l.Size() != size {
			t.Fatalf("log changed by a failed append: end %d size %d", l.EndOffset(), l.Size())
		}
		active := segs[len(segs)-1]
		if fi, err := mem.Stat(segFile(active.BaseOffset, logExt)); err != nil || fi.Size() != active.Size {
			t.Fatalf("partial write left in the file: %v", err)
		}
		sameBatches(t, readAll(t, l, 0), want)
		if d, err := l.Flush(); err != nil || d != end {
			t.Fatalf("flush after a failed append: %d %v", d, err)
		}

		ffs.Clear()
		more := appendN(t, l, 10, batchSpec{records: 2, valueSz: 40, ts: 1})
		want = append(want, more...)
		sameBatches(t, readAll(t, l, 0), want)
		mustFlush(t, l)
		r := openLog(t, mem.CrashClone(), c)
		sameBatches(t, readAll(t, r, 0), want)
		r.Close()
		mustClose(t, l)
	}
}

func TestRollFault(t *testing.T) {
	mem := NewMemFS()
	ffs := NewFaultFS(mem)
	c := smallConfig()
	l := openLog(t, ffs, c)
	defer l.Close()
	var want [][]byte
	ffs.Inject(Fault{Ops: OpOpen, Path: ".log", Err: syscall.ENOSPC})
	failed := false
	for i := 0; i < 40; i++ {
		b := makeBatch(t, batchSpec{records: 2, valueSz: 40, ts: 1})
		if _, _, err := l.Append(b); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			failed = true
			break
		}
		want = append(want, b)
	}
	if !failed {
		t.Fatal("no roll happened")
	}
	sameBatches(t, readAll(t, l, 0), want)
	ffs.Clear()
	want = append(want, appendN(t, l, 20, batchSpec{records: 2, valueSz: 40, ts: 1})...)
	sameBatches(t, readAll(t, l, 0), want)
	mustFlush(t, l)
	r := openLog(t, mem.CrashClone(), c)
	defer r.Close()
	sameBatches(t, readAll(t, r, 0), want)
}

func TestFlushSyncFault(t *testing.T) {
	cases := []struct {
		name  string
		fault Fault
	}{
		{"segment sync", Fault{Ops: OpSync, Path: ".log", Err: syscall.EIO}},
		{"segment sync drops pages", Fault{Ops: OpSync, Path: ".log", Err: syscall.EIO, DropUnsynced: true}},
		{"second segment sync", Fault{Ops: OpSync, Path: ".log", Err: syscall.EIO, After: 1, DropUnsynced: true}},
		{"index write", Fault{Ops: OpWrite, Path: ".index", Err: syscall.ENOSPC}},
		{"directory sync", Fault{Ops: OpSyncDir, Err: syscall.EIO}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := NewMemFS()
			ffs := NewFaultFS(mem)
			c := smallConfig()
			l := openLog(t, ffs, c)
			defer l.Close()
			want := appendN(t, l, 20, batchSpec{records: 2, valueSz: 40, ts: 1})
			durable := mustFlush(t, l)
			// Enough to roll at least once, so index and directory syncs are due.
			extra := appendN(t, l, 30, batchSpec{records: 2, valueSz: 40, ts: 1})

			ffs.Inject(tc.fault)
			d, err := l.Flush()
			if err == nil {
				t.Fatalf("flush reported success (durable %d) with a failing disk", d)
			}
			if ffs.Hits() == 0 {
				t.Fatal("fault not hit")
			}
			if d != durable || l.DurableOffset() != durable {
				t.Fatalf("flush error reported durable %d (log says %d), want %d", d, l.DurableOffset(), durable)
			}
			if l.EndOffset() != durable {
				t.Fatalf("log not truncated to the durable offset: end %d, durable %d", l.EndOffset(), durable)
			}
			sameBatches(t, readAll(t, l, 0), want)
			// Whatever a crash now keeps, it is at least the durable part.
			r := openLog(t, mem.CrashClone(), c)
			if r.EndOffset() < durable {
				t.Fatalf("crash after a failed flush lost durable data: end %d < %d", r.EndOffset(), durable)
			}
			sameBatches(t, readAll(t, r, 0)[:len(want)], want)
			r.Close()

			ffs.Clear()
			_ = extra
			more := appendN(t, l, 30, batchSpec{records: 2, valueSz: 50, ts: 7})
			want = append(want, more...)
			if d := mustFlush(t, l); d != l.EndOffset() {
				t.Fatalf("flush after the fault cleared: %d, end %d", d, l.EndOffset())
			}
			sameBatches(t, readAll(t, l, 0), want)
			r = openLog(t, mem.CrashClone(), c)
			sameBatches(t, readAll(t, r, 0), want)
			r.Close()
		})
	}
}

func TestCheckpointFaults(t *testing.T) {
	mem := NewMemFS()
	ffs := NewFaultFS(mem)
	c := smallConfig()
	l := openLog(t, ffs, c)
	defer l.Close()
	want := appendN(t, l, 50, batchSpec{records: 2, valueSz: 40, ts: 1})

	// The recovery point is best effort: the flush is still good.
	ffs.Inject(Fault{Ops: OpRename, Path: recoveryCheckpointFile, Err: syscall.EIO})
	if d, err := l.Flush(); err != nil || d != l.EndOffset() {
		t.Fatalf("flush with a failing checkpoint: %d %v", d, err)
	}
	r := openLog(t, mem.CrashClone(), c)
	sameBatches(t, readAll(t, r, 0), want)
	r.Close()

	// DeleteRecords is not applied unless it is durable.
	ffs.Inject(Fault{Ops: OpSync, Path: startCheckpointFile, Err: syscall.EIO})
	if err := l.SetStartOffset(30); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SetStartOffset with a failing disk: %v", err)
	}
	if l.StartOffset() != 0 {
		t.Fatalf("start offset moved to %d", l.StartOffset())
	}
	ffs.Clear()
	if err := l.SetStartOffset(30); err != nil || l.StartOffset() != 30 {
		t.Fatalf("SetStartOffset after the fault: %v", err)
	}
}

func TestReadAndOpenFaults(t *testing.T) {
	mem := NewMemFS()
	ffs := NewFaultFS(mem)
	c := smallConfig()
	l := openLog(t, ffs, c)
	want := appendN(t, l, 30, batchSpec{records: 2, valueSz: 40, ts: 1})
	ffs.Inject(Fault{Ops: OpRead, Path: ".log", Err: syscall.EIO})
	if _, err := l.Read(nil, 0, 1000, l.EndOffset()); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read with a failing disk: %v", err)
	}
	ffs.Clear()
	sameBatches(t, readAll(t, l, 0), want)
	mustFlush(t, l)
	crashed := NewFaultFS(mem.Clone())
	mustClose(t, l)

	// An I/O error during recovery fails Open and truncates nothing.
	crashed.Inject(Fault{Ops: OpRead, Path: ".log", Err: syscall.EIO})
	if _, err := tryOpen(t, crashed, c); !errors.Is(err, syscall.EIO) {
		t.Fatalf("open with a failing disk: %v", err)
	}
	crashed.Clear()
	r := openLog(t, crashed, c)
	defer r.Close()
	sameBatches(t, readAll(t, r, 0), want)
}
