package cluster

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

var (
	ErrTopicExists  = errors.New("topic already exists")
	ErrUnknownTopic = errors.New("unknown topic")
	ErrInvalidTopic = errors.New("invalid topic name")
)

// MaxTopicNameLength is Kafka's limit (249: a partition folder name adds a
// dash, the partition number and a deletion suffix within 255 bytes).
const MaxTopicNameLength = 249

// ValidateTopicName applies Kafka's rules for topic names.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidTopic)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopic, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: %q is longer than %d characters", ErrInvalidTopic, name, MaxTopicNameLength)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

// collisionKey maps '.' to '_': Kafka's metric names cannot tell the two
// apart, so topics differing only there are refused.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// CollidingTopic returns an existing topic whose name differs from name only
// by '.' versus '_', or "".
func (img *Image) CollidingTopic(name string) string {
	k := collisionKey(name)
	for n := range img.Topics {
		if n != name && collisionKey(n) == k {
			return n
		}
	}
	return ""
}

// NewTopicID returns a random version-4 UUID that is not all zeros and
// does not start with the reserved sentinel bytes Kafka avoids.
func NewTopicID() TopicID {
	for {
		var id TopicID
		rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		// Kafka never hands out a UUID whose base64 form starts with '-',
		// as it would read like a command-line flag.
		if id[0]&0xfc != 0xf8 {
			return id
		}
	}
}

// Topic returns the topic with this name, or nil.
func (img *Image) Topic(name string) *Topic { return img.Topics[name] }
