package groups

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// committedEquals reports whether the group's committed offsets are want.
func committedEquals(ctx context.Context, adm *kadm.Client, group, topic string, want map[int32]int64) (bool, string) {
	os, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, err.Error()
	}
	got := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			got[o.Partition] = o.At
		}
	})
	for p, w := range want {
		if got[p] != w {
			return false, fmt.Sprintf("committed %v, want %v", got, want)
		}
	}
	return true, ""
}

// restartScenario: a live group consumes and commits; the broker restarts
// under it; the committed offsets are still there, the members carry on,
// and no record is skipped.
func restartScenario(t *testing.T, groupType string, opts ...kgo.Opt) {
	b := startBroker(t)
	var addr atomic.Value // the dialers read it while Restart replaces b.Node
	addr.Store(b.Addr)
	cur := func() string { return addr.Load().(string) }
	adm := adminFor(t, b.Addr)
	const topic, group, n = "durable", "g", 4
	createTopic(t, adm, topic, n)
	produce(t, b.Addr, topic, 0, 400)

	own, s := newOwnership(), &seen{}
	startFranzK(t, &killer{addr: cur}, b.Addr, group, topic, "a", own, s, opts...)
	startFranzK(t, &killer{addr: cur}, b.Addr, group, topic, "b", own, s, opts...)
	eventually(t, waitLong, "all records consumed", func() (bool, string) {
		m := s.missing(0, 400)
		return len(m) == 0, fmt.Sprint("missing ", len(m))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	want := map[int32]int64{0: 100, 1: 100, 2: 100, 3: 100}
	eventually(t, waitLong, "offsets committed", func() (bool, string) { return committedEquals(ctx, adm, group, topic, want) })
	checkGroupType(t, adm, group, groupType)

	b.Restart()
	addr.Store(b.Addr)
	adm2 := adminFor(t, b.Addr)
	eventually(t, waitLong, "offsets fetched after the restart", func() (bool, string) { return committedEquals(ctx, adm2, group, topic, want) })

	produce(t, b.Addr, topic, 400, 400)
	eventually(t, waitLong, "records produced after the restart consumed", func() (bool, string) {
		m := s.missing(0, 800)
		return len(m) == 0, fmt.Sprint("missing ", len(m))
	})
	want = map[int32]int64{0: 200, 1: 200, 2: 200, 3: 200}
	eventually(t, waitLong, "new offsets committed", func() (bool, string) { return committedEquals(ctx, adm2, group, topic, want) })
	checkGroupType(t, adm2, group, groupType)
}

func TestFranzClassicOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	restartScenario(t, "classic", kgo.Balancers(kgo.CooperativeStickyBalancer()))
}

func TestFranzConsumerProtocolOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	restartScenario(t, "consumer", kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())
}
