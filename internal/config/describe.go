package config

import "sort"

// Entry is one setting as DescribeConfigs reports it.
type Entry struct {
	Name string
	// Value is the effective value in canonical form; nil when the setting
	// is sensitive or has no value.
	Value     *string
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	// Synonyms lists every place the value is or could be taken from, in
	// priority order: the setting itself at its level, then the broker
	// synonyms level by level (dynamic broker, dynamic default, static), each
	// level in synonym priority order, then the defaults. The first one is
	// where Value comes from.
	Synonyms []Synonym
}

// Synonym is one candidate source of a described value. Value is in the
// synonym's own unit (log.retention.hours=168, not milliseconds), as Kafka
// reports it; nil when sensitive.
type Synonym struct {
	Name   string
	Value  *string
	Source Source
}

// DescribeTopic describes every topic config of a topic with the given
// overrides, sorted by name. The caller owns the returned slice.
//
// Kafka's broker computes the synonyms of a topic config from its first broker
// synonym only (and drops everything when that one is unset, reporting
// DEFAULT_CONFIG for retention.ms even when log.retention.hours is set); Plexus
// reports the whole chain, so Source agrees with where Value came from, as in
// the configs Kafka's controller returns from CreateTopics.
func (b *Broker) DescribeTopic(overrides map[string]string) []Entry {
	s := b.load()
	var out []Entry
	for i := range table {
		k := &table[i]
		if !k.Topic {
			continue
		}
		v, src, _ := s.topicValue(k, overrides)
		e := Entry{Name: k.Name, Value: &v, Source: src, Type: k.Type, Doc: k.Doc, Sensitive: k.Sensitive}
		if src == SourceTopic {
			e.Synonyms = append(e.Synonyms, Synonym{Name: k.Name, Value: ptr(v), Source: SourceTopic})
		}
		names := make([]string, len(k.BrokerSynonyms))
		for i, syn := range k.BrokerSynonyms {
			names[i] = syn.Name
		}
		e.Synonyms = append(e.Synonyms, s.synonyms(names)...)
		out = append(out, redact(e))
	}
	sortEntries(out)
	return out
}

// DescribeBroker describes every broker setting of this broker, sorted by
// name, as DescribeConfigs for resource BROKER with this node's id. The caller
// owns the returned slice.
func (b *Broker) DescribeBroker() []Entry {
	s := b.load()
	var out []Entry
	for i := range table {
		k := &table[i]
		if !k.Broker {
			continue
		}
		out = append(out, s.describeBroker(k, false))
	}
	sortEntries(out)
	return out
}

// DescribeBrokerDefaults describes the dynamic cluster-wide defaults that are
// set, as DescribeConfigs for resource BROKER with an empty name: only those
// settings, with only their DYNAMIC_DEFAULT_BROKER_CONFIG synonyms.
func (b *Broker) DescribeBrokerDefaults() []Entry {
	s := b.load()
	var out []Entry
	for name, v := range s.levels[lvlDynamicDefault] {
		k := index[name]
		e := s.describeBroker(k, true)
		e.Value, e.Source = ptr(v), SourceDynamicDefaultBroker
		out = append(out, redact(e))
	}
	sortEntries(out)
	return out
}

func (s *snapshot) describeBroker(k *Key, defaultsOnly bool) Entry {
	names, ok := brokerFamily[k.Name]
	if !ok {
		names = []string{k.Name}
	}
	all := s.synonyms(names)
	// As Kafka: drop the more specific synonyms of a less specific setting
	// (describing log.retention.hours does not list log.retention.ms).
	for len(all) > 0 && all[0].Name != k.Name {
		all = all[1:]
	}
	var syns []Synonym
	for _, sy := range all {
		if !defaultsOnly || sy.Source == SourceDynamicDefaultBroker {
			syns = append(syns, sy)
		}
	}
	e := Entry{Name: k.Name, Source: SourceDefault, ReadOnly: k.ReadOnly, Sensitive: k.Sensitive,
		Type: k.Type, Doc: k.Doc, Synonyms: syns}
	if len(syns) > 0 {
		e.Source = syns[0].Source
	}
	if v, _, ok := s.ownValue(k); ok {
		e.Value = &v
	} else if k.DefaultFrom != "" {
		if v, _, ok := s.brokerValue(k); ok {
			e.Value = &v
		}
	}
	return redact(e)
}

// synonyms lists the values of the broker settings names, level by level
// (dynamic broker, dynamic default, static), each level in the order of
// names, then the defaults of those that have one.
func (s *snapshot) synonyms(names []string) []Synonym {
	var out []Synonym
	for l := range numLevels {
		for _, n := range names {
			if v, ok := s.levels[l][n]; ok {
				out = append(out, Synonym{Name: n, Value: ptr(v), Source: levelSource[l]})
			}
		}
	}
	for _, n := range names {
		if k := index[n]; !k.NoDefault {
			out = append(out, Synonym{Name: n, Value: ptr(k.Default), Source: SourceDefault})
		}
	}
	return out
}

func redact(e Entry) Entry {
	if !e.Sensitive {
		return e
	}
	e.Value = nil
	for i := range e.Synonyms {
		e.Synonyms[i].Value = nil
	}
	return e
}

func ptr(s string) *string { return &s }

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
}
