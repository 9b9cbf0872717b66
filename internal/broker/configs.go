package broker

// DescribeConfigs (v1-v4), AlterConfigs (v0-v2), IncrementalAlterConfigs
// (v0-v1), for topics and this broker. Every change is a metadata record,
// so configs survive restarts and apply in one place (reconcile).

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/cluster"
	"github.com/plexus/plexus/internal/config"
	"github.com/plexus/plexus/internal/server"
)

// Resource types of the config APIs.
const (
	resourceTopic        = 2
	resourceBroker       = 4
	resourceBrokerLogger = 8
)

func handleDescribeConfigs(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := b.store.Image()
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		var entries []config.Entry
		switch res.ResourceType {
		case resourceTopic:
			t := img.Topics[res.ResourceName]
			if t == nil {
				// As Kafka: a name no topic could have is invalid, one
				// that could is unknown.
				rr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				msg := "topic " + strconv.Quote(res.ResourceName) + " does not exist"
				if err := cluster.ValidateTopicName(res.ResourceName); err != nil {
					rr.ErrorCode, msg = kerr.InvalidTopicException.Code, err.Error()
				}
				rr.ErrorMessage = &msg
				break
			}
			entries = b.cfg.DescribeTopic(t.Configs)
		case resourceBroker:
			switch res.ResourceName {
			case strconv.Itoa(int(b.opts.NodeID)):
				entries = b.cfg.DescribeBroker()
			case "":
				// The cluster-wide dynamic defaults.
				entries = b.cfg.DescribeBrokerDefaults()
			default:
				rr.ErrorCode = kerr.InvalidRequest.Code
				msg := "unexpected broker id " + res.ResourceName + "; this broker is " + strconv.Itoa(int(b.opts.NodeID))
				rr.ErrorMessage = &msg
			}
		case resourceBrokerLogger:
			// Log levels are not adjustable at runtime: describe none.
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			msg := "unsupported resource type " + strconv.Itoa(int(res.ResourceType))
			rr.ErrorMessage = &msg
		}
		for _, e := range entries {
			// Null or empty asks for every config, as in Kafka.
			if len(res.ConfigNames) > 0 && !slices.Contains(res.ConfigNames, e.Name) {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name, rc.Value, rc.ReadOnly, rc.Source, rc.IsSensitive = e.Name, e.Value, e.ReadOnly, kmsg.ConfigSource(e.Source), e.Sensitive
			rc.IsDefault = e.Source == config.SourceDefault
			if req.IncludeSynonyms {
				for _, s := range e.Synonyms {
					rs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					rs.Name, rs.Value, rs.Source = s.Name, s.Value, kmsg.ConfigSource(s.Source)
					rc.ConfigSynonyms = append(rc.ConfigSynonyms, rs)
				}
			}
			rc.ConfigType = kmsg.ConfigType(e.Type)
			if req.IncludeDocumentation {
				doc := e.Doc
				rc.Documentation = &doc
			}
			rr.Configs = append(rr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// configChange is one resource's requested change, already merged into the
// full new set of values.
type configChange struct {
	typ  int8
	name string
	next map[string]string
}

// alterResource validates a resource's new configs and, unless
// validateOnly, commits them.
func (b *Broker) alterResource(c configChange, validateOnly bool) error {
	switch c.typ {
	case resourceTopic:
		if err := config.ValidateTopic(c.next); err != nil {
			return errf(kerr.InvalidConfig, "%v", err)
		}
		_, err := b.update(func(img *cluster.Image) ([]*cluster.Record, error) {
			t := img.Topics[c.name]
			if t == nil {
				return nil, errf(kerr.UnknownTopicOrPartition, "topic %q does not exist", c.name)
			}
			if validateOnly {
				return nil, nil
			}
			return []*cluster.Record{{Type: cluster.SetTopicConfigs, ID: t.ID, Name: t.Name, Configs: c.next}}, nil
		})
		return err
	case resourceBroker:
		perBroker := c.name != ""
		changes := map[string]*string{}
		for k := range b.cfg.Dynamic(perBroker) {
			if _, ok := c.next[k]; !ok {
				changes[k] = nil
			}
		}
		for k, v := range c.next {
			changes[k] = &v
		}
		if err := b.cfg.AlterDynamic(perBroker, changes, true); err != nil {
			return errf(kerr.InvalidConfig, "%v", err)
		}
		if validateOnly {
			return nil
		}
		_, err := b.update(func(img *cluster.Image) ([]*cluster.Record, error) {
			return []*cluster.Record{{Type: cluster.SetBrokerConfig, Broker: c.name, Configs: c.next}}, nil
		})
		return err
	}
	return errf(kerr.InvalidRequest, "unsupported resource type %d", c.typ)
}

// current returns a resource's present overrides, or an error for an
// unknown resource.
func (b *Broker) currentConfigs(typ int8, name string) (map[string]string, error) {
	switch typ {
	case resourceTopic:
		t := b.store.Image().Topics[name]
		if t == nil {
			return nil, errf(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		return maps.Clone(t.Configs), nil
	case resourceBroker:
		if name != "" && name != strconv.Itoa(int(b.opts.NodeID)) {
			return nil, errf(kerr.InvalidRequest, "unexpected broker id %s; this broker is %d", name, b.opts.NodeID)
		}
		return b.cfg.Dynamic(name != ""), nil
	case resourceBrokerLogger:
		return nil, errf(kerr.InvalidRequest, "broker loggers cannot be altered")
	}
	return nil, errf(kerr.InvalidRequest, "unsupported resource type %d", typ)
}

// resourceKey names a config resource in a request.
type resourceKey struct {
	typ  int8
	name string
}

// duplicateResources reports the resources an alter request names more
// than once: Kafka refuses each copy with INVALID_REQUEST rather than
// apply them in turn.
func duplicateResources[R any](rs []R, key func(R) resourceKey) map[resourceKey]bool {
	n := make(map[resourceKey]int, len(rs))
	for _, r := range rs {
		n[key(r)]++
	}
	dups := map[resourceKey]bool{}
	for k, c := range n {
		if c > 1 {
			dups[k] = true
		}
	}
	return dups
}

func handleAlterConfigs(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	dups := duplicateResources(req.Resources, func(r kmsg.AlterConfigsRequestResource) resourceKey {
		return resourceKey{int8(r.ResourceType), r.ResourceName}
	})
	for _, res := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		err := func() error {
			if dups[resourceKey{int8(res.ResourceType), res.ResourceName}] {
				return errf(kerr.InvalidRequest, "resource %q appears more than once", res.ResourceName)
			}
			if _, err := b.currentConfigs(int8(res.ResourceType), res.ResourceName); err != nil {
				return err
			}
			// AlterConfigs replaces the whole set: what is not named
			// returns to its default.
			next := map[string]string{}
			for _, c := range res.Configs {
				if _, dup := next[c.Name]; dup {
					return errf(kerr.InvalidRequest, "config %q appears more than once", c.Name)
				}
				if c.Value == nil {
					return errf(kerr.InvalidRequest, "null value not supported for config %q", c.Name)
				}
				next[c.Name] = *c.Value
			}
			return b.alterResource(configChange{typ: int8(res.ResourceType), name: res.ResourceName, next: next}, req.ValidateOnly)
		}()
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// Incremental operations.
const (
	opSet      = 0
	opDelete   = 1
	opAppend   = 2
	opSubtract = 3
)

func handleIncrementalAlterConfigs(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	dups := duplicateResources(req.Resources, func(r kmsg.IncrementalAlterConfigsRequestResource) resourceKey {
		return resourceKey{int8(r.ResourceType), r.ResourceName}
	})
	for _, res := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		err := func() error {
			if dups[resourceKey{int8(res.ResourceType), res.ResourceName}] {
				return errf(kerr.InvalidRequest, "resource %q appears more than once", res.ResourceName)
			}
			next, err := b.currentConfigs(int8(res.ResourceType), res.ResourceName)
			if err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, c := range res.Configs {
				if seen[c.Name] {
					return errf(kerr.InvalidRequest, "config %q appears more than once", c.Name)
				}
				seen[c.Name] = true
				key, known := config.Lookup(c.Name)
				switch c.Op {
				case opSet:
					if c.Value == nil {
						return errf(kerr.InvalidRequest, "null value not supported for config %q", c.Name)
					}
					next[c.Name] = *c.Value
				case opDelete:
					delete(next, c.Name)
				case opAppend, opSubtract:
					if !known || key.Type != config.TypeList {
						return errf(kerr.InvalidConfig, "config %q is not a list: APPEND and SUBTRACT apply only to lists", c.Name)
					}
					if c.Value == nil {
						return errf(kerr.InvalidRequest, "null value not supported for config %q", c.Name)
					}
					cur := effectiveList(b, int8(res.ResourceType), next, c.Name)
					for _, v := range splitList(*c.Value) {
						has := slices.Contains(cur, v)
						if c.Op == opAppend && !has {
							cur = append(cur, v)
						}
						if c.Op == opSubtract && has {
							cur = slices.DeleteFunc(cur, func(s string) bool { return s == v })
						}
					}
					next[c.Name] = strings.Join(cur, ",")
				default:
					return errf(kerr.InvalidRequest, "unknown operation %d for config %q", c.Op, c.Name)
				}
			}
			return b.alterResource(configChange{typ: int8(res.ResourceType), name: res.ResourceName, next: next}, req.ValidateOnly)
		}()
		rr.ErrorCode, rr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return resp
}

// effectiveList is a list config's current value, from the overrides or
// else the effective (inherited) value, as the base for APPEND/SUBTRACT.
func effectiveList(b *Broker, typ int8, overrides map[string]string, name string) []string {
	if v, ok := overrides[name]; ok {
		return splitList(v)
	}
	if typ == resourceTopic {
		for _, e := range b.cfg.DescribeTopic(overrides) {
			if e.Name == name && e.Value != nil {
				return splitList(*e.Value)
			}
		}
		return nil
	}
	return b.cfg.List(name)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
