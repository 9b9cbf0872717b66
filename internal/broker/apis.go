package broker

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/server"
)

// handler serves one API. Handlers that wait return a Reply with Wait set.
type handler func(b *Broker, r *server.Request) server.Reply

// api is one row of the API table.
type api struct {
	key      int16
	min, max int16
	handle   handler
}

// apis is THE table: ApiVersions advertises exactly these rows, the server
// checks versions against them before decoding, and a test checks every
// max against kmsg. Minimums follow Kafka 4 (KIP-896), which dropped the
// versions that predate record batches v2; maximums are what current
// clients send and we implement in full.
var apis = []api{
	{key: 0, min: 3, max: 13, handle: handleProduce},
	{key: 1, min: 4, max: 18, handle: handleFetch},
	{key: 2, min: 1, max: 11, handle: now(handleListOffsets)},
	{key: 3, min: 0, max: 13, handle: now(handleMetadata)},
	{key: 8, min: 2, max: 10, handle: handleOffsetCommit},
	{key: 9, min: 1, max: 10, handle: handleOffsetFetch},
	{key: 10, min: 0, max: 6, handle: now(handleFindCoordinator)},
	{key: 11, min: 2, max: 9, handle: handleJoinGroup},
	{key: 12, min: 0, max: 4, handle: handleHeartbeat},
	{key: 13, min: 0, max: 5, handle: handleLeaveGroup},
	{key: 14, min: 0, max: 5, handle: handleSyncGroup},
	{key: 15, min: 0, max: 6, handle: handleDescribeGroups},
	{key: 16, min: 0, max: 5, handle: handleListGroups},
	{key: 18, min: 0, max: 4, handle: now(handleApiVersions)},
	{key: 19, min: 2, max: 7, handle: now(handleCreateTopics)},
	{key: 20, min: 1, max: 6, handle: now(handleDeleteTopics)},
	{key: 21, min: 0, max: 2, handle: now(handleDeleteRecords)},
	{key: 22, min: 0, max: 5, handle: now(handleInitProducerID)},
	{key: 23, min: 2, max: 4, handle: now(handleOffsetForLeaderEpoch)},
	{key: 24, min: 0, max: 5, handle: handleAddPartitionsToTxn},
	{key: 25, min: 0, max: 4, handle: handleAddOffsetsToTxn},
	{key: 26, min: 0, max: 5, handle: handleEndTxn},
	{key: 27, min: 1, max: 1, handle: handleWriteTxnMarkers},
	{key: 28, min: 0, max: 5, handle: handleTxnOffsetCommit},
	{key: 29, min: 1, max: 3, handle: now(handleDescribeACLs)},
	{key: 30, min: 1, max: 3, handle: now(handleCreateACLs)},
	{key: 31, min: 1, max: 3, handle: now(handleDeleteACLs)},
	{key: 32, min: 1, max: 4, handle: now(handleDescribeConfigs)},
	{key: 33, min: 0, max: 2, handle: now(handleAlterConfigs)},
	{key: 35, min: 1, max: 5, handle: now(handleDescribeLogDirs)},
	{key: 37, min: 0, max: 3, handle: now(handleCreatePartitions)},
	{key: 42, min: 1, max: 3, handle: handleDeleteGroups},
	{key: 43, min: 0, max: 2, handle: now(handleElectLeaders)},
	{key: 44, min: 0, max: 1, handle: now(handleIncrementalAlterConfigs)},
	{key: 45, min: 0, max: 1, handle: now(handleAlterPartitionAssignments)},
	{key: 46, min: 0, max: 0, handle: now(handleListPartitionReassignments)},
	{key: 47, min: 0, max: 0, handle: handleOffsetDelete},
	{key: 60, min: 0, max: 2, handle: now(handleDescribeCluster)},
	{key: 61, min: 0, max: 0, handle: now(handleDescribeProducers)},
	{key: 65, min: 0, max: 0, handle: handleDescribeTransactions},
	{key: 66, min: 0, max: 2, handle: handleListTransactions},
	{key: 68, min: 0, max: 1, handle: handleConsumerGroupHeartbeat},
	{key: 69, min: 0, max: 1, handle: handleConsumerGroupDescribe},
	{key: 75, min: 0, max: 0, handle: now(handleDescribeTopicPartitions)},
}

// apiByKey indexes apis by key.
var apiByKey map[int16]*api

func init() {
	apiByKey = make(map[int16]*api, len(apis))
	for i := range apis {
		apiByKey[apis[i].key] = &apis[i]
	}
}

// now adapts a handler that answers at once.
func now(fn func(b *Broker, r *server.Request) kmsg.Response) handler {
	return func(b *Broker, r *server.Request) server.Reply {
		return server.Reply{Response: fn(b, r)}
	}
}

// Versions implements server.Handler.
func (b *Broker) Versions(key int16) (int16, int16, bool) {
	a, ok := apiByKey[key]
	if !ok {
		return 0, 0, false
	}
	return a.min, a.max, true
}

// Handle implements server.Handler.
func (b *Broker) Handle(r *server.Request) server.Reply {
	a := apiByKey[r.Key] // the server checked the key against Versions
	start := time.Now()
	reply := a.handle(b, r)
	if reply.Wait == nil {
		b.observe(r, start, reply.Response)
		return reply
	}
	wait := reply.Wait
	reply.Wait = func() kmsg.Response {
		resp := wait()
		b.observe(r, start, resp)
		return resp
	}
	return reply
}

// observe records a finished request and its errors (metrics hook).
func (b *Broker) observe(r *server.Request, start time.Time, resp kmsg.Response) {
	if b.metrics != nil {
		b.metrics.Request(r.Key, time.Since(start))
		b.countErrors(r.Key, resp)
	}
}

// supportedAPIs lists the table sorted by key.
func supportedAPIs() []api {
	out := make([]api, 0, len(apiByKey))
	for _, a := range apiByKey {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func handleApiVersions(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	for _, a := range supportedAPIs() {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: a.key, MinVersion: a.min, MaxVersion: a.max})
	}
	addFeatures(resp)
	if req.Version >= 3 && (req.ClientSoftwareName != "" || req.ClientSoftwareVersion != "") {
		// KIP-511: names and versions must be alphanumerics, dots and
		// dashes; Kafka answers INVALID_REQUEST otherwise.
		if !validSoftware(req.ClientSoftwareName) || !validSoftware(req.ClientSoftwareVersion) {
			resp.ErrorCode = 42
		}
	}
	return resp
}

func validSoftware(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	c0, cn := s[0], s[len(s)-1]
	return c0 != '.' && c0 != '-' && cn != '.' && cn != '-'
}
