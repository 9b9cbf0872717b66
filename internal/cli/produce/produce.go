// Package produce is `plexus produce`: records from standard input, one
// per line or one JSON object each, to a topic (as kcat -P and rpk topic
// produce).
package produce

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/plexus/plexus/internal/cli/kafka"
	"github.com/plexus/plexus/internal/cli/out"
)

// Command returns `plexus produce`.
func Command() *cobra.Command {
	var (
		key, keyDelim, format, compression, acks string
		headers                                  []string
		partition                                int32
		autoCreate                               bool
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records from standard input",
		Long: `Read records from standard input and produce them to TOPIC, then print how
many records went to each partition and their offsets.

Text input (the default) is one record per line: the line is the value. With
--key-delim the line is split at the first delimiter into key and value (a
line without the delimiter has no key). -k gives every record the same key;
-H adds headers to every record.

JSON input (--format json) is a stream of objects, one per record:

  {"key": "k1", "value": "v1", "headers": {"source": "web"}, "partition": 0}

key and value are strings (a JSON object or number is sent as its JSON
text), null or absent; headers is an object or a list of {"key","value"};
partition and timestamp (milliseconds since the epoch) are optional. Fields
that "plexus consume -f json" prints but produce does not use (topic,
offset, leader_epoch) are ignored, so consumed records can be produced
again.

Records without a partition go where Kafka's default partitioner sends them:
by the hash of their key, or spread evenly without a key. The command stops
at the first record the broker refuses and names its line.`,
		Example: `  echo hello | plexus produce greetings
  printf 'user1:clicked\nuser2:scrolled\n' | plexus produce events --key-delim :
  plexus produce events -H source=cli -z zstd < events.txt
  echo '{"key":"k","value":"v","headers":{"h":"1"}}' | plexus produce events --format json
  plexus consume events -f json -n 100 | plexus produce events-copy --format json`,
		Args: cobra.ExactArgs(1),
	}
	k := kafka.AddFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&key, "key", "k", "", "key for every record (text input)")
	f.StringVar(&keyDelim, "key-delim", "", "split each line at the first occurrence of this delimiter into key and value (text input)")
	f.StringArrayVarP(&headers, "header", "H", nil, "header key=value added to every record (repeatable)")
	f.StringVar(&format, "format", "text", "input format: text (one record per line) or json (one object per record)")
	f.Int32VarP(&partition, "partition", "p", -1, "partition to produce to (-1: by key hash, or spread without a key)")
	f.StringVarP(&compression, "compression", "z", "snappy", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.StringVar(&acks, "acks", "all", "acknowledgements to wait for: all (-1), 1 (leader only) or 0 (none)")
	f.BoolVar(&autoCreate, "allow-auto-topic-creation", false, "create the topic if it does not exist (needs auto.create.topics.enable on the broker)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		topic := args[0]
		if format != "text" && format != "json" {
			return fmt.Errorf("--format %q: use text or json", format)
		}
		var opts []kgo.Opt
		codec, err := parseCompression(compression)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.ProducerBatchCompression(codec))
		ackOpts, acked, err := parseAcks(acks)
		if err != nil {
			return err
		}
		opts = append(opts, ackOpts...)
		hdrs, err := parseHeaders(headers)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.RecordPartitioner(explicitPartitioner{kgo.StickyKeyPartitioner(nil)}), kgo.UnknownTopicRetries(2))
		if autoCreate {
			opts = append(opts, kgo.AllowAutoTopicCreation())
		}
		var read reader
		if format == "json" {
			read = jsonReader(cmd.InOrStdin())
		} else {
			read = textReader(cmd.InOrStdin(), keyDelim, key, cmd.Flags().Changed("key"))
		}
		cl, err := k.Client(cmd.Context(), opts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		return run(cmd, cl, topic, partition, hdrs, read, acked)
	}
	return cmd
}

// reader returns the next record and its position in the input ("line 3"),
// or io.EOF.
type reader func() (*kgo.Record, string, error)

type partStats struct {
	records     int64
	first, last int64
}

func run(cmd *cobra.Command, cl *kgo.Client, topic string, partition int32, hdrs []kgo.RecordHeader, read reader, acked bool) error {
	ctx := cmd.Context()
	var (
		mu       sync.Mutex
		firstErr error
		sent     int64
		done     int64
		stats    = map[int32]*partStats{}
	)
	progress := out.StartProgress(cmd.ErrOrStderr(), func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("produced %d records", done)
	})
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return firstErr != nil
	}
	var readErr error
	for !failed() && ctx.Err() == nil {
		r, where, err := read()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		r.Topic = topic
		if r.Partition < 0 {
			r.Partition = partition
		}
		r.Headers = append(r.Headers, hdrs...)
		sent++
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("record at %s not produced: %w", where, explain(err, r))
				}
				return
			}
			done++
			s := stats[r.Partition]
			if s == nil {
				s = &partStats{first: r.Offset, last: r.Offset}
				stats[r.Partition] = s
			}
			s.records++
			s.first, s.last = min(s.first, r.Offset), max(s.last, r.Offset)
		})
	}
	// Deliver what was read even after an interrupt, within bounds.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	flushErr := cl.Flush(fctx)
	progress.Stop()
	mu.Lock()
	defer mu.Unlock()
	if flushErr != nil && firstErr == nil {
		firstErr = fmt.Errorf("delivering the records read: %w", kafka.Explain(flushErr))
	}
	if done > 0 || (firstErr == nil && readErr == nil) {
		if err := summary(cmd.OutOrStdout(), topic, done, stats, acked); err != nil {
			return err
		}
	}
	switch {
	case readErr != nil:
		return readErr
	case firstErr != nil:
		return firstErr
	}
	return ctx.Err()
}

func summary(w io.Writer, topic string, done int64, stats map[int32]*partStats, acked bool) error {
	noun := "records"
	if done == 1 {
		noun = "record"
	}
	fmt.Fprintf(w, "Produced %d %s to %s.\n", done, noun, topic)
	if len(stats) == 0 {
		return nil
	}
	parts := make([]int32, 0, len(stats))
	for p := range stats {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	t := out.NewTable(w, "partition", "records", "first-offset", "last-offset")
	for _, p := range parts {
		s := stats[p]
		if acked {
			t.Row(p, s.records, s.first, s.last)
		} else {
			t.Row(p, s.records, "-", "-") // acks=0: the broker says nothing
		}
	}
	return t.Flush()
}

func explain(err error, r *kgo.Record) error {
	if strings.Contains(err.Error(), "invalid record partitioning choice") {
		return fmt.Errorf("partition %d does not exist in topic %s (see its partitions with `plexus topic describe %s -p`)", r.Partition, r.Topic, r.Topic)
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %s does not exist; create it with `plexus topic create %s` or pass --allow-auto-topic-creation (%w)", r.Topic, r.Topic, err)
	}
	return kafka.Explain(err)
}

// explicitPartitioner sends a record with a partition (>= 0) there and
// leaves the others to Kafka's default partitioning.
type explicitPartitioner struct{ def kgo.Partitioner }

func (p explicitPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return explicitTopic{p.def.ForTopic(t)}
}

type explicitTopic struct{ def kgo.TopicPartitioner }

func (p explicitTopic) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.def.RequiresConsistency(r)
}

func (p explicitTopic) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.def.Partition(r, n)
}

func (p explicitTopic) OnNewBatch() {
	if nb, ok := p.def.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("-z %q: use none, gzip, snappy, lz4 or zstd", s)
}

func parseAcks(s string) ([]kgo.Opt, bool, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, true, nil
	case "1", "leader":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, true, nil
	case "0", "none":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, false, nil
	}
	return nil, false, fmt.Errorf("--acks %q: use all (or -1), 1 or 0", s)
}

func parseHeaders(hs []string) ([]kgo.RecordHeader, error) {
	var out []kgo.RecordHeader
	for _, h := range hs {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-H %q: want key=value, e.g. -H source=cli", h)
		}
		out = append(out, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return out, nil
}

// textReader reads one record per line.
func textReader(in io.Reader, keyDelim, key string, haveKey bool) reader {
	br := bufio.NewReaderSize(in, 64<<10)
	line := 0
	return func() (*kgo.Record, string, error) {
		b, err := br.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				return nil, "", io.EOF
			}
			return nil, "", fmt.Errorf("reading standard input: %w", err)
		}
		line++
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		r := &kgo.Record{Partition: -1, Value: b}
		if haveKey {
			r.Key = []byte(key)
		}
		if keyDelim != "" {
			if i := bytes.Index(b, []byte(keyDelim)); i >= 0 {
				r.Key, r.Value = b[:i], b[i+len(keyDelim):]
			}
		}
		return r, fmt.Sprintf("line %d", line), nil
	}
}

// jsonRecord is one record of JSON input; consume -f json prints the same
// shape.
type jsonRecord struct {
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Headers   json.RawMessage `json:"headers"`
	Partition *int32          `json:"partition"`
	Timestamp *int64          `json:"timestamp"`
	// Printed by consume, ignored here.
	Topic       json.RawMessage `json:"topic"`
	Offset      json.RawMessage `json:"offset"`
	LeaderEpoch json.RawMessage `json:"leader_epoch"`
}

// jsonReader reads a stream of JSON objects.
func jsonReader(in io.Reader) reader {
	dec := json.NewDecoder(bufio.NewReaderSize(in, 64<<10))
	dec.DisallowUnknownFields()
	n := 0
	return func() (*kgo.Record, string, error) {
		var jr jsonRecord
		if err := dec.Decode(&jr); err != nil {
			if err == io.EOF {
				return nil, "", io.EOF
			}
			return nil, "", fmt.Errorf("JSON record %d: %w (want objects like {\"key\":\"k\",\"value\":\"v\",\"headers\":{\"h\":\"1\"}})", n+1, err)
		}
		n++
		where := fmt.Sprintf("JSON record %d", n)
		r := &kgo.Record{Partition: -1}
		var err error
		if r.Key, err = bytesOf(jr.Key); err != nil {
			return nil, "", fmt.Errorf("%s: key: %w", where, err)
		}
		if r.Value, err = bytesOf(jr.Value); err != nil {
			return nil, "", fmt.Errorf("%s: value: %w", where, err)
		}
		if r.Headers, err = headersOf(jr.Headers); err != nil {
			return nil, "", fmt.Errorf("%s: headers: %w", where, err)
		}
		if jr.Partition != nil {
			if *jr.Partition < 0 {
				return nil, "", fmt.Errorf("%s: partition %d: want 0 or more", where, *jr.Partition)
			}
			r.Partition = *jr.Partition
		}
		if jr.Timestamp != nil {
			r.Timestamp = time.UnixMilli(*jr.Timestamp)
		}
		return r, where, nil
	}
}

// bytesOf turns a JSON string into its text, null or absent into nil, and
// any other JSON value into its compact JSON text.
func bytesOf(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func headersOf(raw json.RawMessage) ([]kgo.RecordHeader, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var hs []kgo.RecordHeader
	switch raw[0] {
	case '{':
		// An object keeps its keys' order: decode it token by token.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.Token()
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return nil, err
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, err
			}
			b, err := bytesOf(v)
			if err != nil {
				return nil, err
			}
			hs = append(hs, kgo.RecordHeader{Key: t.(string), Value: b})
		}
	case '[':
		var list []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		for _, h := range list {
			b, err := bytesOf(h.Value)
			if err != nil {
				return nil, err
			}
			hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: b})
		}
	default:
		return nil, errors.New(`want an object {"k":"v"} or a list [{"key":"k","value":"v"}]`)
	}
	return hs, nil
}
