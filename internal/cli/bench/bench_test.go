package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestHistogramBucketsCoverAndOrder(t *testing.T) {
	// Every bucket's range starts right after the previous one ends, so
	// buckets tile 0..MaxInt64 without gaps or overlaps.
	prev := int64(-1)
	for i := range numBuckets {
		hi := bucketHigh(i)
		lo := prev + 1
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: [%d, %d] maps to %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if hi < lo {
			t.Fatalf("bucket %d: high %d below low %d", i, hi, lo)
		}
		// Relative width is within the promised precision.
		if lo >= exactBelow && float64(hi-lo+1)/float64(lo) > 1.0/subBuckets+1e-12 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, subBuckets)
		}
		prev = hi
		if hi == math.MaxInt64 {
			if i != numBuckets-1 {
				t.Fatalf("bucket %d reaches MaxInt64 but is not the last (%d)", i, numBuckets-1)
			}
			return
		}
	}
	t.Fatalf("buckets end at %d, before MaxInt64", prev)
}

func TestHistogramPercentiles(t *testing.T) {
	h := NewHistogram()
	if h.Percentile(99) != 0 || h.Max() != 0 || h.Mean() != 0 || h.Min() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	// 1..10000 microseconds, shuffled.
	vals := make([]time.Duration, 10000)
	for i := range vals {
		vals[i] = time.Duration(i+1) * time.Microsecond
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	for _, v := range vals {
		h.Record(v)
	}
	if h.Count() != 10000 {
		t.Fatalf("count %d", h.Count())
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0, 1 * time.Microsecond},
		{50, 5000 * time.Microsecond},
		{90, 9000 * time.Microsecond},
		{99, 9900 * time.Microsecond},
		{99.9, 9990 * time.Microsecond},
		{100, 10000 * time.Microsecond},
	} {
		got := h.Percentile(tc.q)
		// The bucket's highest value: at or above the true value, within
		// the bucket precision.
		if got < tc.want || float64(got-tc.want) > float64(tc.want)/subBuckets {
			t.Errorf("p%v = %v, want %v within 1/%d", tc.q, got, tc.want, subBuckets)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Min() != time.Microsecond {
		t.Errorf("min %v max %v", h.Min(), h.Max())
	}
	if want := 5000500 * time.Nanosecond; h.Mean() != want {
		t.Errorf("mean %v, want %v", h.Mean(), want)
	}
}

func TestHistogramExactSmallValuesAndMax(t *testing.T) {
	h := NewHistogram()
	for _, v := range []time.Duration{3, 3, 3, 200, -5} {
		h.Record(v)
	}
	// -5 counts as 0: ranks 1:0, 2..4:3, 5:200.
	if got := h.Percentile(20); got != 0 {
		t.Errorf("p20 = %v, want 0", got)
	}
	if got := h.Percentile(50); got != 3 {
		t.Errorf("p50 = %v, want 3", got)
	}
	if got := h.Percentile(99); got != 200 {
		t.Errorf("p99 = %v, want 200", got)
	}
	// A single huge value: the percentile is capped at the exact max.
	h = NewHistogram()
	h.Record(time.Duration(math.MaxInt64))
	if h.Percentile(50) != time.Duration(math.MaxInt64) {
		t.Errorf("p50 of MaxInt64 = %v", h.Percentile(50))
	}
	h = NewHistogram()
	h.Record(1000003)
	if h.Percentile(50) != 1000003 {
		t.Errorf("p50 of one value = %d, want the value itself", h.Percentile(50))
	}
}

func TestHistogramMerge(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		v := time.Duration(r.Int64N(int64(time.Second)))
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
		all.Record(v)
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	for _, q := range []float64{1, 50, 99, 99.9, 100} {
		if a.Percentile(q) != all.Percentile(q) {
			t.Errorf("p%v merged %v, direct %v", q, a.Percentile(q), all.Percentile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() {
		t.Error("merged count/min/max differ")
	}
}

func TestScheduleIntendedTimes(t *testing.T) {
	start := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		rate int64
		i    int64
		want time.Duration
	}{
		{50000, 0, 0},
		{50000, 1, 20 * time.Microsecond},
		{50000, 49999, time.Second - 20*time.Microsecond},
		{50000, 50000, time.Second},
		{50000, 50001, time.Second + 20*time.Microsecond},
		{3, 1, 333333333},
		{3, 2, 666666666},
		{3, 3, time.Second},
		{3, 4, time.Second + 333333333},
		{7, 7 * 3600 * 24 * 365, 365 * 24 * time.Hour}, // a year in: exact
		{1000000000, 1, time.Nanosecond},
		{3000000000, 1, 0}, // faster than 1/ns: integer nanoseconds floor
		{3000000000, 3, time.Nanosecond},
		{0, 12345, 0}, // unthrottled: no intended time
	} {
		s := Schedule{Start: start, Rate: tc.rate}
		if got := s.Offset(tc.i); got != tc.want {
			t.Errorf("rate %d: Offset(%d) = %v, want %v", tc.rate, tc.i, got, tc.want)
		}
		if got := s.Intended(tc.i); !got.Equal(start.Add(tc.want)) {
			t.Errorf("rate %d: Intended(%d) = %v", tc.rate, tc.i, got)
		}
	}
}

func TestScheduleIsMonotonicAndEven(t *testing.T) {
	s := Schedule{Rate: 7}
	prev := time.Duration(-1)
	for i := range int64(1000) {
		o := s.Offset(i)
		if o <= prev {
			t.Fatalf("Offset(%d) = %v not after Offset(%d) = %v", i, o, i-1, prev)
		}
		// Never further than a nanosecond from the real-valued time.
		exact := float64(i) * 1e9 / 7
		if math.Abs(float64(o)-exact) > 1 {
			t.Fatalf("Offset(%d) = %v, real value %v", i, o, exact)
		}
		prev = o
	}
}

func TestScheduleDueBy(t *testing.T) {
	for _, rate := range []int64{1, 3, 7, 1000, 50000, 999999937} {
		s := Schedule{Rate: rate}
		for _, d := range []time.Duration{-1, 0, 1, 142857142, 142857143, time.Second - 1, time.Second, 2*time.Second + 5, 10 * time.Second} {
			// Brute force: the count of i with Offset(i) <= d, by search.
			n := int64(0)
			if d >= 0 {
				lo, hi := int64(0), rate*11+1
				for lo < hi {
					mid := (lo + hi) / 2
					if s.Offset(mid) <= d {
						lo = mid + 1
					} else {
						hi = mid
					}
				}
				n = lo
			}
			if got := s.DueBy(d); got != n {
				t.Errorf("rate %d: DueBy(%v) = %d, want %d", rate, d, got, n)
			}
		}
	}
	if (Schedule{}).DueBy(time.Hour) != -1 {
		t.Error("unthrottled DueBy should be -1")
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses; utime=1234, stime=567
	// ticks (fields 14 and 15).
	stat := "4242 (my (weird) proc) S 1 4242 4242 0 -1 4194560 12345 0 3 0 1234 567 0 0 20 0 9 0 1000 123456789 4321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	c, err := ParseProcStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if c.User != 12340*time.Millisecond || c.System != 5670*time.Millisecond || c.Total() != 18010*time.Millisecond {
		t.Errorf("got %+v", c)
	}
	for _, bad := range []string{"", "4242 no-parens S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 x 11 12"} {
		if _, err := ParseProcStat([]byte(bad)); err == nil {
			t.Errorf("ParseProcStat(%q) succeeded", bad)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tplexus\nVmPeak:\t 2000000 kB\nVmHWM:\t  301234 kB\nVmRSS:\t  250000 kB\nThreads:\t12\n"
	m, err := ParseProcStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.PeakRSS != 301234*1024 || m.RSS != 250000*1024 {
		t.Errorf("got %+v", m)
	}
	if _, err := ParseProcStatus([]byte("Name:\tkthreadd\nThreads:\t1\n")); err == nil {
		t.Error("a status without VmRSS should fail")
	}
	if _, err := ParseProcStatus([]byte("VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n")); err == nil {
		t.Error("an unknown unit should fail")
	}
}

func TestReadOwnProc(t *testing.T) {
	// The parsers agree with the running kernel's format (no values are
	// asserted: they depend on the machine).
	if _, err := ReadProcCPU(0); err != nil {
		t.Fatal(err)
	}
	m, err := ReadProcMem(0)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.PeakRSS < m.RSS {
		t.Errorf("own memory: %+v", m)
	}
	if _, err := ReadLoadAvg(); err != nil {
		t.Fatal(err)
	}
}

func TestParseMachineFiles(t *testing.T) {
	l, err := ParseLoadAvg([]byte("3.14 3.97 4.05 6/169 3458\n"))
	if err != nil || l != (LoadAvg{3.14, 3.97, 4.05}) || l.String() != "3.14 3.97 4.05" {
		t.Errorf("loadavg %v %v", l, err)
	}
	if _, err := ParseLoadAvg([]byte("1 2")); err == nil {
		t.Error("short loadavg accepted")
	}
	cpuinfo := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n"
	if got := ParseCPUModel([]byte(cpuinfo)); got != "Intel(R) Xeon(R) Processor" {
		t.Errorf("cpu model %q", got)
	}
	if got := ParseMemTotal([]byte("MemTotal:       24683520 kB\nMemFree: 1 kB\n")); got != 24683520*1024 {
		t.Errorf("memtotal %d", got)
	}
	mountinfo := `22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw
31 22 252:16 / /data\040disk rw,relatime shared:6 - xfs /dev/vdb1 rw
`
	for _, tc := range []struct{ path, src, fs string }{
		{"/work/main", "/dev/vda", "ext4"},
		{"/tmp/x", "tmpfs", "tmpfs"},
		{"/tmpfoo", "/dev/vda", "ext4"},
		{"/data disk/plexus", "/dev/vdb1", "xfs"},
	} {
		src, fs := ParseMountFor([]byte(mountinfo), tc.path)
		if src != tc.src || fs != tc.fs {
			t.Errorf("%s: %s %s, want %s %s", tc.path, src, fs, tc.src, tc.fs)
		}
	}
}

func TestStampRoundTripAndPayloads(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	v := make([]byte, 100)
	PutStamp(v, now)
	if got, ok := Stamp(v); !ok || !got.Equal(now) {
		t.Errorf("stamp %v %v", got, ok)
	}
	short := []byte{1, 2, 3}
	PutStamp(short, now)
	if _, ok := Stamp(short); ok || !slices.Equal(short, []byte{1, 2, 3}) {
		t.Error("a short value must be left alone and carry no stamp")
	}
	rng := rand.NewChaCha8([32]byte{1})
	b := make([]byte, 1000)
	FillPayload(b, PayloadHalfRandom, rng)
	if string(b[500:500+len(filler)]) != filler {
		t.Error("half-random: second half should repeat the filler")
	}
	FillPayload(b, PayloadZeros, rng)
	if slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
		t.Error("zeros payload has non-zero bytes")
	}
	if string(AppendKey(nil, 42)) != "k42" {
		t.Errorf("key %q", AppendKey(nil, 42))
	}
}

func TestRecordPoolKeys(t *testing.T) {
	p := newRecordPool("t", 16, PayloadRandom, false)
	r := p.get()
	if r.Key != nil || len(r.Value) != 16 || r.Topic != "t" {
		t.Errorf("unkeyed record: key %v, %d bytes, topic %q", r.Key, len(r.Value), r.Topic)
	}
	r.Partition = 5
	p.put(r)
	if r2 := p.get(); r2.Partition != 0 {
		t.Error("a reused record keeps its old partition")
	}
	kp := newRecordPool("t", 16, PayloadRandom, true)
	kr := kp.get()
	if kr.Key == nil || len(kr.Key) != 0 {
		t.Errorf("keyed record: key %v", kr.Key)
	}
	kr.Key = AppendKey(kr.Key, 7)
	kp.put(kr)
	if kr2 := kp.get(); len(kr2.Key) != 0 {
		t.Errorf("a reused keyed record keeps its key %q", kr2.Key)
	}
}

func TestParseCPUStat(t *testing.T) {
	stat := "cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 50 2 25 400 10 1 1 5 3 0\nintr 12345\n"
	c, err := ParseCPUStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	// busy = 100+5+50+3+2+10 = 170; total = 170+800+20 = 990.
	if c.Busy != 170 || c.Total != 990 {
		t.Errorf("got %+v", c)
	}
	later := CPUTimes{Busy: 170 + 30, Total: 990 + 120}
	if f := BusyFraction(c, later); f != 0.25 {
		t.Errorf("busy fraction %v, want 0.25", f)
	}
	if BusyFraction(c, c) != 0 {
		t.Error("no time passed: want 0")
	}
	if _, err := ParseCPUStat([]byte("intr 1\n")); err == nil {
		t.Error("a stat without a cpu line should fail")
	}
}

// The machine's busy CPU per GB, and the part neither the broker nor the
// client accounts for (kernel writeback threads, other processes).
func TestMachineBetween(t *testing.T) {
	start := CPUTimes{Busy: 1000, Total: 5000}
	end := CPUTimes{Busy: 1000 + 400, Total: 5000 + 600} // 4 CPU s busy
	broker := &Usage{CPUSeconds: 1.5}
	client := &Usage{CPUSeconds: 2}
	m := machineBetween(start, end, 2e9, broker, client)
	if m.CPUSeconds != 4 || m.CPUSecondsPerGB != 2 || m.OtherCPUSecondsPerGB != 0.25 {
		t.Fatalf("machine usage %+v, want 4 s, 2 s/GB, 0.25 s/GB other", m)
	}
}

// --max-inflight above 1 needs the idempotent producer off: franz-go sets
// an idempotent producer's limit itself and refuses the option, and the
// run would fail only once started.
func TestMaxInflightNeedsNonIdempotent(t *testing.T) {
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"--max-inflight", "5"}, false},
		{[]string{"--max-inflight", "5", "--idempotent=false"}, true},
		{[]string{"--max-inflight", "5", "--acks", "1"}, true}, // acks=1 turns idempotence off
		{[]string{"--max-inflight", "0", "--idempotent=false"}, false},
	} {
		var o produceOptions
		cmd := &cobra.Command{}
		o.addFlags(cmd.Flags())
		if err := cmd.Flags().Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if err := o.validate(cmd, false); (err == nil) != c.ok {
			t.Errorf("%v: err %v, want ok=%v", c.args, err, c.ok)
		}
	}
}
