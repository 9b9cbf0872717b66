// Package node assembles one running broker process: the Kafka listener and
// its server, the broker behind it, and the admin HTTP listener. `plexus
// serve` and internal/brokertest both start brokers through it, so tests
// run what users run.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plexus/plexus/internal/broker"
	"github.com/plexus/plexus/internal/config"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/metrics"
	"github.com/plexus/plexus/internal/server"
)

// Options start a node.
type Options struct {
	Config *config.Broker
	FS     plog.FS // nil: the real file system
	Logger *slog.Logger
	// Listener and AdminListener, when set, are used instead of listening
	// on the configured addresses (tests pass 127.0.0.1:0 listeners).
	Listener      net.Listener
	AdminListener net.Listener
	// NoAdmin skips the admin HTTP listener.
	NoAdmin bool
	Now     func() time.Time
	// Metrics receives the broker's measurements and is served on the
	// admin listener's /metrics; nil starts a fresh registry.
	Metrics *metrics.Metrics
}

// Node is a running broker.
type Node struct {
	Broker    *broker.Broker
	Server    *server.Server
	Addr      string // the Kafka listener's address
	AdminAddr string // the admin listener's address, "" without one
	DataDir   string
	Metrics   *metrics.Metrics

	// Collector is the scrape-time collector of partition state; the group
	// coordinator adds consumer lag to it with WatchGroups.
	Collector *metrics.BrokerCollector

	logger *slog.Logger
	pprof  bool // admin.pprof.enable
	admin  *http.Server
	wg     sync.WaitGroup
	once   sync.Once
	errc   chan error
	ready  atomic.Bool // serving, and not shutting down: /readyz
}

// Start listens, opens the data directory and serves.
func Start(o Options) (*Node, error) {
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	n := &Node{logger: o.Logger, DataDir: cfg.String(config.LogDirs), errc: make(chan error, 2), pprof: cfg.Bool(config.AdminPprofEnable)}
	l := o.Listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", firstAddr(cfg.String(config.Listeners))); err != nil {
			return nil, fmt.Errorf("listen on %s (listeners): %w", cfg.String(config.Listeners), err)
		}
	}
	n.Addr = l.Addr().String()
	host, port, err := advertised(cfg, l.Addr())
	if err != nil {
		l.Close()
		return nil, err
	}
	b, err := broker.New(broker.Options{
		Config: cfg, FS: o.FS, DataDir: n.DataDir, NodeID: int32(cfg.Int(config.NodeID)),
		Host: host, Port: port, Logger: o.Logger, Now: o.Now,
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	n.Broker = b
	n.Metrics = o.Metrics
	if n.Metrics == nil {
		n.Metrics = metrics.New()
	}
	b.SetMetrics(n.Metrics)
	n.Collector = n.Metrics.WatchBroker(b)
	n.Collector.WatchGroups(groupOffsets{b})
	n.Collector.WatchCleaner(cleanerStats{b})
	n.Server = server.New(server.Config{
		MaxRequestBytes:       cfg.Int("socket.request.max.bytes"),
		QueuedMaxRequestBytes: cfg.Long("queued.max.request.bytes"),
		IdleTimeout:           time.Duration(cfg.Long("connections.max.idle.ms")) * time.Millisecond,
		MaxConnections:        cfg.Int("max.connections"),
		Logger:                o.Logger,
	}, b)
	n.Metrics.WatchServer(&n.Server.Stats)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.Server.Serve(l, "PLAINTEXT"); err != nil {
			n.errc <- err
		}
	}()
	if !o.NoAdmin {
		al := o.AdminListener
		if al == nil {
			if addr := firstAddr(cfg.String(config.AdminListeners)); addr != "" {
				if al, err = net.Listen("tcp", addr); err != nil {
					n.Shutdown(context.Background())
					return nil, fmt.Errorf("listen on %s (admin.listeners): %w", addr, err)
				}
			}
		}
		if al != nil {
			n.AdminAddr = al.Addr().String()
			n.admin = &http.Server{Handler: n.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				if err := n.admin.Serve(al); err != nil && !errors.Is(err, http.ErrServerClosed) {
					n.errc <- err
				}
			}()
		}
	}
	n.ready.Store(true)
	return n, nil
}

// Err delivers a listener failure after Start.
func (n *Node) Err() <-chan error { return n.errc }

// Shutdown stops accepting, answers the requests already read (until ctx
// ends), then flushes and closes every partition.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	n.once.Do(func() {
		n.ready.Store(false)
		if n.admin != nil {
			n.admin.Shutdown(ctx)
		}
		if n.Server != nil {
			if err := n.Server.Shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if n.Broker != nil {
			if err := n.Broker.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		n.wg.Wait()
	})
	return errors.Join(errs...)
}

// AdminHandler serves the admin HTTP endpoint:
//
//	/metrics  Prometheus metrics (text format, or OpenMetrics when asked)
//	/healthz  200 while the process runs (liveness)
//	/readyz   200 once the broker serves Kafka clients, 503 before and
//	          while it shuts down (readiness: take it out of rotation)
//	/debug/pprof/  Go's runtime profiles, when admin.pprof.enable
func (n *Node) AdminHandler() http.Handler { return n.adminHandler() }

func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !n.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: starting or shutting down\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	index := "plexus admin endpoint: /metrics /healthz /readyz\n"
	if n.pprof {
		// Registered by hand: net/http/pprof's init would put them on
		// http.DefaultServeMux, which Plexus does not serve.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		index = "plexus admin endpoint: /metrics /healthz /readyz /debug/pprof/\n"
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(index))
	})
	return mux
}

// groupOffsets is the broker's group coordinator as the metrics see it.
// It looks the coordinator up at each scrape: there is none once the
// broker closes.
type groupOffsets struct{ b *broker.Broker }

func (g groupOffsets) CommittedOffsets() []metrics.GroupOffset {
	c := g.b.GroupCoordinator()
	if c == nil {
		return nil
	}
	offs := c.CommittedOffsets()
	out := make([]metrics.GroupOffset, len(offs))
	for i, o := range offs {
		out[i] = metrics.GroupOffset(o)
	}
	return out
}

// cleanerStats is the broker's log cleaner as the metrics see it.
type cleanerStats struct{ b *broker.Broker }

func (c cleanerStats) CleanerPartitions() []metrics.CleanerPartition {
	stats := c.b.CleanerStats()
	out := make([]metrics.CleanerPartition, len(stats))
	for i, s := range stats {
		out[i] = metrics.CleanerPartition{
			Topic: s.Topic, Partition: s.Partition,
			DirtyRatio: s.DirtyRatio, DirtyBytes: s.DirtyBytes,
			Cleanings: s.Cleanings, BytesCleaned: s.BytesRead, BytesReclaimed: s.BytesReclaimed,
			SinceLastClean: s.TimeSinceLastClean, Uncleanable: s.Uncleanable,
		}
	}
	return out
}

func (c cleanerStats) CleanerSummary() metrics.CleanerSummary {
	s := c.b.CleanerSummary()
	return metrics.CleanerSummary{Threads: s.Threads, MaxDirtyRatio: s.MaxDirtyRatio, SinceLastRun: s.TimeSinceLastRun, Uncleanable: s.Uncleanable}
}

// firstAddr takes the first host:port of a comma-separated list, dropping a
// Kafka-style "NAME://" prefix.
func firstAddr(s string) string {
	s, _, _ = strings.Cut(s, ",")
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	return strings.TrimSpace(s)
}

// advertised resolves the host and port clients are told: the configured
// advertised.listeners, else the bound address, with a wildcard host
// replaced by loopback, which is all a client could be told without one.
func advertised(cfg *config.Broker, bound net.Addr) (string, int32, error) {
	addr := ""
	if v, src, ok := cfg.Get(config.AdvertisedListeners); ok && src != config.SourceDefault {
		addr = firstAddr(v)
	}
	if addr == "" {
		addr = bound.String()
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("advertised.listeners %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return "", 0, fmt.Errorf("advertised.listeners %q: bad port", addr)
	}
	if port == 0 {
		// Listening on :0 picks a port: advertise the one picked.
		_, bp, _ := net.SplitHostPort(bound.String())
		port, _ = strconv.Atoi(bp)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return host, int32(port), nil
}
