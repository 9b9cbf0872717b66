// Package config is the one table of Plexus's settings, named and meant as in
// Kafka: every broker setting Plexus honours and every Kafka 4 topic config,
// plus the Plexus-only write.caching and admin.listeners.
//
// # The table
//
// keys.go lists each setting once as a Key: its Kafka name, its type (the
// numbers are Kafka's DescribeConfigs ConfigType), its default, a rule for
// valid values, a one-line doc, whether it is a topic config, a broker
// setting or both, and, for a topic config, its broker synonyms in Kafka's
// priority order with their unit conversion:
//
//	retention.ms  <- log.retention.ms, log.retention.minutes (x60000), log.retention.hours (x3600000)
//	segment.ms    <- log.roll.ms, log.roll.hours (x3600000)
//	max.message.bytes <- message.max.bytes
//
// A broker setting is read-only unless Kafka can change it at runtime (and
// Plexus can follow); as in Kafka, only the first synonym of a chain
// (log.retention.ms) is dynamic, its lower-priority synonyms
// (log.retention.hours) are not. names.go holds a constant for every name;
// docs/configuration.md is generated from the table (go run
// ./internal/config/gen) and a test fails when it is stale.
//
// # Sources and precedence
//
// A Broker holds three levels of values plus the defaults, each value with
// the Kafka ConfigSource it reports:
//
//	DYNAMIC_BROKER_CONFIG (2)          AlterConfigs for this broker       highest
//	DYNAMIC_DEFAULT_BROKER_CONFIG (3)  AlterConfigs for all brokers
//	STATIC_BROKER_CONFIG (4)           Load: flags and --set > PLEXUS_* env > file
//	DEFAULT_CONFIG (5)                 the table                          lowest
//
// A topic config adds DYNAMIC_TOPIC_CONFIG (1), the topic's override, above
// all of them; below it, each level is searched for the topic's broker
// synonyms in priority order before the next level is tried, and the value
// found is converted to the topic config's unit. This is the resolution of
// Kafka's controller (KafkaConfigSchema.resolveEffectiveTopicConfig). Because
// only chain heads are dynamic, it agrees with Kafka's broker, which resolves
// each chain over the merged configuration.
//
// Values are kept in canonical string form (trimmed, booleans lower case,
// lists joined with commas, doubles as Java prints them), which is what
// DescribeConfigs returns.
//
// # Concurrency
//
// A Broker publishes immutable snapshots through an atomic pointer: readers
// (getters, Topic, Describe*) never lock; SetDynamic and AlterDynamic
// serialize on a mutex, validate a copy and publish it. Generation and
// Changed let a caller cache what it derives (a partition's Topic) and learn
// of the next change without polling.
//
// # Errors
//
// Every refusal is an *Error naming the key, the origin of the value (file
// and line, environment variable, flag) when there is one, the reason and a
// hint (the nearest valid name by edit distance, the valid range, the broker
// synonym of a topic config). It wraps ErrUnknown, ErrInvalid or ErrReadOnly;
// the broker maps all of them to INVALID_CONFIG.
package config
