package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// looksLikeYAMLMap reports whether data parses as a YAML document whose root
// is a mapping. A server.properties file with key=value lines does not (it
// reads as one plain scalar), while "key: value" lines read the same in both
// formats.
func looksLikeYAMLMap(data []byte) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return false
	}
	return len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode
}

// parseYAML reads a flat YAML map of settings. Nested maps are flattened
// with dots (log: {retention: {ms: 5}} is log.retention.ms: 5); a sequence of
// scalars becomes a comma-separated list.
func parseYAML(name string, data []byte) ([]setting, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: expected a map of settings (key: value lines)", name, root.Line)
	}
	var out []setting
	seen := map[string]string{}
	var walk func(prefix string, m *yaml.Node) error
	walk = func(prefix string, m *yaml.Node) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			kn, vn := m.Content[i], m.Content[i+1]
			key := prefix + kn.Value
			origin := fmt.Sprintf("%s:%d", name, kn.Line)
			if vn.Kind == yaml.AliasNode {
				vn = vn.Alias
			}
			switch vn.Kind {
			case yaml.MappingNode:
				if err := walk(key+".", vn); err != nil {
					return err
				}
				continue
			case yaml.SequenceNode:
				items := make([]string, len(vn.Content))
				for j, it := range vn.Content {
					if it.Kind != yaml.ScalarNode {
						return fmt.Errorf("%s: %s: a list may hold only plain values", origin, key)
					}
					items[j] = it.Value
				}
				if prev, dup := seen[key]; dup {
					return fmt.Errorf("%s: %s: already set at %s", origin, key, prev)
				}
				seen[key] = origin
				out = append(out, setting{key, strings.Join(items, ","), origin})
				continue
			case yaml.ScalarNode:
				if vn.Tag == "!!null" {
					return fmt.Errorf("%s: %s: has no value (remove the line to use the default)", origin, key)
				}
				if prev, dup := seen[key]; dup {
					return fmt.Errorf("%s: %s: already set at %s", origin, key, prev)
				}
				seen[key] = origin
				out = append(out, setting{key, vn.Value, origin})
			default:
				return fmt.Errorf("%s: %s: unsupported YAML value", origin, key)
			}
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return nil, err
	}
	return out, nil
}

// parseProperties reads Kafka's server.properties format, which is Java's
// Properties format: '#' or '!' comment lines, key and value separated by
// '=', ':' or whitespace, a line ending in an odd number of backslashes
// continued on the next (whose leading whitespace is dropped), and the
// escapes \t \n \r \f \uXXXX. A later line wins over an earlier one for the
// same key, as in Java.
func parseProperties(name string, data []byte) ([]setting, error) {
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(text, "\n")
	var out []setting
	for i := 0; i < len(lines); i++ {
		start := i + 1
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		for endsWithOddBackslashes(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		if endsWithOddBackslashes(line) { // continuation at end of file
			line = line[:len(line)-1]
		}
		rawKey, rawValue := splitProperty(line)
		origin := fmt.Sprintf("%s:%d", name, start)
		key, err := unescape(rawKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		value, err := unescape(rawValue)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", origin, key, err)
		}
		out = append(out, setting{key, value, origin})
	}
	return out, nil
}

func endsWithOddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line into its (still escaped) key and value.
func splitProperty(line string) (string, string) {
	keyEnd, valueStart := len(line), len(line)
	hasSep := false
	escaped := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if escaped {
			escaped = false
			continue
		}
		if c == '\\' {
			escaped = true
			continue
		}
		if c == '=' || c == ':' {
			keyEnd, valueStart, hasSep = i, i+1, true
			break
		}
		if c == ' ' || c == '\t' || c == '\f' {
			keyEnd, valueStart = i, i+1
			break
		}
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if c != ' ' && c != '\t' && c != '\f' {
			if !hasSep && (c == '=' || c == ':') {
				hasSep = true
			} else {
				break
			}
		}
		valueStart++
	}
	return line[:keyEnd], line[valueStart:]
}

// unescape applies Java Properties escapes.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+5 > len(s) {
				return "", fmt.Errorf(`malformed \u escape`)
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf(`malformed \u escape`)
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}
