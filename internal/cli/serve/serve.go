// Package serve is `plexus serve`: run a broker.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plexus/plexus/internal/config"
	"github.com/plexus/plexus/internal/node"
)

// Command returns `plexus serve`.
func Command() *cobra.Command {
	var (
		listen, advertise, dataDir, adminListen, nodeID, configFile string
		sets                                                        []string
		logFormat, logLevel                                         string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: `Run a Plexus broker. With no flags it is a single node listening on
127.0.0.1:9092 with its data in ./plexus-data and the admin HTTP endpoint
(/healthz, /readyz, /metrics) on 127.0.0.1:9644.

Settings use Kafka's names (num.partitions, log.retention.ms, ...). They come
from flags and --set, then PLEXUS_* environment variables (PLEXUS_NUM_PARTITIONS=3),
then the config file, then the defaults; docs/configuration.md lists them all.`,
		Example: `  plexus serve
  plexus serve --listen 0.0.0.0:9092 --advertise broker1.example.com:9092 --data-dir /var/lib/plexus
  plexus serve --config plexus.yaml --set num.partitions=6 --set log.retention.ms=3600000
  PLEXUS_AUTO_CREATE_TOPICS_ENABLE=false plexus serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logFormat, logLevel, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			flags := map[string]string{}
			for name, v := range map[string]*string{"listen": &listen, "advertise": &advertise, "data-dir": &dataDir, "admin-listen": &adminListen, "node-id": &nodeID} {
				if cmd.Flags().Changed(name) {
					flags[flagKey[name]] = *v
				}
			}
			if configFile == "" {
				configFile = os.Getenv("PLEXUS_CONFIG")
			}
			cfg, err := config.Load(config.LoadOptions{File: configFile, Env: os.Environ(), Flags: flags, Sets: sets})
			if err != nil {
				return fmt.Errorf("configuration: %w", err)
			}
			n, err := node.Start(node.Options{Config: cfg, Logger: logger})
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(n.DataDir)
			fmt.Fprintf(cmd.OutOrStdout(), "plexus: Kafka API on %s, data in %s", n.Addr, abs)
			if n.AdminAddr != "" {
				fmt.Fprintf(cmd.OutOrStdout(), ", admin HTTP on %s", n.AdminAddr)
			}
			fmt.Fprintln(cmd.OutOrStdout())
			logger.Info("broker started", "listen", n.Addr, "data_dir", abs, "admin", n.AdminAddr, "node_id", n.Broker.NodeID(), "cluster_id", n.Broker.ClusterID())
			var runErr error
			select {
			case <-cmd.Context().Done():
				logger.Info("shutting down")
			case runErr = <-n.Err():
				logger.Error("listener failed; shutting down", "err", runErr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := n.Shutdown(ctx); err != nil {
				logger.Error("shutdown", "err", err)
				if runErr == nil {
					runErr = err
				}
			}
			logger.Info("stopped")
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:9092", "address for Kafka clients (listeners)")
	f.StringVar(&advertise, "advertise", "", "address clients are told to connect to (advertised.listeners; default: --listen)")
	f.StringVar(&dataDir, "data-dir", "./plexus-data", "data directory (log.dirs)")
	f.StringVar(&adminListen, "admin-listen", "127.0.0.1:9644", "address of the admin HTTP endpoint; empty disables it (admin.listeners)")
	f.StringVar(&nodeID, "node-id", "0", "this broker's id (node.id)")
	f.StringVar(&configFile, "config", "", "config file: YAML (key: value) or Kafka's server.properties format (env PLEXUS_CONFIG)")
	f.StringArrayVar(&sets, "set", nil, "any setting as key=value, e.g. --set num.partitions=3 (repeatable)")
	f.StringVar(&logFormat, "log-format", envOr("PLEXUS_LOG_FORMAT", "text"), "log format: text or json (env PLEXUS_LOG_FORMAT)")
	f.StringVar(&logLevel, "log-level", envOr("PLEXUS_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env PLEXUS_LOG_LEVEL)")
	return cmd
}

var flagKey = map[string]string{
	"listen":       config.Listeners,
	"advertise":    config.AdvertisedListeners,
	"data-dir":     config.LogDirs,
	"admin-listen": config.AdminListeners,
	"node-id":      config.NodeID,
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newLogger(format, level string, w interface{ Write([]byte) (int, error) }) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
