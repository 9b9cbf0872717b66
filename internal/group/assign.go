package group

// Server-side assignors of KIP-848 (group.consumer.assignors).
//
// uniform spreads the subscribed partitions evenly over the members and is
// sticky: a member keeps what its previous target gave it as long as that
// stays balanced, so a membership change moves only the partitions it must.
// range gives each member, per topic, a contiguous range of partitions in
// member-id order, like the client-side RangeAssignor.

import (
	"slices"
)

type assignMember struct {
	id   string
	subs [][16]byte // subscribed topic ids that exist, sorted
	prev assignment // the previous target, for stickiness
}

type assignSpec struct {
	members []assignMember     // sorted by id
	topics  map[[16]byte]int32 // partition count of every subscribed topic
}

func rangeAssign(spec assignSpec) map[string]assignment {
	out := map[string]assignment{}
	for _, m := range spec.members {
		out[m.id] = assignment{}
	}
	for _, id := range slices.SortedFunc(keysOf(spec.topics), compareID) {
		var subs []string
		for _, m := range spec.members {
			if slices.ContainsFunc(m.subs, func(x [16]byte) bool { return x == id }) {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n := spec.topics[id]
		per, extra := n/int32(len(subs)), n%int32(len(subs))
		start := int32(0)
		for i, mid := range subs {
			cnt := per
			if int32(i) < extra {
				cnt++
			}
			for p := start; p < start+cnt; p++ {
				out[mid].add(id, p)
			}
			start += cnt
		}
	}
	return out
}

func uniformAssign(spec assignSpec) map[string]assignment {
	out := map[string]assignment{}
	eligible := map[[16]byte][]string{} // topic -> members subscribed, sorted
	subscribed := map[string]map[[16]byte]bool{}
	for _, m := range spec.members {
		out[m.id] = assignment{}
		subscribed[m.id] = map[[16]byte]bool{}
		for _, id := range m.subs {
			subscribed[m.id][id] = true
			eligible[id] = append(eligible[id], m.id)
		}
	}
	// Stickiness: keep what each member had, if it still exists and the
	// member still subscribes to it. A partition goes to one member only.
	taken := map[tidp]bool{}
	for _, m := range spec.members {
		for _, p := range m.prev.list() {
			n, ok := spec.topics[p.id]
			if !ok || p.p >= n || !subscribed[m.id][p.id] || taken[p] {
				continue
			}
			taken[p] = true
			out[m.id].add(p.id, p.p)
		}
	}
	var all []tidp
	for _, id := range slices.SortedFunc(keysOf(spec.topics), compareID) {
		if len(eligible[id]) == 0 {
			continue
		}
		for p := int32(0); p < spec.topics[id]; p++ {
			all = append(all, tidp{id, p})
		}
	}
	count := func(id string) int { return out[id].size() }
	homogeneous := true
	for _, m := range spec.members[min(1, len(spec.members)):] {
		if !slices.Equal(m.subs, spec.members[0].subs) {
			homogeneous = false
		}
	}
	if homogeneous && len(spec.members) > 0 {
		// Everyone can take everything: quotas of floor or ceil of the
		// average, the ceilings going to the members that hold the most
		// already, so the fewest partitions move.
		n := len(spec.members)
		minQ, extra := len(all)/n, len(all)%n
		order := make([]string, 0, n)
		for _, m := range spec.members {
			order = append(order, m.id)
		}
		slices.SortStableFunc(order, func(a, b string) int { return count(b) - count(a) })
		quota := map[string]int{}
		for i, id := range order {
			quota[id] = minQ
			if i < extra {
				quota[id]++
			}
		}
		var free []tidp
		for _, p := range all {
			if !taken[p] {
				free = append(free, p)
			}
		}
		for _, id := range order {
			l := out[id].list()
			for len(l) > quota[id] {
				p := l[len(l)-1]
				l = l[:len(l)-1]
				out[id].remove(p.id, p.p)
				free = append(free, p)
			}
		}
		slices.SortFunc(free, compareTIDP)
		for _, m := range spec.members {
			for count(m.id) < quota[m.id] && len(free) > 0 {
				out[m.id].add(free[0].id, free[0].p)
				free = free[1:]
			}
		}
		return out
	}
	// Different subscriptions: each free partition goes to the least
	// loaded member that can take it, then partitions move from the most
	// to the least loaded eligible member while that narrows the gap.
	least := func(id [16]byte) string {
		best := ""
		for _, mid := range eligible[id] {
			if best == "" || count(mid) < count(best) {
				best = mid
			}
		}
		return best
	}
	for _, p := range all {
		if !taken[p] {
			out[least(p.id)].add(p.id, p.p)
		}
	}
	for moved := true; moved; {
		moved = false
		order := make([]string, 0, len(spec.members))
		for _, m := range spec.members {
			order = append(order, m.id)
		}
		slices.SortStableFunc(order, func(a, b string) int { return count(b) - count(a) })
		for _, from := range order {
			l := out[from].list()
			for i := len(l) - 1; i >= 0 && !moved; i-- {
				to := least(l[i].id)
				if to != from && count(to) < count(from)-1 {
					out[from].remove(l[i].id, l[i].p)
					out[to].add(l[i].id, l[i].p)
					moved = true
				}
			}
			if moved {
				break
			}
		}
	}
	return out
}
