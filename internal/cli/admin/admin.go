// Package admin connects the command line to a broker's admin HTTP
// endpoint: the --admin flag (env PLEXUS_ADMIN) and a reader of the
// Prometheus metrics it serves on /metrics. Commands use it for what the
// Kafka protocol does not carry, such as the log cleaner's state; the
// endpoint is optional, so callers treat its absence as "not shown", not
// as a failure.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// DefaultAddr is where commands look for the admin endpoint without
// --admin or PLEXUS_ADMIN: where `plexus serve` serves it by default.
const DefaultAddr = "127.0.0.1:9644"

// AddrEnv overrides the default address.
const AddrEnv = "PLEXUS_ADMIN"

// maxBody bounds what is read from /metrics.
const maxBody = 64 << 20

// Options is the --admin flag of a command.
type Options struct {
	addr string
	flag *pflag.Flag
}

// AddFlags adds --admin to cmd.
func AddFlags(cmd *cobra.Command) *Options {
	o := &Options{}
	cmd.Flags().StringVar(&o.addr, "admin", DefaultAddr, "host:port of the broker's admin HTTP endpoint, read for what the Kafka protocol does not carry (env "+AddrEnv+")")
	o.flag = cmd.Flags().Lookup("admin")
	return o
}

// Addr is the endpoint: --admin, else PLEXUS_ADMIN, else the default.
// Explicit says whether the user chose it.
func (o *Options) Addr() (addr string, explicit bool) {
	if o.flag != nil && o.flag.Changed {
		return trimScheme(o.addr), true
	}
	if env := strings.TrimSpace(os.Getenv(AddrEnv)); env != "" {
		return trimScheme(env), true
	}
	return DefaultAddr, false
}

func trimScheme(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "http://")
	return strings.TrimSuffix(s, "/")
}

// Sample is one series of a scrape.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Metrics is one scrape of /metrics: counter, gauge and untyped series by
// metric name.
type Metrics map[string][]Sample

// Scrape reads the endpoint's /metrics, giving up after a few seconds.
func (o *Options) Scrape(ctx context.Context) (Metrics, error) {
	addr, _ := o.Addr()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %q: %w", addr, err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return nil, fmt.Errorf("admin endpoint %s unreachable: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin endpoint %s: GET /metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: reading /metrics: %w", addr, err)
	}
	m := Metrics{}
	for name, f := range families {
		for _, s := range f.GetMetric() {
			var v float64
			switch {
			case s.Gauge != nil:
				v = s.GetGauge().GetValue()
			case s.Counter != nil:
				v = s.GetCounter().GetValue()
			case s.Untyped != nil:
				v = s.GetUntyped().GetValue()
			default:
				continue // histograms and summaries: not needed
			}
			labels := make(map[string]string, len(s.GetLabel()))
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			m[name] = append(m[name], Sample{Labels: labels, Value: v})
		}
	}
	return m, nil
}

// Get returns the value of the series of name whose labels include all
// of match.
func (m Metrics) Get(name string, match map[string]string) (float64, bool) {
	for _, s := range m[name] {
		ok := true
		for k, v := range match {
			if s.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return s.Value, true
		}
	}
	return 0, false
}
