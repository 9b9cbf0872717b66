package config

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidateTopic(t *testing.T) {
	tests := []struct {
		name      string
		overrides map[string]string
		kind      error    // nil: valid
		want      []string // substrings of the message
	}{
		{"empty", nil, nil, nil},
		{"all valid", map[string]string{
			RetentionMs: "-1", RetentionBytes: "-5", CleanupPolicy: "compact, delete", CompressionType: "zstd",
			MessageTimestampType: "LogAppendTime", MinCleanableDirtyRatio: "0.1", WriteCaching: "TRUE",
			CompressionGzipLevel: "-1", LeaderReplicationThrottledReplicas: "0:1, 1:2", FollowerReplicationThrottledReplicas: "*",
			SegmentBytes: "1048576", MinCompactionLagMs: "10", MaxCompactionLagMs: "10",
		}, nil, nil},
		{"empty cleanup policy is allowed as in Kafka", map[string]string{CleanupPolicy: ""}, nil, nil},

		{"unknown with suggestion", map[string]string{"retention.mss": "1"}, ErrUnknown,
			[]string{"retention.mss", "unknown topic config", "did you mean retention.ms?"}},
		{"unknown far from anything", map[string]string{"zzz": "1"}, ErrUnknown,
			[]string{"zzz: unknown topic config"}},
		{"broker setting given to a topic", map[string]string{LogRetentionHours: "1"}, ErrUnknown,
			[]string{"log.retention.hours", "broker setting, not a topic config", "the topic config is retention.ms"}},
		{"removed in Kafka 4", map[string]string{"message.format.version": "3.0"}, ErrUnknown,
			[]string{"message.format.version", "removed in Kafka 4.0"}},

		{"wrong type long", map[string]string{RetentionMs: "7d"}, ErrInvalid,
			[]string{`retention.ms: invalid value "7d": not a long`}},
		{"wrong type int overflow", map[string]string{SegmentBytes: "4294967296"}, ErrInvalid,
			[]string{"segment.bytes", "out of range for an int"}},
		{"wrong type boolean", map[string]string{Preallocate: "yes"}, ErrInvalid,
			[]string{"preallocate", "expected true or false"}},
		{"wrong type double", map[string]string{MinCleanableDirtyRatio: "half"}, ErrInvalid,
			[]string{"min.cleanable.dirty.ratio", "not a finite number"}},
		{"NaN is not a ratio", map[string]string{MinCleanableDirtyRatio: "NaN"}, ErrInvalid,
			[]string{"min.cleanable.dirty.ratio"}},

		{"below minimum", map[string]string{SegmentMs: "0"}, ErrInvalid,
			[]string{"segment.ms", "must be at least 1"}},
		{"retention below -1", map[string]string{RetentionMs: "-2"}, ErrInvalid,
			[]string{"retention.ms", "must be at least -1"}},
		{"segment below 1 MiB", map[string]string{SegmentBytes: "1048575"}, ErrInvalid,
			[]string{"segment.bytes", "at least 1048576"}},
		{"ratio above 1", map[string]string{MinCleanableDirtyRatio: "1.5"}, ErrInvalid,
			[]string{"min.cleanable.dirty.ratio", "between 0.0 and 1.0"}},
		{"gzip level", map[string]string{CompressionGzipLevel: "0"}, ErrInvalid,
			[]string{"compression.gzip.level", "-1 or between 1 and 9"}},
		{"zstd level", map[string]string{CompressionZstdLevel: "23"}, ErrInvalid,
			[]string{"between -131072 and 22"}},

		{"bad enum", map[string]string{CompressionType: "brotli"}, ErrInvalid,
			[]string{"compression.type", `"brotli" is not one of`, "uncompressed, zstd, lz4, snappy, gzip, producer"}},
		{"enum is case-sensitive", map[string]string{MessageTimestampType: "logappendtime"}, ErrInvalid,
			[]string{"message.timestamp.type", "CreateTime, LogAppendTime"}},
		{"bad list enum", map[string]string{CleanupPolicy: "delete,keep"}, ErrInvalid,
			[]string{"cleanup.policy", `"keep" is not one of compact, delete`}},
		{"list with hole", map[string]string{CleanupPolicy: "delete,,compact"}, ErrInvalid,
			[]string{"cleanup.policy", "empty element"}},
		{"throttled replicas", map[string]string{LeaderReplicationThrottledReplicas: "0:1,x"}, ErrInvalid,
			[]string{"leader.replication.throttled.replicas", `"x" is not partition:broker`}},

		{"compaction lags disagree", map[string]string{MinCompactionLagMs: "20", MaxCompactionLagMs: "10"}, ErrInvalid,
			[]string{"min.compaction.lag.ms", "greater than max.compaction.lag.ms (10)"}},
		{"tiered storage", map[string]string{RemoteStorageEnable: "true"}, ErrInvalid,
			[]string{"remote.storage.enable", "tiered storage"}},
		{"several errors are all reported", map[string]string{SegmentMs: "0", "bogus.key": "1"}, ErrInvalid,
			[]string{"segment.ms", "bogus.key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTopic(tc.overrides)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tc.kind)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Key == "" {
				t.Errorf("error %q does not carry the key", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseCanonical(t *testing.T) {
	tests := []struct {
		typ  Type
		in   string
		want string
		bad  bool
	}{
		{TypeBoolean, " True ", "true", false},
		{TypeBoolean, "1", "", true},
		{TypeInt, " +42 ", "42", false},
		{TypeInt, "2147483648", "", true},
		{TypeShort, "32768", "", true},
		{TypeLong, "9223372036854775807", "9223372036854775807", false},
		{TypeLong, "1.5", "", true},
		{TypeDouble, "0.5", "0.5", false},
		{TypeDouble, "1", "1.0", false},
		{TypeDouble, "1e-4", "1.0E-4", false},
		{TypeDouble, "12345678", "1.2345678E7", false},
		{TypeDouble, "Inf", "", true},
		{TypeList, " a , b ", "a,b", false},
		{TypeList, "", "", false},
		{TypeString, "  x y  ", "x y", false},
	}
	for _, tc := range tests {
		got, _, reason := parse(tc.typ, tc.in)
		if (reason != "") != tc.bad || got != tc.want {
			t.Errorf("parse(%v, %q) = %q, %q; want %q, bad=%v", tc.typ, tc.in, got, reason, tc.want, tc.bad)
		}
	}
	if got := formatDouble(math.MaxFloat64); got != "1.7976931348623157E308" {
		t.Errorf("formatDouble(MaxFloat64) = %s", got)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct {
		in   string
		sc   scope
		want string
	}{
		{"log.retention.mss", scopeBroker, LogRetentionMs},
		{"log.retenton.hours", scopeBroker, LogRetentionHours},
		{"num.partition", scopeBroker, NumPartitions},
		{"segment.byte", scopeTopic, SegmentBytes},
		{"completely.different.thing", scopeBroker, ""},
	}
	for _, tc := range tests {
		if got := suggest(tc.in, tc.sc); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
