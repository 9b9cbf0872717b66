// Package kafka connects the command line to a cluster: the --brokers
// flag (env PLEXUS_BROKERS), franz-go clients built from it, and error
// messages that say what went wrong and how to fix it.
package kafka

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultBrokers is where commands look for a cluster without --brokers
// or PLEXUS_BROKERS: the address `plexus serve` listens on by default.
const DefaultBrokers = "127.0.0.1:9092"

// BrokersEnv overrides the default brokers.
const BrokersEnv = "PLEXUS_BROKERS"

// Options are the connection flags shared by every command that talks to
// a cluster.
type Options struct {
	brokers string
	flag    *pflag.Flag
	// ClientID is sent to the brokers in every request.
	ClientID string
}

// AddFlags adds --brokers to cmd and its subcommands.
func AddFlags(cmd *cobra.Command) *Options {
	o := &Options{ClientID: "plexus-cli"}
	cmd.PersistentFlags().StringVar(&o.brokers, "brokers", DefaultBrokers, "comma-separated host:port list of brokers to connect to (env "+BrokersEnv+")")
	o.flag = cmd.PersistentFlags().Lookup("brokers")
	return o
}

// Brokers is the seed list: --brokers, else PLEXUS_BROKERS, else the
// default.
func (o *Options) Brokers() []string {
	s := o.brokers
	if o.flag == nil || !o.flag.Changed {
		if env := os.Getenv(BrokersEnv); env != "" {
			s = env
		}
	}
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			if i := strings.Index(b, "://"); i >= 0 {
				b = b[i+3:] // PLAINTEXT://host:port as in Kafka's configs
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		out = []string{DefaultBrokers}
	}
	return out
}

// Client connects to the cluster with franz-go, after checking that at
// least one seed broker accepts connections so that a wrong address fails
// at once with advice rather than after the client's retries.
func (o *Options) Client(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := o.Brokers()
	if err := probe(ctx, seeds); err != nil {
		return nil, err
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(o.ClientID),
		kgo.DialTimeout(5 * time.Second),
		kgo.RetryTimeout(15 * time.Second),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("client options: %w", err)
	}
	return cl, nil
}

// Admin connects and returns an admin client; close it with Close.
func (o *Options) Admin(ctx context.Context) (*kadm.Client, error) {
	cl, err := o.Client(ctx)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

func probe(ctx context.Context, seeds []string) error {
	var errs []error
	d := net.Dialer{Timeout: 3 * time.Second}
	for _, s := range seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("broker address %q: want host:port, e.g. --brokers 127.0.0.1:9092", s)
		}
		c, err := d.DialContext(ctx, "tcp", s)
		if err == nil {
			c.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
	}
	list := strings.Join(seeds, ",")
	why := errs[0].Error()
	var oe *net.OpError
	if errors.As(errs[0], &oe) && oe.Err != nil {
		why = oe.Err.Error()
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			why = se.Err.Error()
		}
	}
	if errors.Is(errs[0], syscall.ECONNREFUSED) {
		why = "connection refused"
	}
	return fmt.Errorf("cannot connect to %s: %s; is a broker running at %s? start one with `plexus serve` or pass --brokers (or set %s)", list, why, list, BrokersEnv)
}

// Status renders a per-item result for a table: OK, or the Kafka error
// name with the broker's message (or the error's description).
func Status(err error, msg string) string {
	if err == nil {
		return "OK"
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if msg == "" {
			msg = ke.Description
		}
		return ke.Message + ": " + msg
	}
	if msg != "" {
		return err.Error() + ": " + msg
	}
	return Explain(err).Error()
}

// Explain rewrites errors from the client into what a user can act on.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case strings.Contains(err.Error(), "broker is too old"):
		return fmt.Errorf("the broker does not support this request (docs/apis.md lists the Kafka APIs Plexus serves): %w", err)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%w (list topics with `plexus topic list`)", err)
	case errors.Is(err, kerr.GroupIDNotFound):
		return fmt.Errorf("%w (list groups with `plexus group list`)", err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: the broker's advertised address may be unreachable from here; check `plexus cluster info` and the broker's --advertise", err)
	}
	return err
}

// TopicID renders a topic id as Kafka's tools do: URL-safe base64 without
// padding (22 characters).
func TopicID(id [16]byte) string {
	if id == ([16]byte{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// ParseKV parses key=value pairs given to flag (e.g. "-c") into a map
// whose values are pointers, as the admin APIs want them.
func ParseKV(flag string, kvs []string) (map[string]*string, error) {
	m := make(map[string]*string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want key=value, e.g. %s retention.ms=3600000", flag, kv, flag)
		}
		m[k] = &v
	}
	return m, nil
}

// RequireAPIs checks that the brokers serve the API keys a feature needs,
// so a command fails with a clear message rather than a client retrying.
func RequireAPIs(ctx context.Context, adm *kadm.Client, feature string, keys ...int16) error {
	vs, err := adm.ApiVersions(ctx)
	if err != nil {
		return Explain(err)
	}
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			continue
		}
		var missing []string
		for _, k := range keys {
			if _, ok := v.KeyMaxVersion(k); !ok {
				missing = append(missing, kmsg.NameForKey(k))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("broker %d does not serve %s yet: it lacks the Kafka APIs %s (docs/apis.md lists the APIs Plexus serves)", v.NodeID, feature, strings.Join(missing, ", "))
		}
	}
	return nil
}

// ParseTime reads a timestamp: milliseconds since the epoch, an RFC 3339
// time or date, or a negative duration before now.
func ParseTime(s string, now time.Time) (int64, error) {
	if d, ok := strings.CutPrefix(s, "-"); ok {
		dur, err := time.ParseDuration(d)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as -1h or -30m", s)
		}
		return now.Add(-dur).UnixMilli(), nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("%q is not a time: use milliseconds since the epoch, 2006-01-02, 2006-01-02T15:04:05Z or -1h", s)
}
