// Command plexus is a Kafka-compatible streaming broker and its tools in
// one binary. See internal/cli for the commands.
package main

import (
	"os"

	"github.com/plexus/plexus/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
