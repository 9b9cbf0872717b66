// Package broker serves the Kafka API: apis.go is the one table of API
// keys, version ranges and handlers; each API family has its own file; and
// errors.go is the one place where Go errors become Kafka error codes.
//
// The broker owns the hosted partitions and the metadata store. Handlers
// run on a connection's reader goroutine (see internal/server): they do
// what must happen in request order (appends) before returning, and leave
// waiting (acks, long polls) to the reply's Wait.
package broker

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/config"
	"github.com/plexus/plexus/internal/group"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/partition"
	"github.com/plexus/plexus/internal/records"
)

// Options configure a broker.
type Options struct {
	Config  *config.Broker
	FS      plog.FS // nil means the real file system
	DataDir string
	NodeID  int32
	// Host and Port are what clients are told to connect to.
	Host   string
	Port   int32
	Logger *slog.Logger
	Now    func() time.Time
}

// Transactions is the transaction coordinator as the produce path and
// InitProducerID see it.
type Transactions interface {
	// InitProducerID serves a transactional InitProducerID.
	InitProducerID(req *kmsg.InitProducerIDRequest) (id int64, epoch int16, code int16)
	// CheckProduce verifies that a transactional batch may be written to
	// the partition (the partition is in the producer's transaction, or
	// a produce v12+ adds it). On success release must be called once the
	// append is done (or failed): the transaction's markers wait for it.
	CheckProduce(txnID *string, produceVersion int16, producerID int64, epoch int16, topic string, partition int32) (release func(), err error)
}

// Metrics receives the broker's measurements.
type Metrics interface {
	Request(key int16, d time.Duration)
	RequestError(key, code int16)
	Fsync(d time.Duration)
	Produced(topic string, bytes, records int)
	Fetched(topic string, bytes, records int)
}

// Broker is a single-node Kafka broker's state and request handlers.
type Broker struct {
	opts    Options
	cfg     *config.Broker
	fs      plog.FS
	logger  *slog.Logger
	now     func() time.Time
	meta    cluster.Meta
	store   *cluster.Store
	flusher *partition.Flusher

	updateMu sync.Mutex // serialises metadata changes
	mu       sync.RWMutex
	parts    map[cluster.TopicID][]*partition.Partition

	sessions *fetchSessions
	pids     *producerIDs
	hooks    []func(old, new *cluster.Image)
	txns     Transactions
	metrics  Metrics
	// groups is the group coordinator and cleaner the log cleaner, each
	// set while it runs (groups.go, cleaner.go); atomic because metrics
	// scrapes read them while the broker starts and stops.
	groups  atomic.Pointer[group.Coordinator]
	cleaner atomic.Pointer[logCleaner]

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New opens the data directory, replays the metadata, opens every hosted
// partition (recovering logs that did not shut down cleanly) and removes
// partition folders of topics that no longer exist.
func New(opts Options) (*Broker, error) {
	if opts.FS == nil {
		opts.FS = plog.OS
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &Broker{
		opts:   opts,
		cfg:    opts.Config,
		fs:     opts.FS,
		logger: opts.Logger,
		now:    opts.Now,
		parts:  make(map[cluster.TopicID][]*partition.Partition),
		stop:   make(chan struct{}),
	}
	var err error
	if b.meta, err = cluster.LoadMeta(b.fs, opts.DataDir, opts.NodeID); err != nil {
		return nil, err
	}
	if b.store, err = cluster.OpenStore(b.fs, filepath.Join(opts.DataDir, cluster.MetadataDir), b.logger); err != nil {
		return nil, err
	}
	img := b.store.Image()
	if err := b.applyBrokerConfigs(img); err != nil {
		b.store.Close()
		return nil, err
	}
	// The descriptor a file-system sync reports writeback errors to must
	// be open before anything is written, or an early error goes unseen.
	if err := plog.PrepareSyncFS(b.fs, opts.DataDir); err != nil {
		b.store.Close()
		return nil, err
	}
	b.flusher = partition.NewFlusher(max(4, runtime.GOMAXPROCS(0)*2), b.fs, opts.DataDir)
	if runtime.GOOS == "linux" && !plog.SupportsSyncFS(b.fs) {
		b.logger.Info("syncing partitions one by one: syncfs reports every write error only from Linux 5.17, so a flush round cannot cover them all with one sync")
	}
	b.sessions = newFetchSessions(b.cfg.Int(config.MaxIncrementalFetchSessionCacheSlots))
	b.pids = newProducerIDs(b)
	if err := b.openAll(img); err != nil {
		b.Close()
		return nil, err
	}
	// The coordinators load their state from their internal topics, so
	// they start after the partitions are open.
	if err := b.startGroups(); err != nil {
		b.Close()
		return nil, fmt.Errorf("group coordinator: %w", err)
	}
	if err := b.startTxns(); err != nil {
		b.Close()
		return nil, fmt.Errorf("transaction coordinator: %w", err)
	}
	b.wg.Add(1)
	go b.retentionLoop()
	b.startCleaner()
	return b, nil
}

// ClusterID is the id stored in the data directory.
func (b *Broker) ClusterID() string { return b.meta.ClusterID }

// NodeID is this broker's id.
func (b *Broker) NodeID() int32 { return b.opts.NodeID }

// Config is the broker configuration.
func (b *Broker) Config() *config.Broker { return b.cfg }

// Image is the current cluster metadata.
func (b *Broker) Image() *cluster.Image { return b.store.Image() }

// OnMetadata registers fn to run after every metadata change, with the
// images before and after (for the group and transaction coordinators).
func (b *Broker) OnMetadata(fn func(old, new *cluster.Image)) {
	b.mu.Lock()
	b.hooks = append(b.hooks, fn)
	b.mu.Unlock()
}

// update commits a metadata change and brings the hosted partitions in
// line with the new image.
//
// Changes are serialised as a whole (commit, reconcile, hooks), so that two
// concurrent changes never both open a partition the other created. Hooks
// run under that order and must not call update themselves.
func (b *Broker) update(fn func(img *cluster.Image) ([]*cluster.Record, error)) (*cluster.Image, error) {
	b.updateMu.Lock()
	defer b.updateMu.Unlock()
	old := b.store.Image()
	img, err := b.store.Update(fn)
	if err != nil || img == old {
		return img, err
	}
	if err := b.reconcile(old, img); err != nil {
		return img, err
	}
	b.mu.RLock()
	hooks := b.hooks
	b.mu.RUnlock()
	for _, h := range hooks {
		h(old, img)
	}
	return img, nil
}

// partitionDir is the folder of one partition, named as Kafka names it.
func (b *Broker) partitionDir(topic string, idx int32) string {
	return filepath.Join(b.opts.DataDir, topic+"-"+strconv.Itoa(int(idx)))
}

// Partition returns a hosted partition, or nil.
func (b *Broker) Partition(id cluster.TopicID, idx int32) *partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	ps := b.parts[id]
	if idx < 0 || int(idx) >= len(ps) {
		return nil
	}
	return ps[idx]
}

// PartitionByName returns a hosted partition by topic name, or nil.
func (b *Broker) PartitionByName(topic string, idx int32) *partition.Partition {
	t := b.store.Image().Topics[topic]
	if t == nil {
		return nil
	}
	return b.Partition(t.ID, idx)
}

// Partitions returns the topic's hosted partitions.
func (b *Broker) Partitions(id cluster.TopicID) []*partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.parts[id]
}

func (b *Broker) partitionConfig(t *cluster.Topic) partition.Config {
	tc := b.cfg.Topic(t.Configs)
	return partition.Config{
		Log:                  logConfig(tc),
		MaxMessageBytes:      int(tc.MaxMessageBytes),
		LogAppendTime:        tc.MessageTimestampType.LogAppendTime,
		TimestampBeforeMaxMs: tc.MessageTimestampBeforeMaxMs,
		TimestampAfterMaxMs:  tc.MessageTimestampAfterMaxMs,
		Compact:              tc.CleanupPolicy.Compact,
		// Group and transaction state must never be acknowledged before
		// it is durable, whatever the broker default says.
		WriteCaching:      tc.WriteCaching && !t.Internal,
		MinInsyncReplicas: tc.MinInsyncReplicas,
		Recompress:        tc.CompressionType != "producer",
		Codec:             codecOf(tc.CompressionType),
		Level:             levelOf(tc),
	}
}

// logConfig is the part of a topic's configuration its logs obey. A
// compacted log rolls its active segment after max.compaction.lag.ms too,
// as Kafka's does (its maxSegmentMs): only closed segments are compacted,
// so a record could otherwise stay uncompacted for segment.ms.
func logConfig(tc config.Topic) plog.Config {
	segmentMs := tc.SegmentMs
	if tc.CleanupPolicy.Compact && tc.MaxCompactionLagMs > 0 {
		segmentMs = min(segmentMs, tc.MaxCompactionLagMs)
	}
	return plog.Config{
		SegmentBytes:       tc.SegmentBytes,
		SegmentMs:          segmentMs,
		SegmentJitterMs:    tc.SegmentJitterMs,
		IndexIntervalBytes: int(tc.IndexIntervalBytes),
		SegmentIndexBytes:  int(tc.SegmentIndexBytes),
		RetentionMs:        tc.RetentionMs,
		RetentionBytes:     tc.RetentionBytes,
	}
}

// levelOf is the compression level of the topic's codec.
func levelOf(tc config.Topic) int {
	switch tc.CompressionType {
	case "gzip":
		return tc.CompressionGzipLevel
	case "lz4":
		return tc.CompressionLz4Level
	case "zstd":
		return tc.CompressionZstdLevel
	}
	return 0
}

// codecOf maps a compression.type value to the codec batches are stored
// with.
func codecOf(compressionType string) records.Codec {
	switch compressionType {
	case "gzip":
		return records.CodecGzip
	case "snappy":
		return records.CodecSnappy
	case "lz4":
		return records.CodecLZ4
	case "zstd":
		return records.CodecZstd
	}
	return records.CodecNone
}

// openPartition opens (creating if new) one partition. With deferSyncs
// nothing it writes is synced: the caller syncs the file system once for
// many partitions, then ends the partitions' deferral.
func (b *Broker) openPartition(t *cluster.Topic, idx int32, cfg partition.Config, deferSyncs bool) (*partition.Partition, error) {
	dir := b.partitionDir(t.Name, idx)
	fsys := b.fs
	// The data directory's SyncFS does not reach a partition directory
	// on another file system.
	deferSyncs = deferSyncs && b.flusher.Covers(b.fs, dir)
	if deferSyncs {
		d := plog.NewDeferredFS(b.fs)
		defer d.Defer()()
		fsys = d
	}
	if err := b.checkPartitionMetadata(fsys, dir, t.ID); err != nil {
		return nil, err
	}
	return partition.Open(partition.Options{
		Topic: t.Name, Index: idx, TopicID: t.ID, LeaderEpoch: t.LeaderEpochs[idx],
		FS: b.fs, Dir: dir, Config: cfg, Flusher: b.flusher, Logger: b.logger, Now: b.now,
		Foreign: []string{partitionMetadataFile}, DeferSyncs: deferSyncs,
	})
}

// openNew opens a topic's new partitions [from, to) in parallel. Where the
// file system can be synced as a whole, their syncs are deferred and one
// SyncFS makes them all durable before any takes an append: creating
// thousands of partitions then costs one journal commit rather than
// several fsyncs each (minutes for 10,000 partitions otherwise).
func (b *Broker) openNew(t *cluster.Topic, from, to int32, cfg partition.Config) ([]*partition.Partition, error) {
	deferSyncs := plog.SupportsSyncFS(b.fs)
	out := make([]*partition.Partition, to-from)
	errs := make([]error, to-from)
	var wg sync.WaitGroup
	next := make(chan int32)
	for w := 0; w < max(4, runtime.GOMAXPROCS(0)*4); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i-from], errs[i-from] = b.openPartition(t, i, cfg, deferSyncs)
			}
		}()
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	err := errors.Join(errs...)
	if deferSyncs {
		if serr := b.fs.(plog.FileSystemSyncer).SyncFS(b.opts.DataDir); serr != nil {
			err = errors.Join(err, fmt.Errorf("sync new partitions of %s: %w", t.Name, serr))
		}
		for _, p := range out {
			if p != nil {
				p.EndDeferredSyncs()
			}
		}
	}
	if err != nil {
		for _, p := range out {
			if p != nil {
				p.Close()
			}
		}
		return nil, err
	}
	return out, nil
}

// partitionMetadataFile records the topic id a partition folder belongs to,
// so a folder left by a deleted topic is never served as the new topic of
// the same name (Kafka's partition.metadata).
const partitionMetadataFile = "partition.metadata"

func (b *Broker) checkPartitionMetadata(fsys plog.FS, dir string, id cluster.TopicID) error {
	want := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	path := filepath.Join(dir, partitionMetadataFile)
	if f, err := fsys.OpenFile(path, os.O_RDONLY, 0); err == nil {
		buf := make([]byte, 256)
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		if string(buf[:n]) == want {
			return nil
		}
		b.logger.Warn("partition folder belongs to another topic id; removing it", "dir", dir)
		if err := fsys.RemoveAll(dir); err != nil {
			return err
		}
	} else if _, serr := fsys.Stat(dir); serr == nil {
		// A folder without the file: written before the file existed or
		// torn at creation. Its id cannot be proven, so it is not kept.
		b.logger.Warn("partition folder has no partition.metadata; removing it", "dir", dir)
		if err := fsys.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := plog.MkdirDurable(fsys, dir); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(want))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err == nil {
		err = fsys.SyncDir(b.opts.DataDir)
	}
	return err
}

// openAll opens every partition of the image, in parallel because a crash
// recovery validates each log's tail, and removes folders that belong to
// no topic.
func (b *Broker) openAll(img *cluster.Image) error {
	if err := b.removeStrayDirs(img); err != nil {
		return err
	}
	type job struct {
		t   *cluster.Topic
		idx int32
	}
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for _, t := range img.Topics {
		b.parts[t.ID] = make([]*partition.Partition, t.Partitions)
	}
	for w := 0; w < max(4, runtime.GOMAXPROCS(0)*4); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				p, err := b.openPartition(j.t, j.idx, b.partitionConfig(j.t), false)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("open %s-%d: %w", j.t.Name, j.idx, err)
				}
				if p != nil {
					b.parts[j.t.ID][j.idx] = p
				}
				mu.Unlock()
			}
		}()
	}
	for _, t := range img.Topics {
		for i := int32(0); i < t.Partitions; i++ {
			jobs <- job{t, i}
		}
	}
	close(jobs)
	wg.Wait()
	return firstErr
}

// removeStrayDirs deletes partition folders of topics that no longer exist:
// a delete that crashed before its folders were removed.
func (b *Broker) removeStrayDirs(img *cluster.Image) error {
	names, err := b.fs.ReadDir(b.opts.DataDir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == cluster.MetadataDir || name == cluster.MetaFile || strings.HasPrefix(name, ".") {
			continue
		}
		dash := strings.LastIndexByte(name, '-')
		if dash <= 0 {
			continue
		}
		idx, err := strconv.Atoi(name[dash+1:])
		topic := name[:dash]
		if err == nil {
			if t := img.Topics[topic]; t != nil && idx < int(t.Partitions) {
				continue
			}
		} else if !strings.HasSuffix(name, "-delete") {
			continue
		}
		if st, err := b.fs.Stat(filepath.Join(b.opts.DataDir, name)); err != nil || !st.IsDir() {
			continue
		}
		b.logger.Info("removing the folder of a deleted topic", "dir", name)
		if err := b.fs.RemoveAll(filepath.Join(b.opts.DataDir, name)); err != nil {
			return err
		}
	}
	return nil
}

// reconcile opens partitions the new image adds, closes and deletes those
// it drops, and applies changed configs.
func (b *Broker) reconcile(old, img *cluster.Image) error {
	if err := b.applyBrokerConfigs(img); err != nil {
		return err
	}
	var errs []error
	for id, ot := range old.ByID {
		if _, ok := img.ByID[id]; ok {
			continue
		}
		b.mu.Lock()
		ps := b.parts[id]
		delete(b.parts, id)
		b.mu.Unlock()
		for _, p := range ps {
			if p != nil {
				if err := p.Delete(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		// Fetch sessions keep the topic's partitions: each fetch then
		// answers them UNKNOWN_TOPIC_ID (UNKNOWN_TOPIC_OR_PARTITION
		// before v13), which sends the client to refresh its metadata,
		// as Kafka does.
		b.logger.Info("deleted topic", "topic", ot.Name, "id", ot.ID.String())
	}
	brokerChanged := !sameBrokerConfigs(old, img)
	for id, t := range img.ByID {
		ot := old.ByID[id]
		cfg := b.partitionConfig(t)
		b.mu.RLock()
		have := b.parts[id]
		b.mu.RUnlock()
		if ot != nil && (brokerChanged || !sameConfigs(ot.Configs, t.Configs)) {
			for _, p := range have {
				if p != nil {
					p.SetConfig(cfg)
				}
			}
		}
		if int32(len(have)) >= t.Partitions {
			continue
		}
		added, err := b.openNew(t, int32(len(have)), t.Partitions, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("open partitions of %s: %w", t.Name, err))
		}
		b.mu.Lock()
		b.parts[id] = append(append([]*partition.Partition(nil), b.parts[id]...), added...)
		b.mu.Unlock()
		if ot == nil {
			b.logger.Info("created topic", "topic", t.Name, "partitions", t.Partitions, "id", t.ID.String())
		}
	}
	return errors.Join(errs...)
}

func sameConfigs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameBrokerConfigs(a, b *cluster.Image) bool {
	if len(a.Brokers) != len(b.Brokers) {
		return false
	}
	for k, v := range a.Brokers {
		if !sameConfigs(v, b.Brokers[k]) {
			return false
		}
	}
	return true
}

// applyBrokerConfigs loads the image's dynamic broker configs into the
// broker configuration.
func (b *Broker) applyBrokerConfigs(img *cluster.Image) error {
	self := strconv.Itoa(int(b.opts.NodeID))
	for _, lvl := range []struct {
		perBroker bool
		want      map[string]string
	}{{false, img.Brokers[""]}, {true, img.Brokers[self]}} {
		have := b.cfg.Dynamic(lvl.perBroker)
		changes := map[string]*string{}
		for k := range have {
			if _, ok := lvl.want[k]; !ok {
				changes[k] = nil
			}
		}
		for k, v := range lvl.want {
			if have[k] != v {
				changes[k] = &v
			}
		}
		if len(changes) == 0 {
			continue
		}
		if err := b.cfg.AlterDynamic(lvl.perBroker, changes, false); err != nil {
			return fmt.Errorf("apply dynamic broker configs: %w", err)
		}
	}
	return nil
}

// retentionLoop enforces retention.ms and retention.bytes on every
// partition with the delete policy, every log.retention.check.interval.ms.
func (b *Broker) retentionLoop() {
	defer b.wg.Done()
	for {
		interval := time.Duration(b.cfg.Long("log.retention.check.interval.ms")) * time.Millisecond
		if interval <= 0 {
			interval = 5 * time.Minute
		}
		t := time.NewTimer(interval)
		select {
		case <-b.stop:
			t.Stop()
			return
		case <-t.C:
		}
		b.EnforceRetention()
	}
}

// EnforceRetention runs one retention pass over every partition.
func (b *Broker) EnforceRetention() {
	img := b.store.Image()
	for id, t := range img.ByID {
		if !b.cfg.Topic(t.Configs).CleanupPolicy.Delete {
			continue
		}
		for _, p := range b.Partitions(id) {
			if p == nil {
				continue
			}
			n, err := p.EnforceRetention()
			if err != nil {
				b.logger.Warn("retention failed", "topic", t.Name, "partition", p.Index, "err", err)
			} else if n > 0 {
				b.logger.Info("retention deleted segments", "topic", t.Name, "partition", p.Index, "segments", n, "log_start_offset", p.LogStartOffset())
			}
		}
	}
}

// Close stops background work and closes every partition, flushing it and
// marking it cleanly shut down.
func (b *Broker) Close() error {
	b.stopOnce.Do(func() { close(b.stop) })
	b.wg.Wait()
	var errs []error
	// Coordinators write their final state through the partitions, so
	// they stop first.
	if err := b.stopTxns(); err != nil {
		errs = append(errs, err)
	}
	if err := b.stopGroups(); err != nil {
		errs = append(errs, err)
	}
	b.mu.Lock()
	parts := b.parts
	b.parts = map[cluster.TopicID][]*partition.Partition{}
	b.mu.Unlock()
	// Every acknowledged batch is durable already: the server stopped
	// first. What closing writes (last flushes, indexes, checkpoints,
	// snapshots, clean-shutdown markers) is made durable by one
	// file-system sync for all partitions where possible, instead of
	// several syncs each (seconds per thousand partitions). A crash before
	// that sync leaves logs that recovery validates as after any crash.
	deferSyncs := plog.SupportsSyncFS(b.fs)
	var wg sync.WaitGroup
	var emu sync.Mutex
	sem := make(chan struct{}, max(4, runtime.GOMAXPROCS(0)*4))
	for _, ps := range parts {
		for _, p := range ps {
			if p == nil {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if deferSyncs {
					p.DeferSyncs()
				}
				if err := p.Close(); err != nil {
					emu.Lock()
					errs = append(errs, err)
					emu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if deferSyncs && len(parts) > 0 {
		if err := b.fs.(plog.FileSystemSyncer).SyncFS(b.opts.DataDir); err != nil {
			errs = append(errs, fmt.Errorf("sync closed partitions: %w", err))
		}
	}
	if b.flusher != nil {
		b.flusher.Close()
	}
	if b.store != nil {
		if err := b.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
