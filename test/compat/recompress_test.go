package compat

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A topic whose compression.type names a codec has the broker recompress
// batches in another codec, at the topic's compression.<codec>.level: the
// same uncompressed batch is stored smaller at the highest level than at
// the lowest (gzip, zstd), in the topic's codec, and reads back the same.
func TestFranzRecompressionLevel(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	// Records alike in shape, different in their numbers: text whose
	// longer matches the higher levels find.
	var recs []*kgo.Record
	for i := range 8000 {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "record %d of topic orders, customer %d, amount %d.%02d", i, i*7919%1000, i*31%997, i%100)})
	}
	sizes := map[string]int{}
	for _, c := range []struct {
		codec, key, low, high string
		smaller               bool // the high level must store fewer bytes
	}{
		{"gzip", "compression.gzip.level", "1", "9", true},
		// lz4's levels differ by a few bytes on this data;
		// internal/records TestCompressLevel shows them apart.
		{"lz4", "compression.lz4.level", "1", "17", false},
		{"zstd", "compression.zstd.level", "1", "22", true},
	} {
		for _, level := range []string{c.low, c.high} {
			topic := topicName(c.codec + "-" + level)
			createTopicFranz(t, adm, topic, 1, map[string]*string{"compression.type": &c.codec, c.key: &level})
			// One batch: every record is buffered before the linger ends.
			cl := franzClient(t, b.Addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(200*time.Millisecond))
			for _, r := range recs {
				r.Topic = topic
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("%s: produce: %v", topic, err)
			}
			n := 0
			for _, sb := range storedBatches(t, b.Addr, topic, 0) {
				if want := map[string]int8{"gzip": 1, "lz4": 3, "zstd": 4}[c.codec]; sb.codec != want {
					t.Fatalf("%s: a batch stored with codec %d, want %d", topic, sb.codec, want)
				}
				n += sb.recordsLen
			}
			sizes[c.codec+" "+level] = n
			if got := franzRead(t, b.Addr, topic, 0, 0, len(recs)); len(got) != len(recs) || string(got[len(got)-1].Value) != string(recs[len(recs)-1].Value) {
				t.Fatalf("%s: read back %d records", topic, len(got))
			}
		}
		if lo, hi := sizes[c.codec+" "+c.low], sizes[c.codec+" "+c.high]; c.smaller && hi >= lo {
			t.Errorf("%s: %d bytes stored at level %s, %d at level %s; want fewer at the higher level", c.codec, lo, c.low, hi, c.high)
		}
	}
	t.Logf("stored bytes by codec and level: %v", sizes)
}
