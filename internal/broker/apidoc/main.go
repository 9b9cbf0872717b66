// Command apidoc writes docs/apis.md, the list of Kafka APIs and the
// versions Plexus serves, from the broker's API table (broker.APIs). Run
// it from the module root:
//
//	go run ./internal/broker/apidoc
//
// A test fails when docs/apis.md differs from what it would write.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/broker"
)

const (
	docsPath    = "docs/apis.md"
	docsCommand = "go run ./internal/broker/apidoc"
)

func main() {
	if err := os.WriteFile(docsPath, markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "apidoc:", err, "(run from the module root)")
		os.Exit(1)
	}
}

// markdown renders the page: the supported APIs with their version
// ranges, then every other API key the Kafka protocol defines.
func markdown() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	apis := broker.APIs()
	served := map[int16]broker.APIVersion{}
	for _, a := range apis {
		served[a.Key] = a
	}
	p("# Kafka APIs\n\n")
	p("<!-- Generated from the API table in internal/broker/apis.go by `%s`. Do not edit by hand. -->\n\n", docsCommand)
	p(`Plexus speaks the Apache Kafka wire protocol. This page lists every request
type (API) the protocol defines and the versions of it Plexus serves. It is
generated from the same table the broker answers ApiVersions from, so a
client sees exactly these ranges: it picks, for each API, the highest version
that both it and the broker support.

Minimum versions follow Kafka 4 (KIP-896), which dropped the versions older
than record batch v2; every client released since Kafka 2.1 (2018) uses newer
ones. A request for an API or version outside this table closes the
connection, as Kafka does; an ApiVersions request with a version that is too
new is answered with version 0 and the supported ranges (KIP-511).

To see the ranges a running broker advertises, ask it with any client, for
example franz-go's ` + "`kadm.Client.ApiVersions`" + `, or
` + "`kcat -b 127.0.0.1:9092 -X debug=protocol -L`" + `, which logs the
ApiVersions exchange on stderr.

`)
	p("## Supported (%d APIs)\n\n", len(apis))
	p("| Key | API | Versions | Newest version in the protocol |\n")
	p("| ---: | --- | --- | ---: |\n")
	for _, a := range apis {
		p("| %d | %s | %s | %d |\n", a.Key, a.Name, versions(a), newest(a.Key))
	}
	p("\n## Not supported yet\n\n")
	p("Clients send these only for the features that need them; a client that\n")
	p("never uses such a feature works without them. Some are inter-broker or\n")
	p("controller APIs that clients never send.\n\n")
	p("| Key | API | Newest version in the protocol |\n")
	p("| ---: | --- | ---: |\n")
	for k := int16(0); k <= kmsg.MaxKey; k++ {
		if _, ok := served[k]; ok || kmsg.RequestForKey(k) == nil {
			continue
		}
		p("| %d | %s | %d |\n", k, kmsg.NameForKey(k), newest(k))
	}
	p("\n\"Newest version in the protocol\" is the highest version known to the\n")
	p("protocol definitions Plexus is built with (franz-go's kmsg).\n")
	return b.Bytes()
}

func versions(a broker.APIVersion) string {
	if a.MinVersion == a.MaxVersion {
		return fmt.Sprintf("%d", a.MinVersion)
	}
	return fmt.Sprintf("%d–%d", a.MinVersion, a.MaxVersion)
}

func newest(key int16) int16 {
	if r := kmsg.RequestForKey(key); r != nil {
		return r.MaxVersion()
	}
	return -1
}
