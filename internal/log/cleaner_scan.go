package log

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/plexus/plexus/internal/records"
)

// segSummary is what one segment tells the cleaner about transactions and
// producers. Summaries of closed segments are kept on the segment (they do
// not change; size tells when a truncation did change it), so a pass reads
// only the active segment and segments it has not seen before.
type segSummary struct {
	gen       uint64     // Log.truncGen when it was begun
	size      int64      // segment bytes described
	events    []txnEvent // transaction starts and markers, in log order
	lastData  map[int64]int64
	lastEpoch map[int64]int16
	lastTs    map[int64]int64 // pid -> max timestamp of its last batch
	inTxn     map[int64]bool  // pid's last event here is data (collapses runs)
}

type txnEvent struct {
	pid    int64
	kind   int8 // evData, ctlAbort or ctlCommit
	offset int64
}

const evData = -2

// add accounts for one batch; ctl is its control type (ctlNone when not a
// control batch).
func (s *segSummary) add(b records.Batch, ctl int16) {
	pid := b.ProducerID()
	if pid < 0 {
		return
	}
	s.lastEpoch[pid] = b.ProducerEpoch()
	s.lastTs[pid] = b.MaxTimestamp()
	if !b.IsControl() {
		s.lastData[pid] = b.LastOffset()
		if b.IsTransactional() && !s.inTxn[pid] {
			if s.inTxn == nil {
				s.inTxn = map[int64]bool{}
			}
			s.inTxn[pid] = true
			s.events = append(s.events, txnEvent{pid: pid, kind: evData, offset: b.BaseOffset()})
		}
		return
	}
	if ctl == ctlAbort || ctl == ctlCommit {
		delete(s.inTxn, pid)
		s.events = append(s.events, txnEvent{pid: pid, kind: int8(ctl), offset: b.LastOffset()})
	}
}

// summarize adds to sum the batches of s in [sum.size, size).
func (p *cleanPass) summarize(s *segment, sum *segSummary, size int64) error {
	cf := &meteredFile{File: s.log, p: p}
	sc := newScanner(cf, sum.size, size, p.buf[:0])
	defer func() { p.buf = sc.buf }()
	for {
		b, pos, _, err := sc.next(true)
		if cf.err != nil {
			return cf.err
		}
		if err == io.EOF {
			sum.size = size
			return nil
		}
		if err != nil {
			return fmt.Errorf("log: clean: scan %s at %d: %w", s.file(logExt), pos, asCorrupt(err))
		}
		ctl := int16(ctlNone)
		if b.IsControl() {
			ctl = controlType(b)
		}
		sum.add(b, ctl)
	}
}

func newSummary(gen uint64) *segSummary {
	return &segSummary{gen: gen, lastData: map[int64]int64{}, lastEpoch: map[int64]int16{}, lastTs: map[int64]int64{}}
}

// scanTxns gathers, over the whole log, the aborted transactions, the
// first offset of the earliest transaction still open, and each
// producer's last batch, from the segment summaries. Kafka reads the first
// from its transaction index and the last from the producer state; the
// log derives them from its batches (a transaction's data followed by an
// ABORT marker of its producer), which needs no other file.
func (p *cleanPass) scanTxns(segs []*segment) (*txnState, error) {
	st := &txnState{openFirst: math.MaxInt64, lastData: map[int64]int64{}, lastEpoch: map[int64]int16{}, lastTs: map[int64]int64{},
		now: p.now, expiration: p.o.ProducerExpirationMs}
	open := map[int64]int64{}
	for _, s := range segs {
		p.l.mu.RLock()
		size := s.size
		p.l.mu.RUnlock()
		// Segments only grow, unless a truncation cut them: a summary is
		// extended with what was appended since, and redone after a
		// truncation.
		gen := p.l.truncGen.Load()
		sum := s.txnSum
		if sum == nil || sum.gen != gen || sum.size > size {
			sum = newSummary(gen)
		}
		if sum.size < size {
			if err := p.summarize(s, sum, size); err != nil {
				s.txnSum = nil
				return nil, err
			}
		}
		s.txnSum = sum
		for _, e := range sum.events {
			switch e.kind {
			case evData:
				if _, ok := open[e.pid]; !ok {
					open[e.pid] = e.offset
				}
			case ctlAbort:
				if first, ok := open[e.pid]; ok {
					st.aborted = append(st.aborted, abortedTxn{pid: e.pid, first: first, last: e.offset})
				}
				delete(open, e.pid)
			case ctlCommit:
				delete(open, e.pid)
			}
		}
		for pid, o := range sum.lastData {
			st.lastData[pid] = o
		}
		for pid, e := range sum.lastEpoch {
			st.lastEpoch[pid] = e
		}
		for pid, ts := range sum.lastTs {
			st.lastTs[pid] = ts
		}
	}
	for _, first := range open {
		st.openFirst = min(st.openFirst, first)
	}
	slices.SortFunc(st.aborted, func(a, b abortedTxn) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	st.resetCleaning()
	return st, nil
}
