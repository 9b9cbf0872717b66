// Command kfake runs franz-go's fake Kafka cluster (pkg/kfake) as one
// broker on a fixed port, so bench/run can measure it beside Plexus as a
// peer: in memory, on disk, or on disk with an fsync per batch.
//
//	go run ./bench/kfake --port 9093 --mode mem
//	go run ./bench/kfake --port 9093 --mode sync --data-dir /tmp/kfake
//
// It prints "kfake: listening on ADDR" once the listener is open and runs
// until SIGINT or SIGTERM, when it closes the cluster (which saves its
// state in the disk modes).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9093, "port to listen on (127.0.0.1)")
	mode := flag.String("mode", "mem", "storage: mem (in memory), disk (kfake.DataDir: written through the page cache) or sync (DataDir and SyncWrites: an fsync per batch)")
	dir := flag.String("data-dir", "", "directory for the disk and sync modes")
	partitions := flag.Int("default-partitions", 1, "partitions of auto-created topics and of CreateTopics with -1")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.Ports(*port),
		kfake.DefaultNumPartitions(*partitions),
		kfake.AllowAutoTopicCreation(),
	}
	switch *mode {
	case "mem":
	case "disk", "sync":
		if *dir == "" {
			fail(fmt.Errorf("--mode %s needs --data-dir", *mode))
		}
		opts = append(opts, kfake.DataDir(*dir))
		if *mode == "sync" {
			opts = append(opts, kfake.SyncWrites())
		}
	default:
		fail(fmt.Errorf("--mode %q: use mem, disk or sync", *mode))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fail(err)
	}
	fmt.Printf("kfake: listening on %s (mode %s)\n", c.ListenAddrs()[0], *mode)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kfake:", err)
	os.Exit(1)
}
