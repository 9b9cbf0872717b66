package config

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DocsPath is where the generated reference lives, relative to the module
// root, and DocsCommand regenerates it.
const (
	DocsPath    = "docs/configuration.md"
	DocsCommand = "go run ./internal/config/gen"
)

// Markdown renders the operator's reference of every setting from the table.
// docs/configuration.md is this output; a test keeps them equal.
func Markdown() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Configuration reference\n\n")
	p("<!-- Generated from internal/config by `%s`. Do not edit by hand. -->\n\n", DocsCommand)
	p(`Plexus takes Kafka's names and meanings for its settings, so Kafka tools and
clients configure it as they would configure Kafka. Defaults, types and valid
ranges are Kafka 4's unless a description says otherwise. Settings marked
**Plexus** do not exist in Kafka; settings marked *no effect* are accepted and
validated for compatibility but change nothing in Plexus.

## Where settings come from

A broker setting is taken from the first of these that sets it:

1. ` + "`DYNAMIC_BROKER_CONFIG`" + `: set at runtime for this broker (AlterConfigs on resource BROKER with this node's id).
2. ` + "`DYNAMIC_DEFAULT_BROKER_CONFIG`" + `: set at runtime for all brokers (AlterConfigs on resource BROKER with an empty name).
3. ` + "`STATIC_BROKER_CONFIG`" + `: given at startup, where command-line flags (` + "`--listen`, `--advertise`, `--data-dir`, `--admin-listen`, `--node-id`" + ` and ` + "`--set key=value`" + `) win over ` + "`PLEXUS_*`" + ` environment variables, which win over the config file (` + "`--config FILE`" + `).
4. ` + "`DEFAULT_CONFIG`" + `: the default below.

Only settings whose *Dynamic* column says yes can change at runtime; the others
are fixed at startup.

A topic config is taken from the topic's own override (` + "`DYNAMIC_TOPIC_CONFIG`" + `, set by
CreateTopics or AlterConfigs) and otherwise from the broker settings listed as
its *broker default*, level by level as above and, within a level, in the order
listed: ` + "`retention.ms`" + ` comes from ` + "`log.retention.ms`" + `, else ` + "`log.retention.minutes`" + `,
else ` + "`log.retention.hours`" + `, converted to milliseconds. DescribeConfigs reports
the value, its source and these synonyms.

Startup stops on any unknown setting or invalid value, with a message naming
the setting, where it came from (file and line, environment variable or flag)
and how to fix it.

## Environment variables

` + "`PLEXUS_` followed by the setting name in upper case with dots as underscores: `PLEXUS_LOG_RETENTION_MS=3600000`" + `
sets ` + "`log.retention.ms`" + `. Short forms: ` + "`PLEXUS_LISTEN`" + ` (listeners), ` + "`PLEXUS_ADVERTISE`" + `
(advertised.listeners), ` + "`PLEXUS_DATA_DIR`" + ` (log.dirs), ` + "`PLEXUS_ADMIN_LISTEN`" + ` (admin.listeners),
` + "`PLEXUS_NODE_ID`" + ` (node.id). ` + "`PLEXUS_BROKERS`" + `, ` + "`PLEXUS_CONFIG`" + `, ` + "`PLEXUS_LOG_LEVEL`" + ` and
` + "`PLEXUS_LOG_FORMAT`" + ` are read by the command line, not the broker; any other
` + "`PLEXUS_*`" + ` variable must name a broker setting.

## Config file

Either YAML, a flat map (nested maps are joined with dots; a list becomes a
comma-separated value):

` + "```yaml" + `
listeners: 0.0.0.0:9092
advertised.listeners: kafka-1.example.com:9092
log.retention.hours: 24
log.cleanup.policy: [delete]
write.caching: false
` + "```" + `

or Kafka's ` + "`server.properties`" + ` format (` + "`#`" + ` and ` + "`!`" + ` comments, ` + "`=`" + ` or ` + "`:`" + ` separators, a
trailing ` + "`\\`" + ` continues a line):

` + "```properties" + `
# retention
log.retention.hours=24
log.cleanup.policy=delete
` + "```" + `

A file ending in ` + "`.properties`" + ` is read as properties, ` + "`.yaml`/`.yml`" + ` as YAML; any other
name is read as YAML if it is a YAML map and as properties otherwise.

## Durability: write.caching

With ` + "`write.caching=false`" + ` (the default) a produce with ` + "`acks=all`" + ` is acknowledged
only once its batch is fsynced; one fsync covers every batch appended since the
previous one (group commit), and the high watermark, which bounds what
consumers read, covers only fsynced data. No acknowledged record is lost to a
process crash or a power loss. With ` + "`write.caching=true`" + ` (broker-wide or per
topic, the same name as Redpanda's) the produce is acknowledged once the batch
is in the page cache and consumers may read it at once; the sync still
follows as soon as it can, as with the default (` + "`flush.messages`" + ` and
` + "`flush.ms`" + ` have no effect). Faster, but a power loss can lose acknowledged
records that no other replica holds.

`)

	p("## Topic configs\n\n")
	p("| Name | Type | Default | Valid values | Broker default | Description |\n")
	p("| --- | --- | --- | --- | --- | --- |\n")
	for _, k := range Keys() {
		if !k.Topic {
			continue
		}
		var syns []string
		for _, s := range k.BrokerSynonyms {
			n := "`" + s.Name + "`"
			switch s.Scale {
			case msPerMinute:
				n += " (minutes)"
			case msPerHour:
				n += " (hours)"
			}
			syns = append(syns, n)
		}
		p("| %s | %s | %s | %s | %s | %s |\n", nameCell(k), k.Type, defaultCell(k), validCell(k),
			dash(strings.Join(syns, ", ")), descCell(k))
	}

	p("\n## Broker settings\n\n")
	p("| Name | Type | Default | Valid values | Dynamic | Description |\n")
	p("| --- | --- | --- | --- | --- | --- |\n")
	for _, k := range Keys() {
		if !k.Broker {
			continue
		}
		dyn := "yes"
		if k.ReadOnly {
			dyn = "no"
		}
		p("| %s | %s | %s | %s | %s | %s |\n", nameCell(k), k.Type, defaultCell(k), validCell(k), dyn, descCell(k))
	}
	return b.Bytes()
}

func nameCell(k Key) string {
	s := "`" + k.Name + "`"
	if k.PlexusOnly {
		s += " **Plexus**"
	}
	return s
}

func descCell(k Key) string {
	d := k.Doc
	if k.Ignored {
		d = "*No effect.* " + d
	}
	return cell(d)
}

func defaultCell(k Key) string {
	switch {
	case k.DefaultFrom != "":
		return "value of `" + k.DefaultFrom + "`"
	case k.NoDefault:
		return "(unset)"
	case k.Default == "":
		return `""`
	}
	s := "`" + k.Default + "`"
	if h := human(k.Name, k.Default); h != "" {
		s += " (" + h + ")"
	}
	return s
}

// human renders a default in friendlier units where the name says the unit.
func human(name, v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return ""
	}
	if n == math.MaxInt64 || n == math.MaxInt32 {
		return "no limit"
	}
	switch {
	case strings.HasSuffix(name, ".ms"):
		for _, u := range []struct {
			ms   int64
			unit string
		}{{86400000, "d"}, {3600000, "h"}, {60000, "min"}, {1000, "s"}} {
			if n >= u.ms && n%u.ms == 0 {
				return strconv.FormatInt(n/u.ms, 10) + " " + u.unit
			}
		}
	case strings.HasSuffix(name, ".bytes") || strings.HasSuffix(name, ".size"):
		for _, u := range []struct {
			b    int64
			unit string
		}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
			if n >= u.b && n%u.b == 0 {
				return strconv.FormatInt(n/u.b, 10) + " " + u.unit
			}
		}
	}
	return ""
}

func validCell(k Key) string {
	if v := k.ValidValues(); v != "" {
		return cell(v)
	}
	if k.Type == TypeBoolean {
		return "true, false"
	}
	return "any"
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func cell(s string) string {
	if s == "" {
		return "any"
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
