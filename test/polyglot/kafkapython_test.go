package polyglot

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

// pythonInstall is the command that installs kafka-python and the codec
// modules it uses, from Debian's packages.
const pythonInstall = "apt-get install python3-kafka python3-snappy python3-lz4 python3-zstandard"

// python returns the interpreter that has Debian's kafka-python:
// $PLEXUS_PYTHON, or /usr/bin/python3 (not a pyenv or virtualenv shim
// earlier on PATH, which would not see Debian's packages).
func python(t *testing.T) string {
	t.Helper()
	py := os.Getenv("PLEXUS_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if _, err := exec.LookPath(py); err != nil {
		missing(t, "python3 ("+py+")", "apt-get install python3")
	}
	out, err := exec.Command(py, "-c", "import kafka; print(kafka.__version__)").CombinedOutput()
	if err != nil {
		missing(t, "kafka-python for "+py, pythonInstall)
	}
	t.Logf("%s: kafka-python %s", py, strings.TrimSpace(string(out)))
	return py
}

// pythonSummary is what testdata/kafka_python.py prints.
type pythonSummary struct {
	Client        string           `json:"client"`
	Version       string           `json:"version"`
	APIVersion    string           `json:"api_version"`
	Codecs        []string         `json:"codecs"`
	CodecsMissing []string         `json:"codecs_missing"`
	Produced      int              `json:"produced"`
	Consumed      int              `json:"consumed"`
	Assignment    []int32          `json:"assignment"`
	PerPartition  map[string]int   `json:"per_partition"`
	Committed     map[string]int64 `json:"committed"`
}

// TestKafkaPython runs kafka-python (Debian's python3-kafka, 2.0.2):
// KafkaAdminClient creates a 3-partition topic; KafkaProducer writes keyed
// records with headers at acks=all in every codec the machine's Python
// modules provide; a KafkaConsumer group reads them all back and commits
// explicitly. franz-go then checks the committed offsets, the records and
// the codec of every stored batch.
func TestKafkaPython(t *testing.T) {
	py := python(t)
	b := startBroker(t)
	const (
		topic = "kafka-python"
		group = "kafka-python-group"
		count = 20 // records per codec
	)

	var sum pythonSummary
	runScript(t, &sum, nil, py, "testdata/kafka_python.py", b.Addr, topic, group, strconv.Itoa(count))

	if len(sum.CodecsMissing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Errorf("kafka-python could not use %v, and CI=true: .ci/run must install their modules (%s)", sum.CodecsMissing, pythonInstall)
		} else {
			t.Logf("kafka-python could not use %v: their Python modules are missing (%s)", sum.CodecsMissing, pythonInstall)
		}
	}
	if !slices.Contains(sum.Codecs, "none") || !slices.Contains(sum.Codecs, "gzip") {
		t.Errorf("codecs %v, want at least none and gzip", sum.Codecs)
	}
	want := count * len(sum.Codecs)
	if sum.Produced != want || sum.Consumed != want {
		t.Errorf("kafka-python produced %d and consumed %d records, want %d", sum.Produced, sum.Consumed, want)
	}
	if fmt.Sprint(sum.Assignment) != "[0 1 2]" {
		t.Errorf("the consumer was assigned partitions %v, want [0 1 2]", sum.Assignment)
	}

	// Independently, with franz-go: the topic, the group's offsets, the
	// records and their batches' codecs.
	adm := kadm.NewClient(client(t, b.Addr))
	checkCommitted(t, adm, "kafka-python", group, topic, sum.Committed, want)
	checkRecords(t, b.Addr, topic, "codec", want)
}
