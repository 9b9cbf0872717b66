package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus/plexus/internal/records"
)

const (
	logExt       = ".log"
	indexExt     = ".index"
	timeIndexExt = ".timeindex"
)

// segmentName is the file name of a segment's base offset, as Kafka spells
// it: 20 digits, zero padded.
func segmentName(base int64, ext string) string {
	var b [20 + 16]byte
	s := strconv.AppendInt(b[:0], base, 10)
	out := make([]byte, 0, 20+len(ext))
	for i := len(s); i < 20; i++ {
		out = append(out, '0')
	}
	out = append(out, s...)
	return string(append(out, ext...))
}

// parseSegmentName returns the base offset of a name made by segmentName
// with ext, or ok=false.
func parseSegmentName(name, ext string) (int64, bool) {
	if len(name) != 20+len(ext) || name[20:] != ext {
		return 0, false
	}
	var v int64
	for _, c := range []byte(name[:20]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// indexState is what the indexes and timestamps of a segment say, built
// batch by batch with the same cadence by the appender and by a rebuild.
type indexState struct {
	idx      []offsetEntry
	tidx     []timeEntry
	sinceIdx int64 // bytes of batches since the last offset entry
	hasTs    bool  // a batch has been seen: maxTs/maxTsOff are meaningful
	maxTs    int64 // largest batch max timestamp
	maxTsOff int64 // base offset of the first batch with maxTs
}

// add accounts for the batch of size bytes with the given base offset and
// max timestamp, at byte pos of a segment whose base offset is segBase.
// Like Kafka, an entry goes in when more than interval bytes were appended
// since the previous one; a full index just stops growing (it is only an
// accelerator) and the appender rolls on its next call.
func (x *indexState) add(segBase, base, pos int64, size int, maxTs int64, c *Config) {
	if !x.hasTs || maxTs > x.maxTs {
		x.hasTs = true
		x.maxTs, x.maxTsOff = maxTs, base
	}
	if x.sinceIdx > int64(c.IndexIntervalBytes) {
		if len(x.idx) < c.maxIndexEntries() {
			x.idx = append(x.idx, offsetEntry{rel: uint32(base - segBase), pos: uint32(pos)})
		}
		if len(x.tidx) < c.maxTimeEntries() {
			x.appendTime(segBase)
		}
		x.sinceIdx = 0
	}
	x.sinceIdx += int64(size)
}

// appendTime records the current max timestamp in the time index when it
// grew since the last entry. Called at index cadence, and without the size
// check when the segment stops being active so that the last entry always
// holds the segment's max timestamp (which is how it is found again after a
// clean restart without reading the segment).
func (x *indexState) appendTime(segBase int64) {
	if !x.hasTs {
		return
	}
	if n := len(x.tidx); n == 0 || x.maxTs > x.tidx[n-1].ts {
		x.tidx = append(x.tidx, timeEntry{ts: x.maxTs, rel: uint32(x.maxTsOff - segBase)})
	}
}

// segment is one .log file and its two indexes.
type segment struct {
	base int64
	path string // directory and base name, without extension
	log  File

	// refs counts the users of log: one for the Log's segment list, one for
	// each read or flush in progress. The file is closed at zero, so that a
	// read racing with retention finishes on a file already unlinked.
	refs atomic.Int32

	loadMu sync.Mutex // serialises loading the indexes from disk

	// Guarded by Log.mu.
	size      int64 // committed bytes: readers never look past it
	next      int64 // offset after the last batch (next segment's base when not active)
	synced    int64 // bytes known durable
	needTrunc bool  // the file may hold bytes past size (a truncate failed)
	loaded    bool  // indexState holds the full indexes
	indexState
	idxWritten  int  // offset entries in the .index file
	tidxWritten int  // entries in the .timeindex file
	idxStale    bool // the index files must be rewritten from scratch
	firstTs     int64
	firstKnown  bool // firstTs holds the first batch's max timestamp
	deleted     bool // out of the segment list; its files are going
	created     time.Time
	maxKnown    bool // maxTs/hasTs are known without loading the indexes

	// txnSum is what the cleaner learnt of the segment's transactions and
	// producers; owned by the cleaner (Log.cleanMu).
	txnSum *segSummary
}

func (s *segment) file(ext string) string { return s.path + ext }

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.log.Close()
	}
}

// lazyFile opens a segment file on first use, so that opening a log with
// many segments costs a file descriptor only for those read or written.
// Its users hold a segment reference, so Close (at the last release) never
// races with them.
type lazyFile struct {
	fs   FS
	name string
	f    atomic.Pointer[fileBox]
	mu   sync.Mutex // serialises the first open
}

type fileBox struct{ File }

func (z *lazyFile) get() (File, error) {
	if b := z.f.Load(); b != nil {
		return b.File, nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if b := z.f.Load(); b != nil {
		return b.File, nil
	}
	f, err := z.fs.OpenFile(z.name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	z.f.Store(&fileBox{f})
	return f, nil
}

func (z *lazyFile) ReadAt(p []byte, off int64) (int, error) {
	f, err := z.get()
	if err != nil {
		return 0, err
	}
	return f.ReadAt(p, off)
}

func (z *lazyFile) WriteAt(p []byte, off int64) (int, error) {
	f, err := z.get()
	if err != nil {
		return 0, err
	}
	return f.WriteAt(p, off)
}

func (z *lazyFile) Write(p []byte) (int, error) {
	f, err := z.get()
	if err != nil {
		return 0, err
	}
	return f.Write(p)
}

func (z *lazyFile) Sync() error {
	f, err := z.get()
	if err != nil {
		return err
	}
	return f.Sync()
}

func (z *lazyFile) Truncate(size int64) error {
	f, err := z.get()
	if err != nil {
		return err
	}
	return f.Truncate(size)
}

func (z *lazyFile) Size() (int64, error) {
	if b := z.f.Load(); b != nil {
		return b.Size()
	}
	fi, err := z.fs.Stat(z.name)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (z *lazyFile) Close() error {
	z.mu.Lock()
	defer z.mu.Unlock()
	if b := z.f.Swap(nil); b != nil {
		return b.Close()
	}
	return nil
}

// batchScanner walks the batches of a file region in order, reading it in
// chunks into a buffer it reuses.
type batchScanner struct {
	f      File
	end    int64 // bytes readable
	pos    int64 // position of the next batch
	buf    []byte
	bufPos int64 // file position of buf[0]
	chunk  int   // bytes to read at once
}

const scanChunk = 256 << 10

// newScanner scans [pos, end) of f, reading cap(buf) bytes at once (256
// KiB when buf is nil).
func newScanner(f File, pos, end int64, buf []byte) *batchScanner {
	chunk := cap(buf)
	if chunk == 0 {
		chunk = scanChunk
	}
	return &batchScanner{f: f, pos: pos, end: end, buf: buf[:0], bufPos: pos, chunk: chunk}
}

// fill makes [s.pos, s.pos+n) buffered; n is already bounded by s.end.
func (s *batchScanner) fill(n int) error {
	if s.pos >= s.bufPos && s.pos+int64(n) <= s.bufPos+int64(len(s.buf)) {
		return nil
	}
	want := int(min(int64(max(n, s.chunk)), s.end-s.pos))
	if cap(s.buf) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	s.bufPos = s.pos
	m, err := s.f.ReadAt(s.buf, s.pos)
	s.buf = s.buf[:m]
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	// A short read past what is needed is fine: the file may be shorter
	// than the region when a failed sync dropped its tail.
	return nil
}

// next returns the batch at the scanner's position: its header only when
// full is false (len(b) >= records.HeaderSize, size is the whole batch), or
// the whole batch. A torn batch (the region ends inside it) returns an
// error wrapping records.ErrTruncated, garbage one wrapping
// records.ErrCorrupt; other errors are I/O errors.
func (s *batchScanner) next(full bool) (b records.Batch, pos int64, size int, err error) {
	pos = s.pos
	left := s.end - pos
	if left <= 0 {
		return nil, pos, 0, io.EOF
	}
	if left < records.HeaderSize {
		return nil, pos, 0, fmt.Errorf("%w: %d bytes at the end", records.ErrTruncated, left)
	}
	if err := s.fill(records.HeaderSize); err != nil {
		return nil, pos, 0, err
	}
	hdr := s.buf[pos-s.bufPos:]
	_, size, err = records.Peek(hdr)
	if err != nil && !errors.Is(err, records.ErrTruncated) {
		if errors.Is(err, records.ErrUnsupportedMagic) {
			err = fmt.Errorf("%w: %v", records.ErrCorrupt, err)
		}
		return nil, pos, 0, err
	}
	if int64(size) > left {
		return nil, pos, 0, fmt.Errorf("%w: batch of %d bytes, %d left", records.ErrTruncated, size, left)
	}
	n := records.HeaderSize
	if full {
		n = size
		if err := s.fill(n); err != nil {
			return nil, pos, 0, err
		}
	}
	off := pos - s.bufPos
	s.pos += int64(size)
	return records.Batch(s.buf[off : off+int64(n)]), pos, size, nil
}

// readFile reads a small file whole, bounded by limit.
func readFile(fsys FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d expected", name, n, limit)
	}
	b := make([]byte, n)
	if m, err := f.ReadAt(b, 0); m < len(b) {
		return nil, err
	}
	return b, nil
}

// headerAt reads the header of the batch at pos of s.
func headerAt(f File, pos int64, hdr *[records.HeaderSize]byte) (records.Batch, error) {
	n, err := f.ReadAt(hdr[:], pos)
	if n < len(hdr) {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: header at %d", records.ErrTruncated, pos)
		}
		return nil, err
	}
	if _, _, err := records.Peek(hdr[:]); err != nil && !errors.Is(err, records.ErrTruncated) {
		return nil, err
	}
	return records.Batch(hdr[:]), nil
}

// rebuildIndex scans the first size bytes of a segment's file, trusted to
// hold valid batches, and returns the indexes they give. Batches out of
// order or outside the segment's offset range make it fail with a
// corruption error rather than produce entries that lie.
func rebuildIndex(f File, base, size int64, c *Config) (indexState, error) {
	var x indexState
	if _, _, err := walkBatches(f, base, &x, 0, size, base, c, false, nil, nil); err != nil {
		return x, asCorrupt(err)
	}
	x.appendTime(base)
	return x, nil
}

// loadIndexes reads and checks a segment's index files. Caller holds
// s.loadMu; size and next are the segment's committed size and end.
func loadIndexes(fsys FS, s *segment, size, next int64) (idx []offsetEntry, tidx []timeEntry, err error) {
	span := next - s.base
	b, err := readFile(fsys, s.file(indexExt), int64(maxSegmentBytes))
	if err != nil {
		return nil, nil, err
	}
	if idx, err = decodeOffsetIndex(b, size, span); err != nil {
		return nil, nil, err
	}
	b, err = readFile(fsys, s.file(timeIndexExt), int64(maxSegmentBytes))
	if err != nil {
		return nil, nil, err
	}
	if tidx, err = decodeTimeIndex(b, span); err != nil {
		return nil, nil, err
	}
	if size > 0 && len(tidx) == 0 {
		return nil, nil, errors.New("time index is empty")
	}
	// Cheap spot checks that the last entries name the batches they point
	// at: the last offset entry's position, the last time entry's batch and
	// its timestamp.
	if n := len(idx); n > 0 {
		var hdr [records.HeaderSize]byte
		h, err := headerAt(s.log, int64(idx[n-1].pos), &hdr)
		if err != nil {
			return nil, nil, err
		}
		if h.BaseOffset() != s.base+int64(idx[n-1].rel) {
			return nil, nil, fmt.Errorf("offset index entry +%d points at a batch with base offset %d", idx[n-1].rel, h.BaseOffset())
		}
	}
	if n := len(tidx); n > 0 {
		e := tidx[n-1]
		var pos int64
		if oe, ok := lookupOffset(idx, e.rel); ok {
			pos = int64(oe.pos)
		}
		sc := newScanner(s.log, pos, size, make([]byte, 0, 4096))
		for {
			b, _, _, err := sc.next(false)
			if err != nil {
				if err == io.EOF {
					err = fmt.Errorf("time index entry +%d names no batch", e.rel)
				}
				return nil, nil, err
			}
			if b.BaseOffset() < s.base+int64(e.rel) {
				continue
			}
			if b.BaseOffset() != s.base+int64(e.rel) || b.MaxTimestamp() != e.ts {
				return nil, nil, fmt.Errorf("time index entry (%d, +%d) does not match the batch at offset %d", e.ts, e.rel, b.BaseOffset())
			}
			break
		}
	}
	return idx, tidx, nil
}

// ensureLoaded loads the indexes of s if they are not in memory yet,
// rebuilding them from the segment when the files are missing or disagree.
// It does file I/O with no Log lock held.
func (l *Log) ensureLoaded(s *segment) error {
	l.mu.RLock()
	loaded := s.loaded
	l.mu.RUnlock()
	if loaded {
		return nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	l.mu.RLock()
	loaded, size, next := s.loaded, s.size, s.next
	l.mu.RUnlock()
	if loaded {
		return nil
	}
	idx, tidx, err := loadIndexes(l.fs, s, size, next)
	stale := false
	var x indexState
	if err != nil {
		l.logger.Warn("rebuilding segment index", "segment", s.file(logExt), "reason", err.Error())
		c := l.config()
		if x, err = rebuildIndex(s.log, s.base, size, &c); err != nil {
			return fmt.Errorf("log: rebuild index of %s: %w", s.file(logExt), asCorrupt(err))
		}
		stale = true
	} else {
		x = indexState{idx: idx, tidx: tidx}
		if n := len(tidx); n > 0 {
			x.hasTs, x.maxTs, x.maxTsOff = true, tidx[n-1].ts, s.base+int64(tidx[n-1].rel)
		}
		if n := len(idx); n > 0 {
			x.sinceIdx = size - int64(idx[n-1].pos)
		} else {
			x.sinceIdx = size
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.loaded {
		return nil
	}
	// Only a truncation (which loads first) changes a segment that is not
	// loaded, so size and next still hold.
	s.indexState = x
	s.loaded = true
	s.maxKnown = true
	if stale {
		s.idxStale = true
		s.idxWritten, s.tidxWritten = 0, 0
	} else {
		s.idxWritten, s.tidxWritten = len(x.idx), len(x.tidx)
	}
	return nil
}

// ensureMaxTs makes s.maxTs known. The time index's last entry holds it,
// but only a full load can vouch for that entry, so this loads the indexes.
func (l *Log) ensureMaxTs(s *segment) error { return l.ensureLoaded(s) }
