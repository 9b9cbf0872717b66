// Package brokertest starts an in-process Plexus broker on 127.0.0.1:0 for
// tests, in the style of net/http/httptest: the broker is the real one,
// assembled by internal/node exactly as `plexus serve` assembles it.
package brokertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/plexus/plexus/internal/config"
	plog "github.com/plexus/plexus/internal/log"
	"github.com/plexus/plexus/internal/node"
)

// Broker is a running test broker.
type Broker struct {
	*node.Node
	t       testing.TB
	cfg     map[string]string
	fs      plog.FS
	dataDir string
	logger  *slog.Logger
}

// Option changes how a test broker starts.
type Option func(*Broker)

// WithConfig sets broker settings (Kafka names), e.g.
// WithConfig("num.partitions", "3").
func WithConfig(kv ...string) Option {
	return func(b *Broker) {
		for i := 0; i+1 < len(kv); i += 2 {
			b.cfg[kv[i]] = kv[i+1]
		}
	}
}

// WithFS runs the broker on another file system (an in-memory or
// fault-injecting one).
func WithFS(fs plog.FS) Option { return func(b *Broker) { b.fs = fs } }

// WithDataDir keeps data in dir instead of a fresh temporary directory, so
// a test can restart a broker on the same data.
func WithDataDir(dir string) Option { return func(b *Broker) { b.dataDir = dir } }

// WithLogger sends the broker's logs to l (they are discarded by default,
// or written to stderr when PLEXUS_TEST_LOG is set).
func WithLogger(l *slog.Logger) Option { return func(b *Broker) { b.logger = l } }

// Start starts a broker and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	b := &Broker{t: t, cfg: map[string]string{}}
	for _, o := range opts {
		o(b)
	}
	if b.dataDir == "" {
		b.dataDir = t.TempDir()
	}
	if b.logger == nil {
		if os.Getenv("PLEXUS_TEST_LOG") != "" {
			b.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		} else {
			b.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
	}
	b.start()
	t.Cleanup(func() { b.Close() })
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	settings := map[string]string{
		config.LogDirs:        b.dataDir,
		config.AdminListeners: "",
	}
	for k, v := range b.cfg {
		settings[k] = v
	}
	cfg, err := config.New(settings)
	if err != nil {
		b.t.Fatalf("brokertest: config: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.t.Fatalf("brokertest: listen: %v", err)
	}
	n, err := node.Start(node.Options{Config: cfg, FS: b.fs, Logger: b.logger, Listener: l, NoAdmin: true})
	if err != nil {
		b.t.Fatalf("brokertest: start: %v", err)
	}
	b.Node = n
}

// Restart shuts the broker down cleanly and starts it again on the same
// data directory (the listening port changes).
func (b *Broker) Restart() {
	b.t.Helper()
	b.Close()
	b.start()
}

// Close shuts the broker down; it is safe to call twice.
func (b *Broker) Close() {
	if b.Node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Node.Shutdown(ctx); err != nil {
		b.t.Errorf("brokertest: shutdown: %v", err)
	}
	b.Node = nil
}

// DataDir is where the broker keeps its data.
func (b *Broker) DataDir() string { return b.dataDir }
