package partition

import (
	"testing"

	"github.com/plexus/plexus/internal/records"
)

// FuzzSnapshot: the producer-state file is read back from disk; whatever
// its bytes, decoding fails cleanly or yields state that encodes back to
// the same snapshot.
func FuzzSnapshot(f *testing.F) {
	ps := producers{}
	ps.record(3, 1, true, batchMeta{firstSeq: 0, lastSeq: 4, firstOffset: 10, lastOffset: 14, timestamp: 99})
	ps.record(4, 0, false, batchMeta{firstSeq: 7, lastSeq: 7, firstOffset: 15, lastOffset: 15, timestamp: 100})
	ps.marker(5, 2, 1, 101)
	f.Add(encodeSnapshot(snapshot{offset: 16, producers: ps, aborted: []AbortedTxn{{ProducerID: 9, FirstOffset: 1, LastOffset: 5}}}))
	f.Add(encodeSnapshot(snapshot{offset: 0, producers: producers{}}))
	f.Add([]byte("PXPS\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		again, err := decodeSnapshot(encodeSnapshot(st))
		if err != nil || again.offset != st.offset || len(again.producers) != len(st.producers) || len(again.aborted) != len(st.aborted) {
			t.Fatalf("a decoded snapshot does not survive encoding: %v", err)
		}
	})
}

// FuzzReadMarker: control records come from the log; any bytes are read
// without panicking.
func FuzzReadMarker(f *testing.F) {
	f.Add([]byte(encodeMarker(Marker{ProducerID: 1, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 3}, 1_700_000_000_000)))
	f.Add([]byte(encodeMarker(Marker{ProducerID: 1, ProducerEpoch: 0}, 0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, _, err := records.Next(b)
		if err != nil {
			return
		}
		ReadMarker(batch)
	})
}
