package log

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/records"
)

func TestCleanKeepsLatest(t *testing.T) {
	clk := newClock()
	fs := NewMemFS()
	l := openLog(t, fs, compactConfig(), withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	latest := map[string]int64{}
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("k%d", i%10)
		first, _ := mustAppend(t, l, keyedBatch(t, h, rec(k, fmt.Sprintf("v%d", i), clk.ms())))
		latest[k] = first
	}
	mustFlush(t, l)
	before := len(l.Segments())
	res := cleanNow(t, l, clk.now(), 1000)
	if !res.Cleaned {
		t.Fatal("nothing cleaned")
	}
	rs, _ := readRecords(t, l)
	seen := map[string]int{}
	active := l.Segments()[len(l.Segments())-1].BaseOffset
	for _, r := range rs {
		if r.offset < active {
			seen[r.key]++
			if seen[r.key] > 1 {
				t.Fatalf("key %s twice below the active segment", r.key)
			}
		}
	}
	for k, off := range latest {
		found := false
		for _, r := range rs {
			if r.key == k && r.offset == off {
				found = true
			}
		}
		if !found {
			t.Fatalf("latest record of %s (offset %d) missing", k, off)
		}
	}
	// Groups are formed by the sizes before cleaning, as Kafka does: the
	// next pass merges the small cleaned segments.
	res2 := cleanNow(t, l, clk.now(), 1000)
	if after := len(l.Segments()); after != 2 || res2.SegmentsAfter != 1 {
		t.Fatalf("segments %d -> %d (%+v)", before, after, res2)
	}
	if rs2, _ := readRecords(t, l); len(rs2) != len(rs) {
		t.Fatalf("%d records after the second pass, %d before", len(rs2), len(rs))
	}
	// The same after a restart.
	mustClose(t, l)
	l = openLog(t, fs, compactConfig(), withClock(clk))
	rs2, _ := readRecords(t, l)
	if len(rs2) != len(rs) {
		t.Fatalf("%d records after reopen, %d before", len(rs2), len(rs))
	}
	if got := l.CleanerCheckpoint(); got != res.CleanedTo {
		t.Fatalf("checkpoint %d, want %d", got, res.CleanedTo)
	}
}

// oneBatchPerSegment makes every append roll, so each batch is a segment.
func oneBatchPerSegment() Config {
	c := smallConfig()
	c.SegmentBytes = 1
	return c
}

func TestCleanTombstoneHorizon(t *testing.T) {
	clk := newClock()
	l := openLog(t, NewMemFS(), oneBatchPerSegment(), withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	mustAppend(t, l, keyedBatch(t, h, rec("a", "1", clk.ms()), rec("b", "1", clk.ms())))
	del, _ := mustAppend(t, l, keyedBatch(t, h, rec("a", "", clk.ms()+5)))
	mustAppend(t, l, keyedBatch(t, h, rec("c", "1", clk.ms()+6)))
	mustFlush(t, l)
	const retention = 60_000
	res := cleanNow(t, l, clk.now(), retention)
	rs, batches := readRecords(t, l)
	var tomb *records.Batch
	for i, b := range batches {
		if b.BaseOffset() == del {
			tomb = &batches[i]
		}
	}
	if tomb == nil || !tomb.HasDeleteHorizon() || tomb.BaseTimestamp() != clk.ms()+retention {
		t.Fatalf("tombstone batch %v: want delete horizon %d", tomb, clk.ms()+retention)
	}
	if res.DeleteHorizon != clk.ms()+retention {
		t.Fatalf("result horizon %d", res.DeleteHorizon)
	}
	for _, r := range rs {
		if r.key == "a" && !r.tombstone {
			t.Fatalf("old value of a survived: %+v", r)
		}
		if r.key == "a" && r.ts != clk.ms()+5 {
			t.Fatalf("tombstone timestamp %d, want %d", r.ts, clk.ms()+5)
		}
	}
	// Before the horizon it stays; at the horizon it goes.
	clk.add(retention*time.Millisecond - time.Millisecond)
	cleanNow(t, l, clk.now(), retention)
	if rs, _ := readRecords(t, l); !hasKey(rs, "a") {
		t.Fatal("tombstone gone before its horizon")
	}
	clk.add(time.Millisecond)
	res = cleanNow(t, l, clk.now(), retention)
	if rs, _ := readRecords(t, l); hasKey(rs, "a") || !hasKey(rs, "b") {
		t.Fatalf("after the horizon: %+v", rs)
	}
	if res.DeleteHorizon != -1 {
		t.Fatalf("horizon %d left", res.DeleteHorizon)
	}
}

func hasKey(rs []logRecord, k string) bool {
	for _, r := range rs {
		if r.key == k {
			return true
		}
	}
	return false
}

func TestCleanCodecsAndHeaders(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			clk := newClock()
			l := openLog(t, NewMemFS(), oneBatchPerSegment(), withClock(clk))
			defer l.Close()
			h := records.NewHeader()
			h.Codec = codec
			h.LeaderEpoch = 3
			mustAppend(t, l, keyedBatch(t, h, rec("a", "1", 100), rec("b", "2", 101), rec("c", "3", 102)))
			mustAppend(t, l, keyedBatch(t, h, rec("b", "new", 200)))
			mustAppend(t, l, keyedBatch(t, h, rec("z", "z", 300)))
			mustFlush(t, l)
			cleanNow(t, l, clk.now(), 1000)
			rs, batches := readRecords(t, l)
			first := batches[0]
			if first.Codec() != codec || first.NumRecords() != 2 || first.LastOffsetDelta() != 2 ||
				first.PartitionLeaderEpoch() != 3 || first.MaxTimestamp() != 102 || first.BaseTimestamp() != 100 {
				t.Fatalf("rebuilt batch: codec %v records %d last delta %d epoch %d ts %d..%d",
					first.Codec(), first.NumRecords(), first.LastOffsetDelta(), first.PartitionLeaderEpoch(), first.BaseTimestamp(), first.MaxTimestamp())
			}
			want := []logRecord{{offset: 0, key: "a", value: "1", ts: 100}, {offset: 2, key: "c", value: "3", ts: 102}, {offset: 3, key: "b", value: "new", ts: 200}}
			for i, w := range want {
				if rs[i].offset != w.offset || rs[i].key != w.key || rs[i].value != w.value || rs[i].ts != w.ts {
					t.Fatalf("record %d: %+v, want %+v", i, rs[i], w)
				}
			}
			// Headers survive.
			it, _, err := first.Records(nil, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var r records.Record
			for it.Next(&r) {
				n := 0
				r.EachHeader(func(k, v []byte) {
					n++
					if string(k) != "h" || string(v) != fmt.Sprint(r.OffsetDelta) {
						t.Fatalf("header %q=%q on record %d", k, v, r.OffsetDelta)
					}
				})
				if n != 1 {
					t.Fatalf("%d headers", n)
				}
			}
		})
	}
}

func TestCleanKeepsProducerState(t *testing.T) {
	clk := newClock()
	fs := NewMemFS()
	l := openLog(t, fs, oneBatchPerSegment(), withClock(clk))
	defer func() { l.Close() }()
	h := records.NewHeader()
	h.ProducerID, h.ProducerEpoch = 42, 3
	h.BaseSequence = 0
	mustAppend(t, l, keyedBatch(t, h, rec("a", "1", 1), rec("b", "1", 1)))
	h.BaseSequence = 2
	last, _ := mustAppend(t, l, keyedBatch(t, h, rec("a", "2", 2), rec("b", "2", 2)))
	plain := records.NewHeader()
	mustAppend(t, l, keyedBatch(t, plain, rec("a", "3", 3), rec("b", "3", 3)))
	mustAppend(t, l, keyedBatch(t, plain, rec("zz", "x", 4)))
	mustFlush(t, l)
	cleanNow(t, l, clk.now(), 1000)
	_, batches := readRecords(t, l)
	// The producer's first batch went; its last one stays, emptied, with
	// the sequence state a restarted broker rebuilds from it.
	var got []records.Batch
	for _, b := range batches {
		if b.ProducerID() == 42 {
			got = append(got, b)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d batches of the producer left", len(got))
	}
	b := got[0]
	if b.BaseOffset() != last || b.NumRecords() != 0 || b.LastOffsetDelta() != 1 || b.BaseSequence() != 2 ||
		b.LastSequence() != 3 || b.ProducerEpoch() != 3 || b.Codec() != records.CodecNone || b.MaxTimestamp() != 2 {
		t.Fatalf("empty batch: base %d records %d delta %d seq %d..%d epoch %d", b.BaseOffset(), b.NumRecords(),
			b.LastOffsetDelta(), b.BaseSequence(), b.LastSequence(), b.ProducerEpoch())
	}
	// A later batch of the producer lets the empty one go.
	h.BaseSequence = 4
	mustAppend(t, l, keyedBatch(t, h, rec("q", "1", 5)))
	mustAppend(t, l, keyedBatch(t, plain, rec("zz", "y", 6)))
	mustFlush(t, l)
	cleanNow(t, l, clk.now(), 1000)
	_, batches = readRecords(t, l)
	for _, b := range batches {
		if b.ProducerID() == 42 && b.NumRecords() == 0 {
			t.Fatalf("empty batch at %d kept though no longer the producer's last", b.BaseOffset())
		}
	}
}

func TestCleanTransactions(t *testing.T) {
	clk := newClock()
	l := openLog(t, NewMemFS(), oneBatchPerSegment(), withClock(clk))
	defer l.Close()
	plain := records.NewHeader()
	txn := func(pid int64) records.BatchHeader {
		h := records.NewHeader()
		h.ProducerID, h.ProducerEpoch, h.BaseSequence, h.Transactional = pid, 0, 0, true
		return h
	}
	mustAppend(t, l, keyedBatch(t, plain, rec("k1", "a", 1)))
	aborted, _ := mustAppend(t, l, keyedBatch(t, txn(7), rec("k1", "aborted", 2), rec("k2", "aborted", 2)))
	abortMarker, _ := mustAppend(t, l, controlBatch(t, 7, 0, false, 3))
	committed, _ := mustAppend(t, l, keyedBatch(t, txn(8), rec("k3", "z", 4)))
	commitMarker, _ := mustAppend(t, l, controlBatch(t, 8, 0, true, 5))
	mustAppend(t, l, keyedBatch(t, plain, rec("k3", "w", 6)))
	// Producers 7 and 8 move on, so their earlier batches are not their last.
	h7 := txn(7)
	h7.BaseSequence = 2
	mustAppend(t, l, keyedBatch(t, h7, rec("other7", "1", 7)))
	mustAppend(t, l, controlBatch(t, 7, 0, true, 8))
	h8 := txn(8)
	h8.BaseSequence = 1
	mustAppend(t, l, keyedBatch(t, h8, rec("other8", "1", 9)))
	mustAppend(t, l, controlBatch(t, 8, 0, true, 10))
	// An open transaction bounds cleaning.
	open, _ := mustAppend(t, l, keyedBatch(t, txn(9), rec("k1", "open", 11)))
	mustAppend(t, l, keyedBatch(t, plain, rec("k2", "after-open", 12)))
	mustAppend(t, l, keyedBatch(t, plain, rec("tail", "t", 13)))
	mustFlush(t, l)

	const retention = 10_000
	res := cleanNow(t, l, clk.now(), retention)
	if res.Through > open {
		t.Fatalf("cleaned through %d, past the open transaction at %d", res.Through, open)
	}
	offsets := func() map[int64]records.Batch {
		_, bs := readRecords(t, l)
		m := map[int64]records.Batch{}
		for _, b := range bs {
			m[b.BaseOffset()] = b
		}
		return m
	}
	bs := offsets()
	if _, ok := bs[aborted]; ok {
		t.Fatal("aborted data survived the first pass")
	}
	if b, ok := bs[abortMarker]; !ok || b.HasDeleteHorizon() {
		t.Fatal("abort marker must stay, without a horizon, on the pass that removed its data")
	}
	if _, ok := bs[committed]; ok {
		t.Fatal("committed data superseded by k3=w survived")
	}
	if b, ok := bs[commitMarker]; !ok || b.HasDeleteHorizon() {
		t.Fatal("commit marker must stay on the pass that saw its data")
	}
	if _, ok := bs[open]; !ok {
		t.Fatal("open transaction's batch touched")
	}
	// Next pass: the markers' data is gone, they get a horizon...
	clk.add(time.Second)
	cleanNow(t, l, clk.now(), retention)
	bs = offsets()
	for _, m := range []int64{abortMarker, commitMarker} {
		if b, ok := bs[m]; !ok || !b.HasDeleteHorizon() || b.BaseTimestamp() != clk.ms()+retention {
			t.Fatalf("marker at %d: want a horizon of %d", m, clk.ms()+retention)
		}
	}
	// ...and go after it.
	clk.add(retention * time.Millisecond)
	cleanNow(t, l, clk.now(), retention)
	bs = offsets()
	for _, m := range []int64{abortMarker, commitMarker} {
		if _, ok := bs[m]; ok {
			t.Fatalf("marker at %d survived its horizon", m)
		}
	}
	rs, _ := readRecords(t, l)
	state := map[string]string{}
	for _, r := range rs {
		state[r.key] = r.value
	}
	if state["k1"] != "open" || state["k2"] != "after-open" || state["k3"] != "w" {
		t.Fatalf("state %v", state)
	}
}

func TestCleanBounds(t *testing.T) {
	clk := newClock()
	l := openLog(t, NewMemFS(), oneBatchPerSegment(), withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	for i := 0; i < 10; i++ {
		mustAppend(t, l, keyedBatch(t, h, rec("k", fmt.Sprint(i), clk.ms())))
		clk.add(time.Second)
	}
	// Nothing durable yet: nothing cleaned.
	if res := cleanNow(t, l, clk.now(), 0); res.Cleaned {
		t.Fatalf("cleaned beyond the durable offset: %+v", res)
	}
	mustFlush(t, l)
	// UpTo bounds it to whole segments below it.
	res, err := l.Clean(CleanOptions{UpTo: 4, Now: clk.now()})
	if err != nil || res.Through != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	// min.compaction.lag.ms: records younger than 3.5s stay uncleaned.
	res, err = l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: clk.now(), MinCompactionLagMs: 3500})
	if err != nil || res.Through != 7 {
		t.Fatalf("%+v %v", res, err)
	}
	// The active segment never.
	res = cleanNow(t, l, clk.now(), 0)
	if res.Through != 9 || l.EndOffset() != 10 {
		t.Fatalf("%+v", res)
	}
	rs, _ := readRecords(t, l)
	if len(rs) != 2 || rs[0].offset != 8 || rs[1].offset != 9 {
		t.Fatalf("records %+v", rs)
	}
}

func TestDirtiness(t *testing.T) {
	clk := newClock()
	l := openLog(t, NewMemFS(), oneBatchPerSegment(), withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	for i := 0; i < 10; i++ {
		mustAppend(t, l, keyedBatch(t, h, rec("k", fmt.Sprint(i), clk.ms())))
		clk.add(time.Second)
	}
	mustFlush(t, l)
	d, err := l.Dirtiness(math.MaxInt64, 0, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	if d.CleanBytes != 0 || d.DirtyBytes == 0 || d.Ratio != 1 || d.FirstUncleanable != 9 || d.CleanableSegments != 9 ||
		d.EarliestDirtyTimestamp != newClock().ms() {
		t.Fatalf("%+v", d)
	}
	cleanNow(t, l, clk.now(), 0)
	d, _ = l.Dirtiness(math.MaxInt64, 0, clk.now())
	if d.DirtyBytes != 0 || d.Ratio != 0 || d.FirstDirty != 9 || d.CleanBytes == 0 {
		t.Fatalf("after cleaning: %+v", d)
	}
	for i := 0; i < 3; i++ {
		mustAppend(t, l, keyedBatch(t, h, rec("k", fmt.Sprint(i), clk.ms())))
		clk.add(time.Second)
	}
	mustFlush(t, l)
	d, _ = l.Dirtiness(math.MaxInt64, 0, clk.now())
	if d.Ratio <= 0 || d.Ratio >= 1 || d.FirstDirty != 9 || d.FirstUncleanable != 12 {
		t.Fatalf("new dirt: %+v", d)
	}
	d, _ = l.Dirtiness(math.MaxInt64, 2500, clk.now())
	if d.FirstUncleanable != 11 {
		t.Fatalf("with lag: %+v", d)
	}
}

func TestThrottler(t *testing.T) {
	now := time.Unix(0, 0)
	var slept time.Duration
	th := &Throttler{Rate: func() float64 { return 1000 }, Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error { slept += d; now = now.Add(d); return nil }}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		th.Wait(ctx, 500)
	}
	// 5000 bytes at 1000 B/s: 5s, less the 100ms burst allowance.
	if slept < 4800*time.Millisecond || slept > 5*time.Second {
		t.Fatalf("slept %v", slept)
	}
	unlimited := &Throttler{Rate: func() float64 { return math.MaxFloat64 }}
	if err := unlimited.Wait(ctx, 1<<30); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	slow := &Throttler{Rate: func() float64 { return 1 }}
	if err := slow.Wait(cctx, 1<<20); err == nil {
		t.Fatal("a cancelled wait returned nil")
	}
}

// TestCleanConcurrent cleans over and over while appends, reads, flushes
// and retention go on. Reads must always return valid batches in offset
// order; once the appends stop, every sweep from the start must find the
// latest record of every key, however the cleaner replaces segments under
// it.
func TestCleanConcurrent(t *testing.T) {
	c := compactConfig()
	c.SegmentBytes = 700
	l := openLog(t, NewMemFS(), c)
	defer l.Close()
	var mu sync.Mutex
	latest := map[string]int64{}
	const keys = 25
	stopAll := make(chan struct{})
	var wg sync.WaitGroup
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		h := records.NewHeader()
		n := 3000
		if raceEnabled {
			n = 500
		}
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("k%d", i%keys)
			h.Codec = allCodecs[i%len(allCodecs)]
			first, _, err := l.Append(keyedBatch(t, h, rec(k, fmt.Sprint(i), int64(i))))
			if err != nil {
				t.Errorf("Append: %v", err)
				return
			}
			mu.Lock()
			latest[k] = first
			mu.Unlock()
			if i%20 == 0 {
				if _, err := l.Flush(); err != nil {
					t.Errorf("Flush: %v", err)
					return
				}
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopAll:
				return
			default:
			}
			if _, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, DeleteRetentionMs: 0}); err != nil && !errors.Is(err, ErrCleanAborted) {
				t.Errorf("Clean: %v", err)
				return
			}
			l.Dirtiness(math.MaxInt64, 0, time.Now())
		}
	}()
	sweep := func() map[int64]bool {
		got := map[int64]bool{}
		off, end := l.StartOffset(), l.EndOffset()
		prev := int64(-1)
		for off < end {
			buf, err := l.Read(nil, off, 4096, math.MaxInt64)
			if err != nil {
				t.Errorf("Read(%d): %v", off, err)
				return nil
			}
			if len(buf) == 0 {
				break
			}
			for len(buf) > 0 {
				b, rest, err := records.Next(buf)
				if err != nil || b.Check() != nil || b.BaseOffset() <= prev || b.LastOffset() < off {
					t.Errorf("Read(%d): bad or out of order batch at %d (prev %d): %v", off, b.BaseOffset(), prev, err)
					return nil
				}
				prev = b.LastOffset()
				it, _, _ := b.Records(nil, 1<<20)
				var r records.Record
				for it.Next(&r) {
					got[b.BaseOffset()+int64(r.OffsetDelta)] = true
				}
				off = b.LastOffset() + 1
				buf = rest
			}
		}
		return got
	}
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	for sweeping := true; sweeping && !t.Failed(); {
		select {
		case <-done:
			sweeping = false
		default:
			sweep()
		}
	}
	mustFlush(t, l)
	for i := 0; i < 200 && !t.Failed(); i++ {
		got := sweep()
		for k, off := range latest {
			if !got[off] {
				t.Fatalf("sweep %d: latest record of %s (offset %d) not read", i, k, off)
			}
		}
	}
	close(stopAll)
	wg.Wait()
}

func TestCleanPartialMap(t *testing.T) {
	clk := newClock()
	l := openLog(t, NewMemFS(), compactConfig(), withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	latest := map[string]int64{}
	for i := 0; i < 400; i++ {
		k := fmt.Sprintf("k%d", (i*7)%50)
		first, _ := mustAppend(t, l, keyedBatch(t, h, rec(k, fmt.Sprint(i), int64(i))))
		latest[k] = first
	}
	mustFlush(t, l)
	passes := 0
	for {
		res, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: clk.now(), MaxMapEntries: 20})
		if err != nil {
			t.Fatal(err)
		}
		passes++
		rs, _ := readRecords(t, l)
		have := map[int64]bool{}
		for _, r := range rs {
			have[r.offset] = true
		}
		for k, off := range latest {
			if !have[off] {
				t.Fatalf("pass %d: latest of %s (%d) lost", passes, k, off)
			}
		}
		d, _ := l.Dirtiness(math.MaxInt64, 0, clk.now())
		if d.DirtyBytes == 0 {
			break
		}
		if passes > 100 || !res.Cleaned {
			t.Fatalf("no progress: %+v %+v", res, d)
		}
	}
	if passes < 3 {
		t.Fatalf("%d passes: the map bound did not bite", passes)
	}
	rs, _ := readRecords(t, l)
	seen := map[string]bool{}
	for _, r := range rs {
		if r.offset < l.CleanerCheckpoint() {
			if seen[r.key] {
				t.Fatalf("key %s twice below the checkpoint", r.key)
			}
			seen[r.key] = true
		}
	}
}

// TestRecoverKeepsEndAfterCleanedGap: below the cleaner checkpoint a
// segment's batches may end before the next segment begins. An unclean
// restart that must validate such a segment keeps an empty active segment
// after it, so the log end offset does not go back.
func TestRecoverKeepsEndAfterCleanedGap(t *testing.T) {
	clk := newClock()
	fs := NewMemFS()
	l := openLog(t, fs, oneBatchPerSegment(), withClock(clk))
	h := records.NewHeader()
	two := append(keyedBatch(t, h, rec("a", "1", 1)), keyedBatch(t, h, kv{value: []byte("no key"), ts: 1})...)
	mustAppend(t, l, two)
	mustAppend(t, l, keyedBatch(t, h, rec("b", "1", 2)))
	mustFlush(t, l)
	cleanNow(t, l, clk.now(), 0)
	mustClose(t, l)
	// The active segment lost its batch, and with it the checkpoints.
	writeTestFile(t, fs, segFile(2, logExt), nil)
	fs.Remove(testDir + "/" + cleanShutdownFile)
	fs.Remove(testDir + "/" + recoveryCheckpointFile)
	l = openLog(t, fs, oneBatchPerSegment(), withClock(clk))
	defer l.Close()
	if l.EndOffset() != 2 {
		t.Fatalf("end offset %d, want 2", l.EndOffset())
	}
	if first, _ := mustAppend(t, l, keyedBatch(t, h, rec("c", "1", 3))); first != 2 {
		t.Fatalf("appended at %d", first)
	}
}

// TestRangeSwapRecovery: a committed swap file replaces exactly the
// segments of its range, even when its batches end early or it is empty.
func TestRangeSwapRecovery(t *testing.T) {
	clk := newClock()
	fs := NewMemFS()
	l := openLog(t, fs, oneBatchPerSegment(), withClock(clk))
	h := records.NewHeader()
	for i := 0; i < 5; i++ {
		mustAppend(t, l, keyedBatch(t, h, rec(fmt.Sprint("k", i), "v", int64(i))))
	}
	mustClose(t, l)
	first := readTestFile(t, fs, segFile(0, logExt))
	// Replaces segments 0..2 with segment 0's batch alone, and 3 with nothing.
	writeTestFile(t, fs, testDir+"/"+swapName(0, 3), first)
	writeTestFile(t, fs, testDir+"/"+swapName(3, 4), nil)
	writeTestFile(t, fs, testDir+"/"+segmentName(1, logExt)+cleanedSuffix, []byte("partial"))
	l = openLog(t, fs, oneBatchPerSegment(), withClock(clk))
	defer l.Close()
	rs, _ := readRecords(t, l)
	if len(rs) != 2 || rs[0].offset != 0 || rs[1].offset != 4 || l.EndOffset() != 5 {
		t.Fatalf("records %+v end %d", rs, l.EndOffset())
	}
	names, _ := fs.ReadDir(testDir)
	for _, n := range names {
		if strings.HasSuffix(n, ".swap") || strings.HasSuffix(n, ".cleaned") || n == segmentName(1, logExt) || n == segmentName(2, indexExt) {
			t.Fatalf("%s left", n)
		}
	}
	for _, bad := range []string{"x.log.swap", segmentName(3, "") + "-" + segmentName(3, ".log.swap"), "00000000000000000001-0000000000000000000a.log.swap"} {
		if _, _, ok := parseSwapName(bad); ok {
			t.Fatalf("%s parsed", bad)
		}
	}
}

// readHookFS calls onRead before every ReadAt.
type readHookFS struct {
	*MemFS
	onRead func(name string)
}

type readHookFile struct {
	File
	fs   *readHookFS
	name string
}

func (h *readHookFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := h.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &readHookFile{File: f, fs: h, name: name}, nil
}

func (f *readHookFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.onRead != nil {
		f.fs.onRead(f.name)
	}
	return f.File.ReadAt(p, off)
}

// TestReadAcrossSwap: a read that starts in a segment the cleaner then
// replaces, at an offset in the gap compaction left at its end, goes on in
// the cleaned segment that now holds the offsets after it, instead of
// skipping them.
func TestReadAcrossSwap(t *testing.T) {
	clk := newClock()
	hfs := &readHookFS{MemFS: NewMemFS()}
	c := oneBatchPerSegment()
	l := openLog(t, hfs, c, withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	mustAppend(t, l, keyedBatch(t, h, rec("a", "1", 1)))
	mustAppend(t, l, append(keyedBatch(t, h, rec("b", "1", 2)), keyedBatch(t, h, rec("x", "old", 3))...))
	mustAppend(t, l, keyedBatch(t, h, rec("x", "new", 4)))
	mustAppend(t, l, keyedBatch(t, h, rec("c", "1", 5)))
	mustAppend(t, l, keyedBatch(t, h, rec("z", "1", 6)))
	mustFlush(t, l)
	cleanNow(t, l, clk.now(), 0) // segment 1 now ends at offset 2: its last batch went
	// The next pass merges every segment into one.
	c.SegmentBytes = 1 << 20
	l.SetConfig(c)
	var fired atomic.Bool
	hfs.onRead = func(name string) {
		if strings.Contains(name, segmentName(1, logExt)) && fired.CompareAndSwap(false, true) {
			func() {
				done := make(chan struct{})
				go func() {
					defer close(done)
					if res := cleanNow(t, l, clk.now(), 0); res.SegmentsAfter != 1 {
						t.Errorf("the pass did not merge: %+v", res)
					}
				}()
				<-done
			}()
		}
	}
	buf, err := l.Read(nil, 2, 1<<20, math.MaxInt64)
	hfs.onRead = nil
	if err != nil {
		t.Fatal(err)
	}
	bs := splitBatches(t, buf)
	if len(bs) == 0 || bs[0].BaseOffset() != 3 {
		t.Fatalf("read from 2 starts at %d, want 3 (x=new)", bs[0].BaseOffset())
	}
}

// TestCleanDoesNotBlock runs appends, flushes, reads, retention and a
// second Dirtiness from inside a cleaning pass's reads of a segment (on
// its goroutine): a pass holding any of their locks would deadlock here.
func TestCleanDoesNotBlock(t *testing.T) {
	clk := newClock()
	hfs := &readHookFS{MemFS: NewMemFS()}
	c := oneBatchPerSegment()
	l := openLog(t, hfs, c, withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	for i := 0; i < 6; i++ {
		mustAppend(t, l, keyedBatch(t, h, rec("k", fmt.Sprint(i), clk.ms())))
	}
	mustFlush(t, l)
	var fired atomic.Bool
	hfs.onRead = func(name string) {
		if !strings.Contains(name, segmentName(2, logExt)) || !fired.CompareAndSwap(false, true) {
			return
		}
		mustAppend(t, l, keyedBatch(t, h, rec("k", "during", clk.ms())))
		mustFlush(t, l)
		if _, err := l.Read(nil, 0, 1<<20, math.MaxInt64); err != nil {
			t.Errorf("Read during a pass: %v", err)
		}
		if _, err := l.EnforceRetention(); err != nil {
			t.Errorf("retention during a pass: %v", err)
		}
		if _, err := l.Dirtiness(math.MaxInt64, 0, clk.now()); err != nil {
			t.Errorf("Dirtiness during a pass: %v", err)
		}
	}
	res := cleanNow(t, l, clk.now(), 0)
	if !fired.Load() || !res.Cleaned {
		t.Fatalf("hook fired %v, result %+v", fired.Load(), res)
	}
	if rs, _ := readRecords(t, l); rs[len(rs)-1].value != "during" {
		t.Fatalf("last record %+v", rs[len(rs)-1])
	}
}

// TestCleanRaces changes the log under a pass (retention, DeleteRecords, a
// follower's truncation): the pass gives up without touching the log, or
// cleans what the change left alone; either way the log reads back valid,
// nothing is left behind and the next pass works.
func TestCleanRaces(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(l *Log) error
	}{
		{"retention", func(l *Log) error { _, err := l.EnforceRetention(); return err }},
		{"delete-records", func(l *Log) error { return l.SetStartOffset(3) }},
		{"delete-records-in-first", func(l *Log) error { return l.SetStartOffset(0) }},
		{"truncate", func(l *Log) error { return l.TruncateTo(4) }},
		{"truncate-active", func(l *Log) error { return l.TruncateTo(l.EndOffset() - 1) }},
	} {
		for _, at := range []int32{1, 5, 9, 13} {
			t.Run(fmt.Sprintf("%s-at-read-%d", c.name, at), func(t *testing.T) { cleanRace(t, c.name, c.change, at) })
		}
	}
}

func cleanRace(t *testing.T, name string, change func(*Log) error, at int32) {
	clk := newClock()
	hfs := &readHookFS{MemFS: NewMemFS()}
	cfg := oneBatchPerSegment()
	l := openLog(t, hfs, cfg, withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	for i := 0; i < 8; i++ {
		mustAppend(t, l, keyedBatch(t, h, rec(fmt.Sprint("k", i%3), fmt.Sprint(i), clk.ms())))
	}
	mustFlush(t, l)
	clk.add(time.Hour)
	rc := cfg
	rc.RetentionMs = 1000
	var reads atomic.Int32
	hfs.onRead = func(file string) {
		if strings.Contains(file, cleanedSuffix) || reads.Add(1) != at {
			return
		}
		if name == "retention" {
			l.SetConfig(rc)
		}
		if err := change(l); err != nil {
			t.Errorf("change: %v", err)
		}
	}
	_, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: clk.now()})
	hfs.onRead = nil
	if err != nil && !errors.Is(err, ErrCleanAborted) {
		t.Fatalf("Clean: %v", err)
	}
	t.Logf("pass: %v", err)
	readRecords(t, l)
	l.SetConfig(cfg)
	mustAppend(t, l, keyedBatch(t, h, rec("z", "z", clk.ms())))
	mustFlush(t, l)
	if _, err := l.Clean(CleanOptions{UpTo: math.MaxInt64, Now: clk.now()}); err != nil {
		t.Fatalf("next pass: %v", err)
	}
	readRecords(t, l)
	names, _ := hfs.ReadDir(testDir)
	for _, n := range names {
		if strings.Contains(n, ".cleaned") || strings.Contains(n, ".swap") {
			t.Fatalf("%s left", n)
		}
	}
}

func TestCleanForgetsExpiredProducers(t *testing.T) {
	clk := newClock()
	l := openLog(t, NewMemFS(), oneBatchPerSegment(), withClock(clk))
	defer l.Close()
	h := records.NewHeader()
	h.ProducerID, h.ProducerEpoch, h.BaseSequence = 9, 0, 0
	mustAppend(t, l, keyedBatch(t, h, rec("a", "1", clk.ms())))
	plain := records.NewHeader()
	mustAppend(t, l, keyedBatch(t, plain, rec("a", "2", clk.ms())))
	mustAppend(t, l, keyedBatch(t, plain, rec("z", "z", clk.ms())))
	mustFlush(t, l)
	count := func() int {
		_, bs := readRecords(t, l)
		n := 0
		for _, b := range bs {
			if b.ProducerID() == 9 {
				n++
			}
		}
		return n
	}
	opts := CleanOptions{UpTo: math.MaxInt64, ProducerExpirationMs: 60_000}
	opts.Now = clk.now().Add(59 * time.Second)
	if _, err := l.Clean(opts); err != nil || count() != 1 {
		t.Fatalf("active producer's batch: %d left, %v", count(), err)
	}
	opts.Now = clk.now().Add(60 * time.Second)
	if _, err := l.Clean(opts); err != nil || count() != 0 {
		t.Fatalf("expired producer's batch: %d left, %v", count(), err)
	}
}
