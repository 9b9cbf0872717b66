package txn

import (
	"testing"
)

// FuzzRecord: __transaction_state records are read back from disk when the
// coordinator loads; any bytes decode cleanly or fail, and a decoded state
// encodes back to a record that decodes the same.
func FuzzRecord(f *testing.F) {
	t := &transit{state: Ongoing, pid: 7, prevPID: 7, nextPID: -1, epoch: 3, lastEpoch: 2, timeoutMs: 60000,
		parts: map[TP]struct{}{{"a", 0}: {}, {"a", 2}: {}, {"b", 1}: {}}, startMs: 10, updateMs: 20, tv: 2}
	f.Add(keyOf("txn-1"), valueOf(t))
	f.Add(keyOf(""), []byte(nil))
	f.Add([]byte{0, 1, 0, 0}, []byte{0, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		id, m, err := decodeRecord(key, value)
		if err != nil || m == nil {
			return
		}
		back := m.base(m.state)
		back.prevPID = m.prevPID
		id2, m2, err := decodeRecord(keyOf(id), valueOf(back))
		if err != nil || id2 != id || m2.pid != m.pid || m2.epoch != m.epoch || m2.state != m.state || len(m2.parts) != len(m.parts) {
			t.Fatalf("a decoded record does not survive encoding: %v", err)
		}
	})
}
