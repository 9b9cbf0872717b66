package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestClientFranz(t *testing.T) {
	t.Parallel()
	clientSuite(t, func(t *testing.T, addr string) driver {
		cl, adm := franzAdmin(t, addr)
		return &franzDriver{t: t, addr: addr, cl: cl, adm: adm}
	})
}

// franzDriver speaks franz-go: kgo for data, kadm for admin, kmsg where
// kadm has no call.
type franzDriver struct {
	t    *testing.T
	addr string
	cl   *kgo.Client
	adm  *kadm.Client
}

func (d *franzDriver) modes() (nullModes, nullModes) { return exact, exact }

func (d *franzDriver) createTopic(ctx context.Context, topic string, partitions int32, configs map[string]string) error {
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	resp, err := d.adm.CreateTopic(ctx, partitions, 1, cfg, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

func (d *franzDriver) listTopics(ctx context.Context) (map[string]int, error) {
	td, err := d.adm.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for name, t := range td {
		out[name] = len(t.Partitions)
	}
	return out, nil
}

func (d *franzDriver) describeTopic(ctx context.Context, topic string) (topicMeta, error) {
	td, err := d.adm.ListTopics(ctx, topic)
	if err != nil {
		return topicMeta{}, err
	}
	t, ok := td[topic]
	if !ok {
		return topicMeta{}, fmt.Errorf("topic %s not in metadata", topic)
	}
	if t.Err != nil {
		return topicMeta{}, t.Err
	}
	md := topicMeta{ID: t.ID, HasID: true}
	for _, p := range t.Partitions.Sorted() {
		md.Partitions = append(md.Partitions, partMeta{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR})
	}
	return md, nil
}

func franzCodec(c string) kgo.CompressionCodec {
	switch c {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func franzAcks(a string) []kgo.Opt {
	switch a {
	case "0":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}
	case "1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	}
	return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
}

func (d *franzDriver) produce(ctx context.Context, topic, codec, acks string, recs []rec) ([]int64, error) {
	opts := append(franzAcks(acks), kgo.ProducerBatchCompression(franzCodec(codec)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cl := franzClient(d.t, d.addr, opts...)
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = toKgo(topic, r)
	}
	res := cl.ProduceSync(ctx, krs...)
	if err := res.FirstErr(); err != nil {
		return nil, err
	}
	if acks == "0" {
		return nil, nil
	}
	// ProduceSync's results come in completion order, not input order.
	idx := make(map[*kgo.Record]int, len(krs))
	for i, r := range krs {
		idx[r] = i
	}
	out := make([]int64, len(res))
	for _, r := range res {
		out[idx[r.Record]] = r.Record.Offset
	}
	return out, nil
}

func (d *franzDriver) consume(ctx context.Context, topic string, partition int32, from int64, n int) ([]rec, error) {
	cl := franzClient(d.t, d.addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	defer cl.Close()
	var out []rec
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("got %d of %d records: %w", len(out), n, ctx.Err())
		}
		if err := fs.Err0(); err != nil {
			return out, err
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, fromKgo(r)) })
	}
	return out, nil
}

func (d *franzDriver) listOffset(ctx context.Context, topic string, partition int32, spec int64) (int64, int64, error) {
	var (
		lo  kadm.ListedOffsets
		err error
	)
	switch spec {
	case -2:
		lo, err = d.adm.ListStartOffsets(ctx, topic)
	case -1:
		lo, err = d.adm.ListEndOffsets(ctx, topic)
	case -3:
		lo, err = d.adm.ListMaxTimestampOffsets(ctx, topic)
	default:
		lo, err = d.adm.ListOffsetsAfterMilli(ctx, spec, topic)
	}
	if err != nil {
		return 0, 0, err
	}
	o, ok := lo.Lookup(topic, partition)
	if !ok {
		return 0, 0, fmt.Errorf("no offset listed for %s/%d", topic, partition)
	}
	if o.Err != nil {
		return 0, 0, o.Err
	}
	if spec >= 0 && o.Timestamp == -1 {
		// kadm answers "nothing at or after" with the end offset and
		// no timestamp.
		return -1, -1, nil
	}
	return o.Offset, o.Timestamp, nil
}

func (d *franzDriver) deleteRecords(ctx context.Context, topic string, partition int32, before int64) (int64, error) {
	os := make(kadm.Offsets)
	os.Add(kadm.Offset{Topic: topic, Partition: partition, At: before})
	resp, err := d.adm.DeleteRecords(ctx, os)
	if err != nil {
		return 0, err
	}
	r, ok := resp.Lookup(topic, partition)
	if !ok {
		return 0, fmt.Errorf("no delete records response for %s/%d", topic, partition)
	}
	return r.LowWatermark, r.Err
}

func (d *franzDriver) fetchAt(ctx context.Context, topic string, partition int32, offset int64) error {
	cl := franzClient(d.t, d.addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fs.Err0(); err != nil {
			return err
		}
		if fs.NumRecords() > 0 {
			return nil
		}
	}
}

func (d *franzDriver) alterIncremental(ctx context.Context, topic string, ops []alterOp) error {
	var acs []kadm.AlterConfig
	for _, o := range ops {
		ac := kadm.AlterConfig{Name: o.Name, Value: kadm.StringPtr(o.Value)}
		if o.Delete {
			ac.Op, ac.Value = kadm.DeleteConfig, nil
		}
		acs = append(acs, ac)
	}
	resp, err := d.adm.AlterTopicConfigs(ctx, acs, topic)
	if err != nil {
		return err
	}
	return resp[0].Err
}

func (d *franzDriver) alterLegacy(ctx context.Context, topic string, set map[string]string) error {
	var acs []kadm.AlterConfig
	for k, v := range set {
		acs = append(acs, kadm.AlterConfig{Name: k, Value: kadm.StringPtr(v)})
	}
	resp, err := d.adm.AlterTopicConfigsState(ctx, acs, topic)
	if err != nil {
		return err
	}
	return resp[0].Err
}

func (d *franzDriver) describeConfigs(ctx context.Context, topic string, synonyms bool) (map[string]cfgEntry, error) {
	out := map[string]cfgEntry{}
	if synonyms {
		rcs, err := d.adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return nil, err
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			return nil, err
		}
		if rc.Err != nil {
			return nil, rc.Err
		}
		for _, c := range rc.Configs {
			e := cfgEntry{Name: c.Key, Value: c.Value, Source: int8(c.Source)}
			for _, s := range c.Synonyms {
				e.Synonyms = append(e.Synonyms, cfgSyn{Name: s.Key, Value: s.Value, Source: int8(s.Source)})
			}
			out[c.Key] = e
		}
		return out, nil
	}
	// kadm always asks for synonyms; without them, ask with kmsg and
	// check that none come back.
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, d.cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Resources) != 1 {
		return nil, fmt.Errorf("describe configs: %d resources in the response", len(resp.Resources))
	}
	res := resp.Resources[0]
	if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
		return nil, err
	}
	for _, c := range res.Configs {
		if len(c.ConfigSynonyms) > 0 {
			return nil, fmt.Errorf("describe configs without synonyms: %s came with %d synonyms", c.Name, len(c.ConfigSynonyms))
		}
		out[c.Name] = cfgEntry{Name: c.Name, Value: c.Value, Source: int8(c.Source)}
	}
	return out, nil
}

func (d *franzDriver) createPartitions(ctx context.Context, topic string, total int32) error {
	resp, err := d.adm.UpdatePartitions(ctx, int(total), topic)
	if err != nil {
		return err
	}
	r, err := resp.On(topic, nil)
	if err != nil {
		return err
	}
	return r.Err
}

func (d *franzDriver) deleteTopic(ctx context.Context, topic string) error {
	resp, err := d.adm.DeleteTopic(ctx, topic)
	if err != nil {
		return err
	}
	return resp.Err
}

func (d *franzDriver) errCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -1
}
