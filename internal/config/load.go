package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LoadOptions are the startup inputs of a broker, lowest precedence first.
type LoadOptions struct {
	// File is a config file: YAML (a flat "key: value" map; nested maps are
	// flattened with dots) or Kafka's server.properties format, chosen by the
	// extension .properties/.yaml/.yml or else by content. Empty: no file.
	File string
	// Env is the process environment in os.Environ form. PLEXUS_* variables
	// name settings: PLEXUS_LOG_RETENTION_MS sets log.retention.ms.
	Env []string
	// Flags are settings from dedicated command-line flags (--listen,
	// --advertise, --data-dir, --admin-listen, --node-id), already mapped to
	// setting names by the caller.
	Flags map[string]string
	// Sets are "key=value" strings from repeated --set flags; a later one
	// wins over an earlier one for the same key.
	Sets []string
}

// EnvAliases maps the short environment variables to the settings they set.
// Like NonConfigEnv, it is read by Load and must not change concurrently.
var EnvAliases = map[string]string{
	"PLEXUS_LISTEN":       Listeners,
	"PLEXUS_ADVERTISE":    AdvertisedListeners,
	"PLEXUS_DATA_DIR":     LogDirs,
	"PLEXUS_ADMIN_LISTEN": AdminListeners,
	"PLEXUS_NODE_ID":      NodeID,
}

// NonConfigEnv lists PLEXUS_* variables that are not broker settings and
// that Load ignores. Any other PLEXUS_* variable must name a setting.
var NonConfigEnv = map[string]bool{
	"PLEXUS_BROKERS":    true, // seed brokers of the CLI client
	"PLEXUS_CONFIG":     true, // config file path, read by the CLI
	"PLEXUS_LOG_LEVEL":  true, // slog level, read by the CLI
	"PLEXUS_LOG_FORMAT": true, // slog handler, read by the CLI
}

// flagNames maps settings to the dedicated flag that sets them, for origins.
var flagNames = map[string]string{
	Listeners:           "--listen",
	AdvertisedListeners: "--advertise",
	LogDirs:             "--data-dir",
	AdminListeners:      "--admin-listen",
	NodeID:              "--node-id",
}

const envPrefix = "PLEXUS_"

// envName returns the environment variable that sets a setting.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setting is one key=value with where it came from.
type setting struct {
	key, value, origin string
}

// Load gathers the broker's static settings (STATIC_BROKER_CONFIG) with the
// precedence flags and --set > PLEXUS_* environment > file > default, and
// validates them. Every unknown name or invalid value is an error naming the
// key, where it came from and how to fix it; Load reports all of them.
func Load(opts LoadOptions) (*Broker, error) {
	type layer struct {
		settings []setting
		errs     []error
	}
	var layers []layer
	if opts.File != "" {
		s, err := readFile(opts.File)
		if err != nil {
			return nil, err
		}
		layers = append(layers, layer{settings: s})
	}
	s, errs := envSettings(opts.Env)
	layers = append(layers, layer{s, errs})
	s, errs = flagSettings(opts.Flags, opts.Sets)
	layers = append(layers, layer{s, errs})

	// Later layers override earlier ones; every value is validated where it
	// was given, even if overridden, so that no mistake goes unnoticed.
	static := map[string]string{}
	origin := map[string]string{}
	var all []error
	for _, l := range layers {
		all = append(all, l.errs...)
		for _, st := range l.settings {
			canon, err := checkBrokerValue(st.key, st.value)
			if err != nil {
				all = append(all, withOrigin(err, st.origin))
				continue
			}
			static[st.key] = canon
			origin[st.key] = st.origin
		}
	}
	if len(all) > 0 {
		return nil, errors.Join(all...)
	}
	return newBroker(static, origin)
}

// envSettings extracts settings from PLEXUS_* variables.
func envSettings(env []string) ([]setting, []error) {
	var out []setting
	var errs []error
	byKey := map[string]string{} // key -> variable, to catch two variables for one key
	sorted := append([]string(nil), env...)
	sort.Strings(sorted)
	for _, kv := range sorted {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || NonConfigEnv[name] {
			continue
		}
		origin := "environment variable " + name
		key, ok := EnvAliases[name]
		if !ok {
			key = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, envPrefix), "_", "."))
			if k, found := index[key]; !found || !k.Broker {
				errs = append(errs, unknownEnv(name, key))
				continue
			}
		}
		if prev, dup := byKey[key]; dup {
			errs = append(errs, &Error{Key: key, Origin: origin, Err: ErrInvalid,
				Reason: "is also set by " + prev, Hint: "set it once"})
			continue
		}
		byKey[key] = name
		out = append(out, setting{key, value, origin})
	}
	return out, errs
}

// unknownEnv explains a PLEXUS_* variable that names no broker setting.
func unknownEnv(name, key string) *Error {
	e := &Error{Key: name, Origin: "environment", Err: ErrUnknown, Reason: "names no broker setting"}
	if k, ok := index[key]; ok && k.Topic {
		e.Reason = fmt.Sprintf("names %s, a topic config, not a broker setting", key)
		if len(k.BrokerSynonyms) > 0 {
			b := k.BrokerSynonyms[0].Name
			e.Hint = fmt.Sprintf("the broker-wide default is %s (%s)", b, envName(b))
		}
		return e
	}
	if h, ok := unsupported[key]; ok {
		e.Reason = fmt.Sprintf("names %s, a Kafka setting Plexus does not take", key)
		e.Hint = h
		return e
	}
	if s := suggest(key, scopeBroker); s != "" {
		e.Hint = fmt.Sprintf("did you mean %s (%s)?", envName(s), s)
	} else {
		e.Hint = "PLEXUS_* variables name broker settings, e.g. PLEXUS_LOG_RETENTION_MS for log.retention.ms"
	}
	return e
}

// flagSettings merges dedicated flags and --set entries; a key given by both
// with different values is an error, since neither obviously wins.
func flagSettings(flags map[string]string, sets []string) ([]setting, []error) {
	var errs []error
	byKey := map[string]setting{}
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		origin := "flag " + flagNames[k]
		if flagNames[k] == "" {
			origin = "flag for " + k
		}
		byKey[k] = setting{k, flags[k], origin}
	}
	fromSet := map[string]bool{}
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			errs = append(errs, &Error{Key: kv, Origin: "--set", Err: ErrInvalid,
				Reason: "is not key=value", Hint: "write --set log.retention.ms=3600000"})
			continue
		}
		if f, dup := byKey[k]; dup && !fromSet[k] && f.value != v {
			errs = append(errs, &Error{Key: k, Origin: "--set " + kv, Err: ErrInvalid,
				Reason: fmt.Sprintf("conflicts with %s=%s", f.origin, f.value), Hint: "give it once"})
			continue
		}
		byKey[k] = setting{k, v, "--set " + kv}
		fromSet[k] = true
	}
	out := make([]setting, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, errs
}

// readFile reads a YAML or properties config file.
func readFile(path string) ([]setting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	name := filepath.Base(path)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".properties":
		return parseProperties(name, data)
	case ".yaml", ".yml":
		return parseYAML(name, data)
	}
	if looksLikeYAMLMap(data) {
		return parseYAML(name, data)
	}
	return parseProperties(name, data)
}
