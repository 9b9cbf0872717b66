package compat

// Broker features checked through franz-go: kadm where it has a call, kmsg
// where the exact request or error code matters.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func wantErr(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if got != want.Code {
		t.Errorf("%s: error %s, want %s", what, codeName(got), want.Message)
	}
}

func TestFranzCreateTopicsErrors(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "existing", 1, nil)
	createTopicFranz(t, adm, "existing-asked-badly", 1, nil)
	createTopicFranz(t, adm, "collide.name", 1, nil)

	type tc struct {
		partitions int32
		rf         int16
		configs    map[string]string
		want       *kerr.Error
	}
	cases := map[string]tc{
		"ok-with-configs":        {2, 1, map[string]string{"retention.ms": "3600000"}, nil},
		"ok-defaults":            {-1, -1, nil, nil},
		"bad name!":              {1, 1, nil, kerr.InvalidTopicException},
		".":                      {1, 1, nil, kerr.InvalidTopicException},
		"..":                     {1, 1, nil, kerr.InvalidTopicException},
		strings.Repeat("x", 250): {1, 1, nil, kerr.InvalidTopicException},
		"collide_name":           {1, 1, nil, kerr.InvalidTopicException},
		"existing":               {1, 1, nil, kerr.TopicAlreadyExists},
		// An existing topic is reported as such whatever else is wrong
		// with the request, as Kafka does: "create if not exists" tools
		// only forgive TOPIC_ALREADY_EXISTS.
		"existing-asked-badly": {0, 3, map[string]string{"retention.ms": "abc"}, kerr.TopicAlreadyExists},
		"bad-config-value":     {1, 1, map[string]string{"retention.ms": "abc"}, kerr.InvalidConfig},
		"bad-config-name":      {1, 1, map[string]string{"no.such.config": "1"}, kerr.InvalidConfig},
		"bad-config-enum":      {1, 1, map[string]string{"cleanup.policy": "sometimes"}, kerr.InvalidConfig},
		"rf-3":                 {1, 3, nil, kerr.InvalidReplicationFactor},
		"zero-partitions":      {0, 1, nil, kerr.InvalidPartitions},
	}
	build := func(validateOnly bool) *kmsg.CreateTopicsRequest {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis, req.ValidateOnly = 30000, validateOnly
		for name, c := range cases {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, c.partitions, c.rf
			for k, v := range c.configs {
				rc := kmsg.NewCreateTopicsRequestTopicConfig()
				rc.Name, rc.Value = k, kmsg.StringPtr(v)
				rt.Configs = append(rt.Configs, rc)
			}
			req.Topics = append(req.Topics, rt)
		}
		return req
	}
	check := func(t *testing.T, resp *kmsg.CreateTopicsResponse) map[string]kmsg.CreateTopicsResponseTopic {
		got := map[string]kmsg.CreateTopicsResponseTopic{}
		for _, rt := range resp.Topics {
			got[rt.Topic] = rt
		}
		for name, c := range cases {
			rt, ok := got[name]
			if !ok {
				t.Errorf("%q: missing from the response", name)
				continue
			}
			if c.want == nil {
				wantErr(t, name, rt.ErrorCode, noError)
				wantP, wantRF := c.partitions, c.rf
				if wantP == -1 {
					wantP, wantRF = 1, 1 // num.partitions, default.replication.factor
				}
				if rt.NumPartitions != wantP || rt.ReplicationFactor != wantRF {
					t.Errorf("%q: response says %d partitions, rf %d; want %d, %d", name, rt.NumPartitions, rt.ReplicationFactor, wantP, wantRF)
				}
				continue
			}
			wantErr(t, name, rt.ErrorCode, c.want)
			if rt.ErrorMessage == nil {
				t.Errorf("%q: error %s without an error message", name, codeName(rt.ErrorCode))
			}
		}
		return got
	}

	t.Run("validate-only", func(t *testing.T) {
		resp := request[*kmsg.CreateTopicsResponse](t, ctx, cl, build(true))
		got := check(t, resp)
		// v5+: the configs the topic would get.
		found := false
		for _, c := range got["ok-with-configs"].Configs {
			if c.Name == "retention.ms" {
				found = true
				if c.Value == nil || *c.Value != "3600000" || c.Source != srcDynamicTopic {
					t.Errorf("validate-only response config retention.ms = %s source %d, want \"3600000\" source %d", strPtr(c.Value), c.Source, srcDynamicTopic)
				}
			}
		}
		if !found {
			t.Errorf("validate-only response lists no config retention.ms for ok-with-configs")
		}
		// Nothing was created.
		for _, name := range []string{"ok-with-configs", "ok-defaults"} {
			md := metadataOf(t, cl, name)
			wantErr(t, "metadata of "+name+" after validate-only", md.ErrorCode, kerr.UnknownTopicOrPartition)
		}
	})
	t.Run("create", func(t *testing.T) {
		resp := request[*kmsg.CreateTopicsResponse](t, ctx, cl, build(false))
		got := check(t, resp)
		for _, name := range []string{"ok-with-configs", "ok-defaults"} {
			md := metadataOf(t, cl, name)
			if md.ErrorCode != 0 || md.TopicID != got[name].TopicID || md.TopicID == ([16]byte{}) {
				t.Errorf("metadata of %s: error %s, id %x; create answered id %x", name, codeName(md.ErrorCode), md.TopicID, got[name].TopicID)
			}
		}
		for name, c := range cases {
			if c.want != nil && c.want != kerr.TopicAlreadyExists {
				md := metadataOf(t, cl, name)
				if md.ErrorCode == 0 {
					t.Errorf("%q was created despite error %s", name, c.want.Message)
				}
			}
		}
	})
	t.Run("duplicate-in-request", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		for range 2 {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "dup", 1, 1
			req.Topics = append(req.Topics, rt)
		}
		resp := request[*kmsg.CreateTopicsResponse](t, ctx, cl, req)
		if len(resp.Topics) == 0 {
			t.Fatalf("no topics in the response")
		}
		for _, rt := range resp.Topics {
			wantErr(t, "duplicate topic in one request", rt.ErrorCode, kerr.InvalidRequest)
		}
	})
}

// metadataOf sends an uncached Metadata request for one topic without
// auto-creation.
func metadataOf(t testing.TB, cl *kgo.Client, topic string) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.MetadataResponse](t, ctxFor(t), cl, req)
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata of %s: %d topics", topic, len(resp.Topics))
	}
	return resp.Topics[0]
}

func TestFranzDeleteTopicsByID(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	id := createTopicFranz(t, adm, "by-id", 2, nil)

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30000
	for _, tid := range [][16]byte{id, {1, 2, 3}} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = tid
		req.Topics = append(req.Topics, rt)
	}
	resp := request[*kmsg.DeleteTopicsResponse](t, ctx, cl, req)
	if resp.Version < 6 {
		t.Fatalf("DeleteTopics v%d: the broker should support v6 (topic ids)", resp.Version)
	}
	if len(resp.Topics) != 2 {
		t.Fatalf("%d topics in the response, want 2", len(resp.Topics))
	}
	for _, rt := range resp.Topics {
		switch rt.TopicID {
		case id:
			wantErr(t, "delete by id", rt.ErrorCode, noError)
			if rt.Topic == nil || *rt.Topic != "by-id" {
				t.Errorf("delete by id: response names topic %s, want \"by-id\"", strPtr(rt.Topic))
			}
		case [16]byte{1, 2, 3}:
			wantErr(t, "delete an unknown id", rt.ErrorCode, kerr.UnknownTopicID)
		default:
			t.Errorf("unexpected topic id %x in the response", rt.TopicID)
		}
	}
	eventually(t, "topic gone", func() error {
		if md := metadataOf(t, cl, "by-id"); md.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			return fmt.Errorf("metadata error %s", codeName(md.ErrorCode))
		}
		return nil
	})
	// Metadata by id (v10+).
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.TopicID = id
	mreq.Topics = append(mreq.Topics, mt)
	mresp := request[*kmsg.MetadataResponse](t, ctx, cl, mreq)
	if len(mresp.Topics) != 1 {
		t.Fatalf("metadata by id: %d topics", len(mresp.Topics))
	}
	wantErr(t, "metadata by the deleted id", mresp.Topics[0].ErrorCode, kerr.UnknownTopicID)
}

func TestFranzDescribeCluster(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl := franzClient(t, b.Addr)
	host, portStr, _ := net.SplitHostPort(b.Addr)
	port, _ := strconv.Atoi(portStr)

	md := request[*kmsg.MetadataResponse](t, ctx, cl, kmsg.NewPtrMetadataRequest())
	if md.ClusterID == nil || *md.ClusterID == "" {
		t.Fatalf("metadata: no cluster id")
	}
	resp := request[*kmsg.DescribeClusterResponse](t, ctx, cl, kmsg.NewPtrDescribeClusterRequest())
	wantErr(t, "describe cluster", resp.ErrorCode, noError)
	if resp.ClusterID != *md.ClusterID {
		t.Errorf("describe cluster: cluster id %q, metadata says %q", resp.ClusterID, *md.ClusterID)
	}
	if resp.ControllerID != nodeID {
		t.Errorf("describe cluster: controller %d, want %d", resp.ControllerID, nodeID)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != nodeID || resp.Brokers[0].Host != host || resp.Brokers[0].Port != int32(port) {
		t.Errorf("describe cluster: brokers %+v, want one: node %d at %s:%d", resp.Brokers, nodeID, host, port)
	}

	// A broker has no controller endpoints to describe (KIP-919): asking
	// for them is the wrong endpoint; an unknown type is unsupported.
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp = request[*kmsg.DescribeClusterResponse](t, ctx, cl, req)
	wantErr(t, "describe cluster controllers", resp.ErrorCode, kerr.MismatchedEndpointType)
	req.EndpointType = 3
	resp = request[*kmsg.DescribeClusterResponse](t, ctx, cl, req)
	wantErr(t, "describe cluster, endpoint type 3", resp.ErrorCode, kerr.UnsupportedEndpointType)

	// With no authorizer every cluster operation Kafka's ACLs define is
	// allowed: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS,
	// ALTER_CONFIGS and IDEMPOTENT_WRITE, and nothing else.
	const clusterOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
	req = kmsg.NewPtrDescribeClusterRequest()
	req.IncludeClusterAuthorizedOperations = true
	resp = request[*kmsg.DescribeClusterResponse](t, ctx, cl, req)
	if resp.ClusterAuthorizedOperations != clusterOps {
		t.Errorf("describe cluster: authorized operations %b, want %b", resp.ClusterAuthorizedOperations, clusterOps)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.IncludeClusterAuthorizedOperations = true // v8 to v10 only
	if md := request[*kmsg.MetadataResponse](t, ctx, pinnedClient(t, b.Addr, 3, 10), mreq); md.AuthorizedOperations != clusterOps {
		t.Errorf("metadata v10: cluster authorized operations %b, want %b", md.AuthorizedOperations, clusterOps)
	}
}

func TestFranzDescribeLogDirs(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "logdirs", 2, nil)
	dataDir, err := filepath.Abs(b.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	sizes := func() (int64, int64) {
		t.Helper()
		all, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			t.Fatalf("describe log dirs: %v", err)
		}
		dirs := all[nodeID]
		if len(dirs) != 1 {
			t.Fatalf("describe log dirs: %d dirs on node %d, want 1: %+v", len(dirs), nodeID, all)
		}
		d, ok := dirs[dataDir]
		if !ok || d.Err != nil {
			t.Fatalf("describe log dirs: dir %s missing or failed: %+v", dataDir, dirs)
		}
		if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
			t.Errorf("describe log dirs: total %d usable %d bytes, want 0 <= usable <= total, total > 0", d.TotalBytes, d.UsableBytes)
		}
		p0, ok0 := d.Topics.Lookup("logdirs", 0)
		p1, ok1 := d.Topics.Lookup("logdirs", 1)
		if !ok0 || !ok1 {
			t.Fatalf("describe log dirs: partitions of logdirs missing: %+v", d.Topics)
		}
		return p0.Size, p1.Size
	}
	s0, s1 := sizes()
	if s0 != 0 || s1 != 0 {
		t.Errorf("empty partitions have sizes %d and %d, want 0", s0, s1)
	}
	recs := sampleRecords("logdirs", 0, 20, 0)
	batch := rawBatch(recs)
	if p := rawProduce(t, ctx, b.Addr, "logdirs", 0, -1, batch); p.ErrorCode != 0 {
		t.Fatalf("produce: %s", codeName(p.ErrorCode))
	}
	a0, a1 := sizes()
	if a0 != int64(len(batch)) || a1 != 0 {
		t.Errorf("after producing one %d-byte batch to partition 0: sizes %d and %d, want %d and 0", len(batch), a0, a1, len(batch))
	}
	if p := rawProduce(t, ctx, b.Addr, "logdirs", 0, -1, batch); p.ErrorCode != 0 {
		t.Fatalf("produce: %s", codeName(p.ErrorCode))
	}
	if c0, _ := sizes(); c0 != 2*int64(len(batch)) {
		t.Errorf("after a second batch: size %d, want %d", c0, 2*len(batch))
	}
}

func TestFranzOffsetForLeaderEpoch(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "olfe", 1, nil)
	md := metadataOf(t, cl, "olfe")
	if md.ErrorCode != 0 || len(md.Partitions) != 1 {
		t.Fatalf("metadata: %+v", md)
	}
	epoch := md.Partitions[0].LeaderEpoch
	if epoch < 0 {
		t.Fatalf("metadata: leader epoch %d", epoch)
	}
	// Before any record: the leader's epoch starts at the log end, 0.
	olfe := func(current, leaderEpoch int32, partition int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "olfe"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = partition, current, leaderEpoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// Straight to the broker: franz-go would answer an unknown
		// partition itself.
		kresp, err := cl.Broker(nodeID).Request(ctx, req)
		if err != nil {
			t.Fatalf("OffsetForLeaderEpoch: %v", err)
		}
		resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("OffsetForLeaderEpoch: malformed response %+v", resp)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := olfe(-1, epoch, 0); p.ErrorCode != 0 || p.LeaderEpoch != epoch || p.EndOffset != 0 {
		t.Errorf("empty log, epoch %d: got epoch %d end %d (%s), want epoch %d end 0", epoch, p.LeaderEpoch, p.EndOffset, codeName(p.ErrorCode), epoch)
	}

	cl2 := franzClient(t, b.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := sampleRecords("olfe", 0, 5, 0)
	for _, r := range recs {
		if err := cl2.ProduceSync(ctx, toKgo("olfe", r)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// With kadm.
	var req kadm.OffsetForLeaderEpochRequest
	req.Add("olfe", 0, epoch)
	res, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := res["olfe"][0]; r.Err != nil || r.LeaderEpoch != epoch || r.EndOffset != 5 {
		t.Errorf("kadm: epoch %d: got epoch %d end %d err %v, want epoch %d end 5", epoch, r.LeaderEpoch, r.EndOffset, r.Err, epoch)
	}
	// The stored batches carry the epoch.
	for _, r := range franzReadRecords(t, b.Addr, "olfe", 0, 0, 5) {
		if r.LeaderEpoch != epoch {
			t.Errorf("record at offset %d has leader epoch %d, want %d", r.Offset, r.LeaderEpoch, epoch)
		}
	}
	if p := olfe(epoch, epoch, 0); p.ErrorCode != 0 || p.LeaderEpoch != epoch || p.EndOffset != 5 {
		t.Errorf("current epoch %d given: got epoch %d end %d (%s), want epoch %d end 5", epoch, p.LeaderEpoch, p.EndOffset, codeName(p.ErrorCode), epoch)
	}
	if p := olfe(-1, epoch+1, 0); p.ErrorCode != 0 || p.LeaderEpoch != -1 || p.EndOffset != -1 {
		t.Errorf("a future epoch %d: got epoch %d end %d (%s), want -1, -1 (UNDEFINED)", epoch+1, p.LeaderEpoch, p.EndOffset, codeName(p.ErrorCode))
	}
	p := olfe(epoch+1, epoch, 0)
	wantErr(t, "current leader epoch ahead of the broker's", p.ErrorCode, kerr.UnknownLeaderEpoch)
	if epoch > 0 {
		p = olfe(epoch-1, epoch, 0)
		wantErr(t, "current leader epoch behind the broker's", p.ErrorCode, kerr.FencedLeaderEpoch)
	}
	p = olfe(-1, epoch, 3)
	wantErr(t, "unknown partition", p.ErrorCode, kerr.UnknownTopicOrPartition)
}

// franzReadRecords is franzRead returning the kgo records themselves.
func franzReadRecords(t testing.TB, addr, topic string, partition int32, from int64, n int) []*kgo.Record {
	t.Helper()
	ctx := ctxFor(t)
	cl := franzClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()))
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s/%d: got %d of %d records", topic, partition, len(out), n)
		}
		if err := fs.Err0(); err != nil {
			t.Fatalf("read %s/%d: %v", topic, partition, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// fetchWritten signals each Fetch request a client writes.
type fetchWritten chan struct{}

func (f fetchWritten) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		select {
		case f <- struct{}{}:
		default:
		}
	}
}

func TestFranzFetchLongPoll(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "longpoll", 1, nil)

	// The consumer waits up to 30s per fetch; the test's deadline is
	// longer, so a fetch that is not woken by the produce shows up as an
	// empty poll.
	written := make(fetchWritten, 1)
	consumer := franzClient(t, b.Addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"longpoll": {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(30*time.Second), kgo.WithHooks(written))
	polled := make(chan kgo.Fetches, 1)
	go func() { polled <- consumer.PollFetches(ctx) }()
	select {
	case <-written:
	case <-ctx.Done():
		t.Fatal("the consumer never sent a fetch")
	}
	producer := franzClient(t, b.Addr)
	want := sampleRecords("longpoll", 0, 1, 0)[0]
	want.Offset = 0
	if err := producer.ProduceSync(ctx, toKgo("longpoll", want)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := <-polled
	if err := fs.Err0(); err != nil {
		t.Fatalf("poll: %v", err)
	}
	var got []rec
	fs.EachRecord(func(r *kgo.Record) { got = append(got, fromKgo(r)) })
	checkRecords(t, "long-poll woken by a produce", got, []rec{want}, exact)

	// The same with a bare Fetch v16: max wait 30s, min bytes 1, sent
	// before the produce.
	t.Run("raw", func(t *testing.T) {
		written := make(fetchWritten, 1)
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(1, 16)
		cl := franzClient(t, b.Addr, kgo.MaxVersions(vs), kgo.WithHooks(written))
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, 30000, 1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = topicID(t, cl, "longpoll")
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, 1, 1<<20
		rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.LastFetchedEpoch = -1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		type result struct {
			resp *kmsg.FetchResponse
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := req.RequestWith(ctx, cl)
			done <- result{resp, err}
		}()
		select {
		case <-written:
		case <-ctx.Done():
			t.Fatal("the fetch was never sent")
		}
		p := sampleRecords("longpoll-raw", 0, 1, 0)
		if r := rawProduce(t, ctx, b.Addr, "longpoll", 0, 1, rawBatch(p)); r.ErrorCode != 0 || r.BaseOffset != 1 {
			t.Fatalf("produce: %s at %d", codeName(r.ErrorCode), r.BaseOffset)
		}
		res := <-done
		if res.err != nil {
			t.Fatalf("fetch: %v", res.err)
		}
		if len(res.resp.Topics) != 1 || len(res.resp.Topics[0].Partitions) != 1 {
			t.Fatalf("long-poll fetch: %d topics in the response, want the partition", len(res.resp.Topics))
		}
		fp := res.resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 || len(fp.RecordBatches) == 0 || fp.HighWatermark != 2 {
			t.Errorf("long-poll fetch: %s, %d bytes of records, high watermark %d; want the new record and high watermark 2", codeName(fp.ErrorCode), len(fp.RecordBatches), fp.HighWatermark)
		}
	})
}

func TestFranzIncrementalFetchSessions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	const parts = 16
	createTopicFranz(t, adm, "sessions", parts, nil)
	producer := franzClient(t, b.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))

	t.Run("consumer", func(t *testing.T) {
		// franz-go fetches with incremental sessions by default: one
		// consumer on every partition, records arriving in rounds on
		// changing subsets of partitions.
		consumer := franzClient(t, b.Addr, kgo.ConsumeTopics("sessions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		want := map[int32][]rec{}
		got := map[int32][]rec{}
		total := 0
		for round := range 6 {
			var batch []*kgo.Record
			for p := int32(0); p < parts; p++ {
				if (int(p)+round)%3 != 0 {
					continue
				}
				for _, r := range sampleRecords(fmt.Sprintf("r%d-p%d", round, p), p, 3+round%2, int64(round)*100_000) {
					r.Offset = int64(len(want[p]))
					want[p] = append(want[p], r)
					batch = append(batch, toKgo("sessions", r))
				}
			}
			if err := producer.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			total += len(batch)
			n := 0
			for _, rs := range got {
				n += len(rs)
			}
			for n < total {
				fs := consumer.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("round %d: consumed %d of %d records", round, n, total)
				}
				if err := fs.Err0(); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					got[r.Partition] = append(got[r.Partition], fromKgo(r))
					n++
				})
			}
		}
		for p := int32(0); p < parts; p++ {
			checkRecords(t, fmt.Sprintf("partition %d", p), got[p], want[p], exact)
		}
	})

	t.Run("protocol", func(t *testing.T) {
		// KIP-227 semantics with bare requests (v16, topic ids).
		cl := pinnedClient(t, b.Addr, 1, 16)
		id := topicID(t, cl, "sessions")
		hwm := map[int32]int64{}
		for p := int32(0); p < parts; p++ {
			_, hwm[p] = offsetsOf(t, cl, "sessions", p)
		}
		fetch := func(sessionID, epoch int32, maxWait int32, parts map[int32]int64, forget []int32) *kmsg.FetchResponse {
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, maxWait, 1, 10<<20
			req.SessionID, req.SessionEpoch = sessionID, epoch
			if len(parts) > 0 {
				rt := kmsg.NewFetchRequestTopic()
				rt.TopicID = id
				for p, off := range parts {
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
					rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.LastFetchedEpoch = -1, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
			}
			if len(forget) > 0 {
				ft := kmsg.NewFetchRequestForgottenTopic()
				ft.TopicID, ft.Partitions = id, forget
				req.ForgottenTopics = append(req.ForgottenTopics, ft)
			}
			return request[*kmsg.FetchResponse](t, ctx, cl, req)
		}
		returned := func(resp *kmsg.FetchResponse) map[int32]int {
			out := map[int32]int{}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					out[rp.Partition] = len(rp.RecordBatches)
				}
			}
			return out
		}

		// A full fetch of three partitions at their ends creates a
		// session and returns all three.
		three := map[int32]int64{0: hwm[0], 1: hwm[1], 2: hwm[2]}
		resp := fetch(0, 0, 0, three, nil)
		wantErr(t, "full fetch", resp.ErrorCode, noError)
		if resp.SessionID == 0 {
			t.Fatalf("full fetch with session epoch 0: no session id; want a new session")
		}
		sid := resp.SessionID
		if got := returned(resp); len(got) != 3 {
			t.Errorf("full fetch: partitions %v returned, want 0, 1 and 2", got)
		}
		// Incremental, nothing changed: nothing returned (waits
		// max wait, kept short).
		resp = fetch(sid, 1, 10, nil, nil)
		wantErr(t, "incremental fetch", resp.ErrorCode, noError)
		if got := returned(resp); len(got) != 0 {
			t.Errorf("incremental fetch with no change: partitions %v returned, want none", got)
		}
		// New data on partition 1 only: an incremental fetch waiting
		// long returns partition 1 alone.
		if err := producer.ProduceSync(ctx, toKgo("sessions", sampleRecords("inc", 1, 1, 0)[0])).FirstErr(); err != nil {
			t.Fatal(err)
		}
		resp = fetch(sid, 2, 30000, nil, nil)
		if got := returned(resp); len(got) != 1 || got[1] == 0 {
			t.Errorf("incremental fetch after a produce to partition 1: partitions %v returned, want only 1 with records", got)
		}
		// The client moves partition 1's offset forward and forgets
		// partition 2; then both 0 and 2 get data: only 0 comes back.
		resp = fetch(sid, 3, 10, map[int32]int64{1: hwm[1] + 1}, []int32{2})
		wantErr(t, "incremental fetch with a forgotten partition", resp.ErrorCode, noError)
		for _, p := range []int32{0, 2} {
			if err := producer.ProduceSync(ctx, toKgo("sessions", sampleRecords("inc", p, 1, 0)[0])).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		resp = fetch(sid, 4, 30000, nil, nil)
		if got := returned(resp); len(got) != 1 || got[0] == 0 {
			t.Errorf("incremental fetch after forgetting partition 2: partitions %v returned, want only 0 with records", got)
		}
		// Errors.
		resp = fetch(sid, 9, 0, nil, nil)
		wantErr(t, "wrong session epoch", resp.ErrorCode, kerr.InvalidFetchSessionEpoch)
		resp = fetch(sid+12345, 1, 0, nil, nil)
		wantErr(t, "unknown session id", resp.ErrorCode, kerr.FetchSessionIDNotFound)
	})
}

func TestFranzLogAppendTime(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "lat", 1, map[string]*string{"message.timestamp.type": kadm.StringPtr("LogAppendTime")})
	createTopicFranz(t, adm, "ct", 1, nil)

	recs := sampleRecords("lat", 0, 4, 0) // CreateTimes half an hour ago
	before := time.Now().UnixMilli()
	resp := rawProduce(t, ctx, b.Addr, "lat", 0, -1, rawBatch(recs))
	after := time.Now().UnixMilli()
	if resp.ErrorCode != 0 || resp.BaseOffset != 0 {
		t.Fatalf("produce: %s at %d", codeName(resp.ErrorCode), resp.BaseOffset)
	}
	lat := resp.LogAppendTime
	if lat < before || lat > after {
		t.Errorf("produce response log append time %d, want the broker's time, in [%d, %d]", lat, before, after)
	}
	got := franzRead(t, b.Addr, "lat", 0, 0, len(recs))
	want := withOffsets(recs, 0)
	for i := range want {
		want[i].Timestamp = lat
	}
	checkRecords(t, "LogAppendTime records", got, want, exact)
	for _, r := range got {
		if r.TimestampType != 1 {
			t.Errorf("record %d: timestamp type %d, want LogAppendTime (1)", r.Offset, r.TimestampType)
		}
	}
	// The stored batch says so, with the broker's time as its max
	// timestamp (and a CRC recomputed over it, checked by storedBatches).
	for _, sb := range storedBatches(t, b.Addr, "lat", 0) {
		if sb.tsType != 1 || sb.maxTS != lat {
			t.Errorf("stored batch at %d: timestamp type %d, max timestamp %d; want LogAppendTime (1), %d", sb.base, sb.tsType, sb.maxTS, lat)
		}
	}
	// ListOffsets uses the broker's time.
	if p := listOffsetRaw(t, cl, "lat", 0, recs[0].Timestamp); p.Offset != 0 || p.Timestamp != lat {
		t.Errorf("offset for the old CreateTime: %d at %d, want 0 at %d", p.Offset, p.Timestamp, lat)
	}
	if p := listOffsetRaw(t, cl, "lat", 0, lat+1); p.Offset != -1 || p.Timestamp != -1 {
		t.Errorf("offset after the append time: %d at %d, want -1 at -1", p.Offset, p.Timestamp)
	}

	// A CreateTime topic answers -1 for the log append time.
	if r := rawProduce(t, ctx, b.Addr, "ct", 0, 1, rawBatch(recs)); r.ErrorCode != 0 || r.LogAppendTime != -1 {
		t.Errorf("CreateTime topic: produce %s, log append time %d, want -1", codeName(r.ErrorCode), r.LogAppendTime)
	}
	// And the after-max check (message.timestamp.after.max.ms, an hour):
	// a CreateTime two hours ahead is refused.
	future := sampleRecords("future", 0, 1, 0)
	future[0].Timestamp = time.Now().Add(2 * time.Hour).UnixMilli()
	r := rawProduce(t, ctx, b.Addr, "ct", 0, 1, rawBatch(future))
	wantErr(t, "CreateTime two hours ahead", r.ErrorCode, kerr.InvalidTimestamp)
}

func TestFranzMessageTooLarge(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "small", 1, map[string]*string{"max.message.bytes": kadm.StringPtr("2000")})

	big := []rec{{Key: []byte("k"), Value: []byte(strings.Repeat("x", 3000)), Timestamp: baseTime}}
	r := rawProduce(t, ctx, b.Addr, "small", 0, -1, rawBatch(big))
	wantErr(t, "a 3000-byte batch on max.message.bytes=2000", r.ErrorCode, kerr.MessageTooLarge)

	p := franzClient(t, b.Addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	err := p.ProduceSync(ctx, toKgo("small", big[0])).FirstErr()
	if err == nil || !strings.Contains(err.Error(), kerr.MessageTooLarge.Message) {
		t.Errorf("franz-go producing 3000 bytes: %v, want %s", err, kerr.MessageTooLarge.Message)
	}
	// The limit is on the batch as stored, compressed.
	z := franzClient(t, b.Addr, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err := z.ProduceSync(ctx, toKgo("small", big[0])).FirstErr(); err != nil {
		t.Errorf("3000 compressible bytes, zstd: %v, want success (the compressed batch is small)", err)
	}
	small := []rec{{Key: []byte("k"), Value: []byte("fits"), Timestamp: baseTime}}
	if r := rawProduce(t, ctx, b.Addr, "small", 0, -1, rawBatch(small)); r.ErrorCode != 0 || r.BaseOffset != 1 {
		t.Errorf("a small batch: %s at offset %d, want success at 1", codeName(r.ErrorCode), r.BaseOffset)
	}
}

func TestFranzProduceUnknownPartition(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "one", 1, nil)
	batch := rawBatch(sampleRecords("x", 0, 1, 0))

	r := rawProduce(t, ctx, b.Addr, "one", 7, -1, batch)
	wantErr(t, "produce to partition 7 of a 1-partition topic", r.ErrorCode, kerr.UnknownTopicOrPartition)
	r = rawProduce(t, ctx, b.Addr, "no-such-topic", 0, -1, batch)
	wantErr(t, "produce to a topic that does not exist", r.ErrorCode, kerr.UnknownTopicOrPartition)
	if md := metadataOf(t, cl, "no-such-topic"); md.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("producing created the topic: metadata %s", codeName(md.ErrorCode))
	}
	// franz-go refuses it too, whatever it decides client-side.
	p := franzClient(t, b.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	rec := toKgo("one", sampleRecords("x", 7, 1, 0)[0])
	if err := p.ProduceSync(ctx, rec).FirstErr(); err == nil {
		t.Errorf("franz-go produced to partition 7 of a 1-partition topic without an error")
	}
	if lo, hi := offsetsOf(t, cl, "one", 0); lo != 0 || hi != 0 {
		t.Errorf("partition 0 offsets [%d, %d), want nothing written", lo, hi)
	}
}

func TestFranzDeleteRecordsAndFetchOutOfRange(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "dr", 1, nil)
	for range 3 {
		if r := rawProduce(t, ctx, b.Addr, "dr", 0, -1, rawBatch(sampleRecords("dr", 0, 4, 0))); r.ErrorCode != 0 {
			t.Fatalf("produce: %s", codeName(r.ErrorCode))
		}
	}
	// Offset -1 deletes up to the high watermark.
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "dr"
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.DeleteRecordsResponse](t, ctx, cl, req)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LowWatermark != 12 {
		t.Errorf("delete records to -1: %s low watermark %d, want 12", codeName(p.ErrorCode), p.LowWatermark)
	}
	if lo, hi := offsetsOf(t, cl, "dr", 0); lo != 12 || hi != 12 {
		t.Errorf("after deleting everything: offsets [%d, %d), want [12, 12)", lo, hi)
	}
	for _, v := range []int16{4, 11, 12, 16} {
		f := rawFetch(t, ctx, b.Addr, v, "dr", 0, 5, 0)
		wantErr(t, fmt.Sprintf("fetch v%d below the log start", v), f.ErrorCode, kerr.OffsetOutOfRange)
		f = rawFetch(t, ctx, b.Addr, v, "dr", 0, 13, 0)
		wantErr(t, fmt.Sprintf("fetch v%d above the high watermark", v), f.ErrorCode, kerr.OffsetOutOfRange)
		f = rawFetch(t, ctx, b.Addr, v, "dr", 0, 12, 0)
		if v < 5 {
			f.LogStartOffset = 12 // added in v5
		}
		if f.ErrorCode != 0 || len(f.RecordBatches) != 0 || f.HighWatermark != 12 || f.LogStartOffset != 12 {
			t.Errorf("fetch v%d at the end: %s, %d bytes, high watermark %d, log start %d; want no error, nothing, 12, 12", v, codeName(f.ErrorCode), len(f.RecordBatches), f.HighWatermark, f.LogStartOffset)
		}
	}
	// A consumer with no reset policy sees the error.
	err := (&franzDriver{t: t, addr: b.Addr}).fetchAt(ctx, "dr", 0, 3)
	if (&franzDriver{}).errCode(err) != kerr.OffsetOutOfRange.Code {
		t.Errorf("franz-go consumer below the log start: %v, want %s", err, kerr.OffsetOutOfRange.Message)
	}
}

// TestFranzFetchRecordsNeverNull: a partition that was read, whether it
// had nothing new (a long poll that timed out) or the read failed
// (OFFSET_OUT_OF_RANGE), comes back from Kafka with an empty record set,
// never null: ReplicaManager answers such reads with MemoryRecords.EMPTY.
// librdkafka ("invalid MessageSetSize", then a tight refetch loop) and
// sarama at Fetch <= v11 ("invalid byteslice length") cannot parse a null
// there; see TestConfluentIdleFetch and TestSaramaFetchV11.
func TestFranzFetchRecordsNeverNull(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "nn", 1, nil)
	if r := rawProduce(t, ctx, b.Addr, "nn", 0, -1, rawBatch(sampleRecords("nn", 0, 3, 0))); r.ErrorCode != 0 {
		t.Fatalf("produce: %s", codeName(r.ErrorCode))
	}
	for _, v := range []int16{4, 11, 12, 16} {
		for _, c := range []struct {
			name   string
			offset int64
		}{{"out-of-range", 10}, {"idle", 3}} {
			t.Run(fmt.Sprintf("v%d/%s", v, c.name), func(t *testing.T) {
				f := rawFetch(t, ctx, b.Addr, v, "nn", 0, c.offset, 0)
				if f.RecordBatches == nil {
					t.Errorf("fetch v%d at %d (%s): records null, want an empty record set (length 0)", v, c.offset, codeName(f.ErrorCode))
				}
			})
		}
	}
}

// TestFranzConcurrentMetadataChanges: Kafka serializes metadata changes in
// its controller; concurrent CreateTopics, IncrementalAlterConfigs and
// CreatePartitions from many connections all succeed.
func TestFranzConcurrentMetadataChanges(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "altered", 1, nil)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, 3*n)
	for i := range n {
		wg.Add(3)
		go func() {
			defer wg.Done()
			a := kadm.NewClient(franzClient(t, b.Addr))
			resp, err := a.CreateTopic(ctx, 2, 1, nil, fmt.Sprintf("conc-%d", i))
			if err == nil {
				err = resp.Err
			}
			errs[i] = err
		}()
		go func() {
			defer wg.Done()
			a := kadm.NewClient(franzClient(t, b.Addr))
			resp, err := a.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr(strconv.Itoa(3600000 + i))}}, "altered")
			if err == nil {
				err = resp[0].Err
			}
			errs[n+i] = err
		}()
		go func() {
			defer wg.Done()
			a := kadm.NewClient(franzClient(t, b.Addr))
			resp, err := a.CreateTopic(ctx, 1, 1, nil, fmt.Sprintf("grow-%d", i))
			if err == nil {
				err = resp.Err
			}
			if err == nil {
				var r kadm.CreatePartitionsResponses
				r, err = a.UpdatePartitions(ctx, 3, fmt.Sprintf("grow-%d", i))
				if err == nil {
					err = r[fmt.Sprintf("grow-%d", i)].Err
				}
			}
			errs[2*n+i] = err
		}()
	}
	// The broker's own metadata changes on first use race too: creating
	// __consumer_offsets (first FindCoordinator) and reserving producer
	// ids (first InitProducerID).
	var internalErrs [2]error
	wg.Add(2)
	go func() {
		defer wg.Done()
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{"conc-group"}
		resp, err := req.RequestWith(ctx, franzClient(t, b.Addr))
		if err == nil {
			err = kerr.ErrorForCode(resp.Coordinators[0].ErrorCode)
		}
		internalErrs[0] = err
	}()
	go func() {
		defer wg.Done()
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, franzClient(t, b.Addr))
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		internalErrs[1] = err
	}()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent metadata change %d (%s): %v", i, []string{"create topic", "alter configs", "create topic + partitions"}[i/n], err)
		}
	}
	// FindCoordinator may answer COORDINATOR_NOT_AVAILABLE while
	// __consumer_offsets loads (retriable in Kafka too); anything else is
	// a failure.
	if err := internalErrs[0]; err != nil && err != kerr.CoordinatorNotAvailable && err != kerr.CoordinatorLoadInProgress {
		t.Errorf("first FindCoordinator, concurrent with metadata changes: %v", err)
	}
	if err := internalErrs[1]; err != nil {
		t.Errorf("first InitProducerID, concurrent with metadata changes: %v", err)
	}
	// Every partition of every topic whose creation succeeded takes
	// exactly one record at offset 0.
	p := franzClient(t, b.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range n {
		for topic, parts := range map[string]int32{fmt.Sprintf("conc-%d", i): 2, fmt.Sprintf("grow-%d", i): 3} {
			if (parts == 2 && errs[i] != nil) || (parts == 3 && errs[2*n+i] != nil) {
				continue
			}
			for part := range parts {
				res := p.ProduceSync(ctx, toKgo(topic, rec{Partition: part, Value: []byte("v"), Timestamp: baseTime}))
				if err := res.FirstErr(); err != nil || res[0].Record.Offset != 0 {
					t.Errorf("produce to %s/%d: %v at offset %d, want offset 0", topic, part, err, res[0].Record.Offset)
				}
			}
		}
	}
}

// noError is "no error" for wantErr.
var noError = &kerr.Error{Message: "NONE", Code: 0}

// DescribeConfigs with an empty, not null, list of config names answers
// every config, as Kafka does (ConfigHelper treats null and empty alike);
// a topic that does not exist is unknown, a name no topic could have is
// invalid.
func TestDescribeConfigsEmptyNames(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "described", 1, nil)
	count := func(names []string) int {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, "described", names
		req.Resources = append(req.Resources, rr)
		resp := request[*kmsg.DescribeConfigsResponse](t, ctx, cl, req)
		if len(resp.Resources) != 1 {
			t.Fatalf("%d resources in the response", len(resp.Resources))
		}
		wantErr(t, "describe configs", resp.Resources[0].ErrorCode, noError)
		return len(resp.Resources[0].Configs)
	}
	for name, want := range map[string]*kerr.Error{"no-such-topic": kerr.UnknownTopicOrPartition, "bad name!": kerr.InvalidTopicException} {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
		req.Resources = append(req.Resources, rr)
		resp := request[*kmsg.DescribeConfigsResponse](t, ctx, cl, req)
		wantErr(t, "describe configs of "+name, resp.Resources[0].ErrorCode, want)
	}
	all, empty, one := count(nil), count([]string{}), count([]string{"retention.ms"})
	if all < 10 || empty != all || one != 1 {
		t.Errorf("configs described: %d for null names, %d for an empty list, %d for one name; want the same for the first two, and 1", all, empty, one)
	}
}

// kafka-reassign-partitions.sh --throttle sets the replication quotas on
// every broker involved before it moves anything; the broker accepts them
// (they have no effect on one node) and still refuses names it does not
// know.
func TestBrokerReplicationThrottleConfigs(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	rate := "1048576"
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "leader.replication.throttled.rate", Value: &rate},
		{Op: kadm.SetConfig, Name: "follower.replication.throttled.rate", Value: &rate},
	}, nodeID)
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("set the replication throttle rates: %v %+v", err, resps)
	}
	described, err := adm.DescribeBrokerConfigs(ctx, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := described.On(strconv.Itoa(nodeID), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"leader.replication.throttled.rate", "follower.replication.throttled.rate"} {
		found := false
		for _, c := range rc.Configs {
			if c.Key == name {
				found = c.Value != nil && *c.Value == rate
			}
		}
		if !found {
			t.Errorf("%s not described as %s after setting it", name, rate)
		}
	}
	resps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such.broker.setting", Value: &rate}}, nodeID)
	if err != nil || len(resps) != 1 || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
		t.Errorf("set an unknown broker setting: %v %+v, want INVALID_CONFIG", err, resps)
	}
}

// DeleteRecords refuses internal topics with INVALID_TOPIC_EXCEPTION, as
// Kafka does, whatever their cleanup.policy: committed offsets are not the
// client's to delete.
func TestDeleteRecordsRefusesInternalTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "committed", 1, nil)
	commit := kadm.Offsets{}
	commit.Add(kadm.Offset{Topic: "committed", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "purger", commit); err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{"compact", "compact,delete"} {
		if policy != "compact" {
			p := policy
			if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: &p}}, "__consumer_offsets"); err != nil {
				t.Fatal(err)
			}
		}
		del := kadm.Offsets{}
		for p := int32(0); p < 50; p++ {
			del.Add(kadm.Offset{Topic: "__consumer_offsets", Partition: p, At: -1})
		}
		resps, err := adm.DeleteRecords(ctx, del)
		if err != nil {
			t.Fatal(err)
		}
		resps.Each(func(r kadm.DeleteRecordsResponse) {
			if !errors.Is(r.Err, kerr.InvalidTopicException) {
				t.Errorf("cleanup.policy=%s: delete records of %s-%d: %v, want INVALID_TOPIC_EXCEPTION", policy, r.Topic, r.Partition, r.Err)
			}
		})
	}
	fetched, err := adm.FetchOffsets(ctx, "purger")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup("committed", 0); !ok || o.Err != nil || o.At != 0 {
		t.Errorf("committed offset after the delete attempts: %+v, want 0", o)
	}
}

// A fetch with no partitions is answered at once rather than after
// max_wait_ms: the Java consumer sends one to close its fetch session and
// waits for the answer. Asked with a two-minute wait, the answer must
// come well inside the test's half-minute context (a behaviour, not a
// speed, check: the broker either waits out max_wait_ms or it does not).
func TestFetchWithNoPartitionsAnswersAtOnce(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	cl := franzClient(t, b.Addr)
	for _, epoch := range []int32{-1, 0} { // closing a session, and no session
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.SessionEpoch = -1, 120_000, 1, epoch
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := cl.Request(ctx, req)
		cancel()
		if err != nil {
			t.Fatalf("fetch of no partitions, session epoch %d: %v (the broker waited for max_wait_ms)", epoch, err)
		}
		if fr := resp.(*kmsg.FetchResponse); fr.ErrorCode != 0 || len(fr.Topics) != 0 {
			t.Errorf("fetch of no partitions, session epoch %d: error %s, %d topics", epoch, codeName(fr.ErrorCode), len(fr.Topics))
		}
	}
}

// A fetch session keeps a deleted topic's partitions and answers them
// UNKNOWN_TOPIC_ID on every fetch, as Kafka does, so that the consumer
// refreshes its metadata instead of waiting on a partition that silently
// left its session.
func TestFetchSessionReportsDeletedTopic(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	id := createTopicFranz(t, adm, "doomed", 1, nil)
	cl := franzClient(t, b.Addr)
	fetch := func(sessionID, epoch int32, withPartition bool) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, 1<<20
		req.SessionID, req.SessionEpoch = sessionID, epoch
		if withPartition {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 0, 1<<20, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := cl.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.FetchResponse)
	}
	full := fetch(0, 0, true)
	if full.ErrorCode != 0 || full.SessionID == 0 {
		t.Fatalf("full fetch: error %s, session %d", codeName(full.ErrorCode), full.SessionID)
	}
	if _, err := adm.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	for epoch := int32(1); epoch <= 2; epoch++ { // every fetch, not just the first
		inc := fetch(full.SessionID, epoch, false)
		if inc.ErrorCode != 0 || len(inc.Topics) != 1 || len(inc.Topics[0].Partitions) != 1 {
			t.Fatalf("incremental fetch %d after the delete: error %s, topics %+v; want the deleted partition", epoch, codeName(inc.ErrorCode), inc.Topics)
		}
		wantErr(t, fmt.Sprintf("deleted partition in incremental fetch %d", epoch), inc.Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicID)
	}
}

// ListOffsets answers a special timestamp only from the version that
// brought it (-3 from v7, -4 from v8, -5 from v9, -6 from v11), and an
// unknown negative one never: UNSUPPORTED_VERSION for the partition, as
// Kafka does since KAFKA-17331.
func TestListOffsetsSpecialTimestampVersions(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	_, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "specials", 1, nil)
	ask := func(version int16, ts int64) int16 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "specials"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, ts, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := request[*kmsg.ListOffsetsResponse](t, ctx, pinnedClient(t, b.Addr, 2, version), req)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d ts %d: malformed response %+v", version, ts, resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	for _, c := range []struct {
		ts    int64
		since int16
	}{{-1, 1}, {-2, 1}, {-3, 7}, {-4, 8}, {-5, 9}, {-6, 11}, {-7, 99}, {-100, 99}} {
		for _, v := range []int16{1, 6, 7, 8, 9, 10, 11} {
			want := noError
			if v < c.since {
				want = kerr.UnsupportedVersion
			}
			wantErr(t, fmt.Sprintf("ListOffsets v%d timestamp %d", v, c.ts), ask(v, c.ts), want)
		}
	}
}

// DeleteTopics refuses, as Kafka's controller does, an entry that gives
// both a name and an id, and a topic named twice: INVALID_REQUEST, and
// nothing is deleted.
func TestDeleteTopicsInvalidEntries(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	id := createTopicFranz(t, adm, "kept", 1, nil)
	both := kmsg.NewDeleteTopicsRequestTopic()
	both.Topic, both.TopicID = kmsg.StringPtr("kept"), id
	byName := kmsg.NewDeleteTopicsRequestTopic()
	byName.Topic = kmsg.StringPtr("kept")
	byID := kmsg.NewDeleteTopicsRequestTopic()
	byID.TopicID = id
	for _, c := range []struct {
		name   string
		topics []kmsg.DeleteTopicsRequestTopic
	}{
		{"name and id", []kmsg.DeleteTopicsRequestTopic{both}},
		{"name twice", []kmsg.DeleteTopicsRequestTopic{byName, byName}},
		{"id twice", []kmsg.DeleteTopicsRequestTopic{byID, byID}},
	} {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis, req.Topics = 30000, c.topics
		resp := request[*kmsg.DeleteTopicsResponse](t, ctx, pinnedClient(t, b.Addr, 20, 6), req)
		if len(resp.Topics) != len(c.topics) {
			t.Fatalf("%s: %d topics in the response", c.name, len(resp.Topics))
		}
		for _, rt := range resp.Topics {
			wantErr(t, c.name, rt.ErrorCode, kerr.InvalidRequest)
		}
		if md := metadataOf(t, cl, "kept"); md.ErrorCode != 0 {
			t.Fatalf("%s: the topic was deleted (metadata error %s)", c.name, codeName(md.ErrorCode))
		}
	}
}

// AlterConfigs and IncrementalAlterConfigs refuse, as Kafka does, a null
// value for anything but a delete, a config named twice and a resource
// named twice: INVALID_REQUEST, and nothing changes.
func TestAlterConfigsInvalidRequests(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := ctxFor(t)
	cl, adm := franzAdmin(t, b.Addr)
	createTopicFranz(t, adm, "altered", 1, nil)
	resource := func(configs ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsRequestResource {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.Configs = kmsg.ConfigResourceTypeTopic, "altered", configs
		return rr
	}
	set := func(name string, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, kmsg.IncrementalAlterConfigOpSet, value
		return c
	}
	for _, c := range []struct {
		name      string
		resources []kmsg.IncrementalAlterConfigsRequestResource
	}{
		{"null value", []kmsg.IncrementalAlterConfigsRequestResource{resource(set("retention.ms", nil))}},
		{"resource twice", []kmsg.IncrementalAlterConfigsRequestResource{
			resource(set("retention.ms", kmsg.StringPtr("1000"))), resource(set("retention.ms", kmsg.StringPtr("2000")))}},
	} {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.Resources = c.resources
		resp := request[*kmsg.IncrementalAlterConfigsResponse](t, ctx, cl, req)
		for _, rr := range resp.Resources {
			wantErr(t, "incremental, "+c.name, rr.ErrorCode, kerr.InvalidRequest)
		}
	}
	legacy := kmsg.NewPtrAlterConfigsRequest()
	lr := kmsg.NewAlterConfigsRequestResource()
	lr.ResourceType, lr.ResourceName = kmsg.ConfigResourceTypeTopic, "altered"
	for _, v := range []string{"1000", "2000"} {
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", kmsg.StringPtr(v)
		lr.Configs = append(lr.Configs, c)
	}
	legacy.Resources = append(legacy.Resources, lr)
	for _, rr := range request[*kmsg.AlterConfigsResponse](t, ctx, cl, legacy).Resources {
		wantErr(t, "legacy, config twice", rr.ErrorCode, kerr.InvalidRequest)
	}
	described, err := adm.DescribeTopicConfigs(ctx, "altered")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := described.On("altered", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("retention.ms changed by refused requests: %v from %v", c.MaybeValue(), c.Source)
		}
	}
}

// max.incremental.fetch.session.cache.slots bounds the sessions; at 0 a
// fetch asking for one (epoch 0) is answered without (session id 0), and
// the consumer goes on with full fetches.
func TestFetchSessionSlotsSetting(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		slots       string
		wantSession bool
	}{{"0", false}, {"1", true}} {
		b := startBroker(t, "max.incremental.fetch.session.cache.slots", c.slots)
		_, adm := franzAdmin(t, b.Addr)
		id := createTopicFranz(t, adm, "sessions", 1, nil)
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, 0
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := request[*kmsg.FetchResponse](t, ctxFor(t), franzClient(t, b.Addr), req)
		if resp.ErrorCode != 0 || (resp.SessionID != 0) != c.wantSession {
			t.Errorf("slots %s: error %s, session id %d; want a session: %v", c.slots, codeName(resp.ErrorCode), resp.SessionID, c.wantSession)
		}
	}
}
