package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/records"
)

// MetadataDir is the folder, under the data directory, of the metadata log.
const MetadataDir = "__cluster_metadata-0"

// Store is the metadata log of a single node and the image it produces.
// Changes are serialised: Update computes records from the current image
// and commits them as one batch, so a change is atomic on disk, then
// publishes the new image.
type Store struct {
	mu  sync.Mutex
	log *plog.Log
	img atomic.Pointer[Image]
	now func() time.Time
	buf []byte
	b   records.Builder
}

// OpenStore opens the metadata log under dir and replays it.
func OpenStore(fs plog.FS, dir string, logger *slog.Logger) (*Store, error) {
	l, err := plog.Open(plog.Options{
		FS:  fs,
		Dir: dir,
		Config: plog.Config{
			SegmentBytes: 64 << 20, SegmentMs: -1, IndexIntervalBytes: 4096,
			SegmentIndexBytes: 1 << 20, RetentionMs: -1, RetentionBytes: -1,
		},
		Logger: logger.With("log", "metadata"),
	})
	if err != nil {
		return nil, fmt.Errorf("open metadata log: %w", err)
	}
	s := &Store{log: l, now: time.Now}
	img, err := replay(l)
	if err != nil {
		l.Close()
		return nil, err
	}
	s.img.Store(img)
	return s, nil
}

func replay(l *plog.Log) (*Image, error) {
	img := Empty()
	var buf []byte
	var rec records.Record
	for off := l.StartOffset(); off < l.EndOffset(); {
		var err error
		buf, err = l.Read(buf[:0], off, 1<<20, l.EndOffset())
		if err != nil {
			return nil, fmt.Errorf("replay metadata at offset %d: %w", off, err)
		}
		if len(buf) == 0 {
			break
		}
		for rest := buf; len(rest) > 0; {
			b, r, err := records.Next(rest)
			if err != nil {
				return nil, fmt.Errorf("replay metadata at offset %d: %w", off, err)
			}
			rest = r
			it, _, err := b.Records(nil, 64<<20)
			if err != nil {
				return nil, fmt.Errorf("replay metadata batch %d: %w", b.BaseOffset(), err)
			}
			for it.Next(&rec) {
				var mr Record
				if err := json.Unmarshal(rec.Value, &mr); err != nil {
					return nil, fmt.Errorf("replay metadata record %d: %w", b.BaseOffset()+int64(rec.OffsetDelta), err)
				}
				img.mutate(b.BaseOffset()+int64(rec.OffsetDelta), &mr)
			}
			if err := it.Err(); err != nil {
				return nil, fmt.Errorf("replay metadata batch %d: %w", b.BaseOffset(), err)
			}
			off = b.LastOffset() + 1
		}
	}
	return img, nil
}

// Image is the current metadata; callers must not modify it.
func (s *Store) Image() *Image { return s.img.Load() }

// Update runs fn on the current image under the store's lock. The records
// fn returns are appended as one batch and synced; then the new image is
// published and returned. fn returning an error or no records changes
// nothing.
func (s *Store) Update(fn func(img *Image) ([]*Record, error)) (*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img := s.img.Load()
	recs, err := fn(img)
	if err != nil || len(recs) == 0 {
		return img, err
	}
	h := records.NewHeader()
	h.BaseTimestamp = s.now().UnixMilli()
	s.b.Reset(h)
	for i, r := range recs {
		v, err := json.Marshal(r)
		if err != nil {
			return img, err
		}
		s.b.Add(int32(i), h.BaseTimestamp, nil, v, nil)
	}
	if s.buf, err = s.b.AppendTo(s.buf[:0]); err != nil {
		return img, err
	}
	first, _, err := s.log.Append(s.buf)
	if err != nil {
		return img, fmt.Errorf("metadata log append: %w", err)
	}
	if _, err := s.log.Flush(); err != nil {
		return img, fmt.Errorf("metadata log sync: %w", err)
	}
	next := img.clone()
	for i, r := range recs {
		next.mutate(first+int64(i), r)
	}
	s.img.Store(next)
	return next, nil
}

// Close closes the metadata log.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Close()
}
