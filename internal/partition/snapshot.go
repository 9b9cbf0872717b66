package partition

// Producer state survives restarts so that a producer's retry after a
// broker crash is still recognised as a duplicate.
//
// The state is a pure function of the batches in the log, so it can always
// be rebuilt by reading batch headers; a snapshot only bounds how much must
// be read. A snapshot records the state as of offset S and is written only
// once S is durable, so after a crash the log still holds everything the
// snapshot describes; opening loads it and replays the headers of [S, log
// end). Without a usable snapshot the whole log is replayed.
//
// File `producer-state` in the partition folder, big endian:
//
//	"PXPS" | version u8 (2) | offset i64 | count u32 | count × entry |
//	aborted u32 | aborted × (producer id i64 | first offset i64 | last offset i64) |
//	crc32c u32
//	entry: producer id i64 | epoch i16 | txnFirst i64 | lastTS i64 |
//	       coordinator epoch i32 | n u8 |
//	       n × (firstSeq i32 | lastSeq i32 | firstOffset i64 | lastOffset i64 | timestamp i64)
//
// The CRC covers everything before it. Batches are stored oldest first,
// aborted transactions by marker offset. txnFirst is the first offset of
// the producer's open transaction (-1 when none); the aborted list is the
// partition's aborted transaction index (Kafka keeps it in a .txnindex file
// per segment): the transactions whose abort marker is in the log, trimmed
// to the log start offset. Version 1 (no coordinator epoch, no aborted
// list) is still read.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/plexus/plexus/internal/records"
)

const (
	snapshotFile    = "producer-state"
	snapshotMagic   = "PXPS"
	snapshotVersion = 2
	// snapshotEvery is how many appended bytes pass between snapshots,
	// bounding the replay after a crash.
	snapshotEvery = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshot is the producer and transaction state as of an offset.
type snapshot struct {
	offset    int64
	producers producers
	aborted   []AbortedTxn
}

func encodeSnapshot(st snapshot) []byte {
	ps := st.producers
	b := make([]byte, 0, 21+len(ps)*(31+maxInFlight*32)+len(st.aborted)*24+4)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(st.offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ps)))
	for pid, e := range ps {
		b = binary.BigEndian.AppendUint64(b, uint64(pid))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTS))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = append(b, byte(e.n))
		for _, m := range e.ordered() {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.timestamp))
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.aborted)))
	for _, a := range st.aborted {
		b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var errBadSnapshot = errors.New("partition: bad producer state snapshot")

func decodeSnapshot(b []byte) (snapshot, error) {
	if len(b) < 21 || string(b[:4]) != snapshotMagic || (b[4] != 1 && b[4] != snapshotVersion) {
		return snapshot{}, errBadSnapshot
	}
	version := b[4]
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return snapshot{}, errBadSnapshot
	}
	st := snapshot{offset: int64(binary.BigEndian.Uint64(body[5:]))}
	count := binary.BigEndian.Uint32(body[13:])
	rest := body[17:]
	fixed := 31
	if version == 1 {
		fixed = 27
	}
	st.producers = make(producers, min(int(count), len(rest)/fixed))
	for i := uint32(0); i < count; i++ {
		if len(rest) < fixed {
			return snapshot{}, errBadSnapshot
		}
		pid := int64(binary.BigEndian.Uint64(rest))
		e := &producer{
			epoch:      int16(binary.BigEndian.Uint16(rest[8:])),
			txnFirst:   int64(binary.BigEndian.Uint64(rest[10:])),
			lastTS:     int64(binary.BigEndian.Uint64(rest[18:])),
			coordEpoch: -1,
		}
		if version >= 2 {
			e.coordEpoch = int32(binary.BigEndian.Uint32(rest[26:]))
		}
		n := int(rest[fixed-1])
		rest = rest[fixed:]
		if n > maxInFlight || len(rest) < n*32 {
			return snapshot{}, errBadSnapshot
		}
		for j := 0; j < n; j++ {
			e.push(batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(rest)),
				lastSeq:     int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
				timestamp:   int64(binary.BigEndian.Uint64(rest[24:])),
			})
			rest = rest[32:]
		}
		st.producers[pid] = e
	}
	if version >= 2 {
		if len(rest) < 4 {
			return snapshot{}, errBadSnapshot
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n)*24 != uint64(len(rest)) {
			return snapshot{}, errBadSnapshot
		}
		st.aborted = make([]AbortedTxn, n)
		for i := range st.aborted {
			st.aborted[i] = AbortedTxn{
				ProducerID:  int64(binary.BigEndian.Uint64(rest)),
				FirstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				LastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
			}
			rest = rest[24:]
		}
	}
	if len(rest) != 0 {
		return snapshot{}, errBadSnapshot
	}
	return st, nil
}

// encodeSnapshotLocked encodes the state as of the log end. Called with
// the append lock held.
func (p *Partition) encodeSnapshotLocked() []byte {
	p.pruneAborted()
	return encodeSnapshot(snapshot{offset: p.log.EndOffset(), producers: p.producers, aborted: p.abortedSnapshot()})
}

// loadProducers restores producer and transaction state at open: the
// snapshot, if usable, then the batches after it.
func (p *Partition) loadProducers() error {
	from := p.log.StartOffset()
	if buf, err := p.readFile(snapshotFile); err == nil {
		st, derr := decodeSnapshot(buf)
		switch {
		case derr != nil:
			p.logger.Warn("producer state snapshot is corrupt; rebuilding from the log", "topic", p.Topic, "partition", p.Index)
		case st.offset > p.log.EndOffset():
			p.logger.Warn("producer state snapshot is ahead of the log; rebuilding from the log", "topic", p.Topic, "partition", p.Index, "snapshot", st.offset, "log_end", p.log.EndOffset())
		default:
			p.producers = st.producers
			for pid, e := range p.producers {
				if e.txnFirst >= 0 {
					p.txnBegin(pid, e.txnFirst)
				}
			}
			p.txns.mu.Lock()
			p.txns.aborted = st.aborted
			p.txns.mu.Unlock()
			from = max(st.offset, from)
			p.haveSnap = true
		}
	} else if !os.IsNotExist(err) {
		return err
	}
	if err := p.replayProducers(from, p.log.EndOffset()); err != nil {
		return err
	}
	p.pruneAborted()
	return nil
}

// rebuildState replaces the producer and transaction state with what the
// log holds now (after it lost its unsynced tail). Called with the append
// lock held.
func (p *Partition) rebuildState() {
	p.producers = make(producers)
	p.txnReset()
	p.haveSnap = false
	if err := p.loadProducers(); err != nil {
		p.logger.Error("rebuilding producer state failed", "topic", p.Topic, "partition", p.Index, "err", err)
	}
	p.sinceSnap++
	p.txnDurable(p.hwm.Load())
}

// replayProducers applies the batches of [from, end) to the state.
func (p *Partition) replayProducers(from, end int64) error {
	var buf []byte
	for off := from; off < end; {
		data, err := p.log.Read(buf[:0], off, 1<<20, end)
		if err != nil {
			return fmt.Errorf("replay producer state at offset %d: %w", off, err)
		}
		if len(data) == 0 {
			break
		}
		buf = data
		for rest := data; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil {
				return fmt.Errorf("replay producer state at offset %d: %w", off, err)
			}
			rest = r
			if b.LastOffset() >= from {
				p.applyBatch(b)
			}
			off = b.LastOffset() + 1
		}
	}
	return nil
}

// applyBatch updates producer and transaction state for a batch read back
// from the log. Nothing is validated: the log is the truth.
func (p *Partition) applyBatch(b records.Batch) {
	pid := b.ProducerID()
	if pid < 0 {
		return
	}
	if b.IsControl() {
		commit, coordEpoch, ok := ReadMarker(b)
		if !ok {
			return
		}
		if first := p.producers.marker(pid, b.ProducerEpoch(), coordEpoch, b.MaxTimestamp()); first >= 0 {
			p.txnEnd(pid, first, b.BaseOffset(), !commit, p.hwm.Load())
		}
		return
	}
	_, began := p.producers.record(pid, b.ProducerEpoch(), b.IsTransactional(), batchMeta{
		firstSeq: b.BaseSequence(), lastSeq: b.LastSequence(),
		firstOffset: b.BaseOffset(), lastOffset: b.LastOffset(), timestamp: b.MaxTimestamp(),
	})
	if began {
		p.txnBegin(pid, b.BaseOffset())
	}
}

// maybeSnapshot starts a snapshot when enough has been appended since the
// last. Called with the append lock held.
func (p *Partition) maybeSnapshot(appended int) {
	p.sinceSnap += int64(appended)
	if p.sinceSnap < snapshotEvery || p.snapping {
		return
	}
	p.sinceSnap = 0
	p.snapping = true
	p.haveSnap = true
	offset := p.log.EndOffset()
	data := p.encodeSnapshotLocked()
	p.ackMu.Lock()
	gen := p.gen
	p.ackMu.Unlock()
	ack := p.registerAck(offset, gen)
	go func() {
		// Only a durable offset may be recorded: otherwise a crash could
		// leave a snapshot describing batches the log lost.
		<-ack.Done()
		if ack.Err() == nil {
			if err := p.writeFile(snapshotFile, data); err != nil {
				p.logger.Warn("writing producer state snapshot failed", "topic", p.Topic, "partition", p.Index, "err", err)
			}
		}
		p.mu.Lock()
		p.snapping = false
		p.mu.Unlock()
	}()
}

func (p *Partition) readFile(name string) ([]byte, error) {
	f, err := p.fs.OpenFile(filepath.Join(p.dir, name), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > 1<<30 {
		return nil, errBadSnapshot
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// writeFile replaces a file atomically and durably: temporary file, sync,
// rename, directory sync.
func (p *Partition) writeFile(name string, data []byte) error {
	path := filepath.Join(p.dir, name)
	tmp := path + ".tmp"
	f, err := p.fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = p.fs.Rename(tmp, path)
	}
	if err == nil {
		err = p.fs.SyncDir(p.dir)
	}
	return err
}
