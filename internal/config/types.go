package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is a setting's value type. The numbers are Kafka's ConfigType values
// in DescribeConfigs responses (v3 and later), so a Type converts directly to
// the int8 on the wire.
type Type int8

// The value types, numbered as in Kafka's DescribeConfigs ConfigType.
const (
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3 // 32-bit
	TypeShort    Type = 4 // 16-bit
	TypeLong     Type = 5 // 64-bit
	TypeDouble   Type = 6
	TypeList     Type = 7 // comma-separated
	TypeClass    Type = 8
	TypePassword Type = 9 // sensitive: never described
)

func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "boolean"
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeShort:
		return "short"
	case TypeLong:
		return "long"
	case TypeDouble:
		return "double"
	case TypeList:
		return "list"
	case TypeClass:
		return "class"
	case TypePassword:
		return "password"
	}
	return "unknown"
}

// Source says where a value came from. The numbers are Kafka's ConfigSource
// values in DescribeConfigs responses.
type Source int8

// The sources, numbered as in Kafka's DescribeConfigs ConfigSource.
const (
	SourceUnknown              Source = 0
	SourceTopic                Source = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceDynamicBroker        Source = 2 // DYNAMIC_BROKER_CONFIG: set at runtime for this broker
	SourceDynamicDefaultBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG: set at runtime for all brokers
	SourceStaticBroker         Source = 4 // STATIC_BROKER_CONFIG: file, environment or flags at startup
	SourceDefault              Source = 5 // DEFAULT_CONFIG: the table's default
	SourceDynamicBrokerLogger  Source = 6 // DYNAMIC_BROKER_LOGGER_CONFIG: not used by Plexus
)

func (s Source) String() string {
	switch s {
	case SourceTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	case SourceDynamicBrokerLogger:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	}
	return "UNKNOWN"
}

// parse converts a raw value to its canonical string form for type t, the
// way Kafka's ConfigDef parses (the value is trimmed first; booleans are
// case-insensitive; lists are split on commas and trimmed). It returns the
// canonical string and the parsed value (bool, int64, float64, string or
// []string), or a reason the value is not of type t.
func parse(t Type, raw string) (string, any, string) {
	s := strings.TrimSpace(raw)
	switch t {
	case TypeBoolean:
		switch strings.ToLower(s) {
		case "true":
			return "true", true, ""
		case "false":
			return "false", false, ""
		}
		return "", nil, "not a boolean: expected true or false"
	case TypeShort, TypeInt, TypeLong:
		bits, what := 64, "a long (64-bit integer)"
		switch t {
		case TypeShort:
			bits, what = 16, "a short (16-bit integer)"
		case TypeInt:
			bits, what = 32, "an int (32-bit integer)"
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return "", nil, fmt.Sprintf("out of range for %s", what)
			}
			return "", nil, fmt.Sprintf("not %s", what)
		}
		return strconv.FormatInt(n, 10), n, ""
	case TypeDouble:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", nil, "not a finite number (double)"
		}
		return formatDouble(f), f, ""
	case TypeList:
		if s == "" {
			return "", []string{}, ""
		}
		parts := strings.Split(s, ",")
		for i, p := range parts {
			parts[i] = strings.TrimSpace(p)
			if parts[i] == "" {
				return "", nil, "list has an empty element"
			}
		}
		return strings.Join(parts, ","), parts, ""
	default: // string, class, password
		return s, s, ""
	}
}

// formatDouble formats f the way Java's Double.toString does, which is what
// Kafka clients show for double settings (0.5, 1.0, 1.7976931348623157E308).
func formatDouble(f float64) string {
	a := math.Abs(f)
	if f == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimPrefix(exp, "-"), "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}
