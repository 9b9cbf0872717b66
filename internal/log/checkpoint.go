package log

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// Checkpoint files in a partition's directory. Each is small text written
// whole to a .tmp file, synced, and renamed over the old one, so a reader
// sees either the old or the new content.
const (
	epochCheckpointFile    = "leader-epoch-checkpoint"
	startCheckpointFile    = "log-start-offset"
	recoveryCheckpointFile = "recovery-point"
	cleanShutdownFile      = "clean-shutdown"
	tmpSuffix              = ".tmp"
	checkpointVersion      = 0
	checkpointLimit        = 64 << 20
)

var errBadCheckpoint = errors.New("malformed checkpoint")

// writeAtomic replaces dir/name with data durably.
func writeAtomic(fsys FS, dir, name string, data []byte) error {
	tmp := join(dir, name+tmpSuffix)
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
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
		err = fsys.Rename(tmp, join(dir, name))
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		fsys.Remove(tmp)
		return fmt.Errorf("log: write %s: %w", join(dir, name), err)
	}
	return nil
}

// checkpointLines splits a checkpoint into its lines after checking the
// version line; the file must end with a newline.
func checkpointLines(b []byte) ([][]byte, error) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, errBadCheckpoint
	}
	lines := bytes.Split(b[:len(b)-1], []byte{'\n'})
	if v, err := strconv.Atoi(string(lines[0])); err != nil || v != checkpointVersion {
		return nil, errBadCheckpoint
	}
	return lines[1:], nil
}

func parseInts(line []byte, out ...*int64) error {
	fields := bytes.Split(line, []byte{' '})
	if len(fields) != len(out) {
		return errBadCheckpoint
	}
	for i, f := range fields {
		v, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return errBadCheckpoint
		}
		*out[i] = v
	}
	return nil
}

// The offset checkpoints (log start offset, recovery point) are:
//
//	0\n
//	<offset>\n
func encodeOffset(v int64) []byte {
	b := append([]byte("0\n"), strconv.FormatInt(v, 10)...)
	return append(b, '\n')
}

func readOffset(fsys FS, dir, name string) (int64, error) {
	b, err := readFile(fsys, join(dir, name), checkpointLimit)
	if err != nil {
		return 0, err
	}
	lines, err := checkpointLines(b)
	if err != nil || len(lines) != 1 {
		return 0, errBadCheckpoint
	}
	var v int64
	if err := parseInts(lines[0], &v); err != nil || v < 0 {
		return 0, errBadCheckpoint
	}
	return v, nil
}

// The leader epoch checkpoint has Kafka's layout:
//
//	0\n
//	<count>\n
//	<epoch> <start offset>\n   (count lines)
func encodeEpochs(es []epochEntry) []byte {
	b := []byte("0\n")
	b = strconv.AppendInt(b, int64(len(es)), 10)
	b = append(b, '\n')
	for _, e := range es {
		b = strconv.AppendInt(b, int64(e.epoch), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, e.start, 10)
		b = append(b, '\n')
	}
	return b
}

func decodeEpochs(b []byte) ([]epochEntry, error) {
	lines, err := checkpointLines(b)
	if err != nil || len(lines) < 1 {
		return nil, errBadCheckpoint
	}
	var n int64
	if err := parseInts(lines[0], &n); err != nil || n != int64(len(lines)-1) {
		return nil, errBadCheckpoint
	}
	es := make([]epochEntry, 0, n)
	for _, line := range lines[1:] {
		var epoch, start int64
		if err := parseInts(line, &epoch, &start); err != nil {
			return nil, err
		}
		if epoch < 0 || epoch > 1<<31-1 || start < 0 {
			return nil, errBadCheckpoint
		}
		if k := len(es); k > 0 && (int32(epoch) <= es[k-1].epoch || start < es[k-1].start) {
			return nil, errBadCheckpoint
		}
		es = append(es, epochEntry{epoch: int32(epoch), start: start})
	}
	return es, nil
}

// cleanMarker is what Close records about the log it leaves, so that Open
// can tell the directory still is exactly that log:
//
//	0\n
//	<log end offset> <active segment base offset> <active segment size>\n
type cleanMarker struct {
	end, activeBase, activeSize int64
}

func (m cleanMarker) encode() []byte {
	b := []byte("0\n")
	b = strconv.AppendInt(b, m.end, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.activeBase, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, m.activeSize, 10)
	return append(b, '\n')
}

func decodeCleanMarker(b []byte) (cleanMarker, error) {
	var m cleanMarker
	lines, err := checkpointLines(b)
	if err != nil || len(lines) != 1 {
		return m, errBadCheckpoint
	}
	if err := parseInts(lines[0], &m.end, &m.activeBase, &m.activeSize); err != nil {
		return m, err
	}
	if m.end < m.activeBase || m.activeBase < 0 || m.activeSize < 0 {
		return m, errBadCheckpoint
	}
	return m, nil
}
