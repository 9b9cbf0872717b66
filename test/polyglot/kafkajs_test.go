package polyglot

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkajsInstall is the command that installs the pinned kafkajs.
const kafkajsInstall = "npm ci --prefix test/polyglot/js"

// kafkajs returns node and the node_modules folder holding kafkajs at the
// version js/package.json pins: $PLEXUS_KAFKAJS_NODE_MODULES, or
// js/node_modules (where `npm ci --prefix test/polyglot/js` puts it; git
// ignores it).
func kafkajs(t *testing.T) (node, modules string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node", "apt-get install nodejs npm")
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := readJSON("js/package.json", &pkg); err != nil {
		t.Fatal(err)
	}
	pinned := pkg.Dependencies["kafkajs"]
	modules = os.Getenv("PLEXUS_KAFKAJS_NODE_MODULES")
	if modules == "" {
		if modules, err = filepath.Abs("js/node_modules"); err != nil {
			t.Fatal(err)
		}
	}
	var installed struct {
		Version string `json:"version"`
	}
	if err := readJSON(filepath.Join(modules, "kafkajs", "package.json"), &installed); err != nil {
		missing(t, "kafkajs "+pinned+" in "+modules, kafkajsInstall)
	}
	if installed.Version != pinned {
		missing(t, fmt.Sprintf("kafkajs %s (%s has %s)", pinned, modules, installed.Version), kafkajsInstall)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", node, err)
	}
	t.Logf("node %s, kafkajs %s from %s", strings.TrimSpace(string(out)), installed.Version, modules)
	return node, modules
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// jsSummary is what js/kafkajs.js prints.
type jsSummary struct {
	Client           string           `json:"client"`
	Version          string           `json:"version"`
	Codecs           []string         `json:"codecs"`
	Produced         int              `json:"produced"`
	Consumed         int              `json:"consumed"`
	PerPartition     map[string]int   `json:"per_partition"`
	Committed        map[string]int64 `json:"committed"`
	TxnCommitted     int              `json:"txn_committed"`
	TxnReadCommitted int              `json:"txn_read_committed"`
}

// TestKafkajs runs kafkajs (npm, pinned in js/package-lock.json): admin
// createTopics; an idempotent producer at acks -1, uncompressed and GZIP; a
// consumer group reading everything back with eachMessage and committing
// with commitOffsets; and a transactional producer that commits one
// transaction, aborts one and commits one more (with sendOffsets in the
// first two). franz-go then checks the offsets, the records, their codecs
// and producer ids, and that read_committed shows the committed
// transactions only while read_uncommitted shows the aborted one too.
func TestKafkajs(t *testing.T) {
	node, modules := kafkajs(t)
	b := startBroker(t)
	const (
		topic    = "kafkajs"
		txnTopic = "kafkajs-txn"
		group    = "kafkajs-group"
		count    = 20 // records per codec, and per transaction
	)

	var sum jsSummary
	env := []string{"NODE_PATH=" + modules, "KAFKAJS_NO_PARTITIONER_WARNING=1"}
	runScript(t, &sum, env, node, "js/kafkajs.js", b.Addr, topic, txnTopic, group, strconv.Itoa(count))

	want := count * 2
	if sum.Produced != want || sum.Consumed != want {
		t.Errorf("kafkajs produced %d and consumed %d records, want %d", sum.Produced, sum.Consumed, want)
	}
	if sum.TxnCommitted != count+3 || sum.TxnReadCommitted != count+3 {
		t.Errorf("kafkajs committed %d transactional records and read %d at read_committed, want %d", sum.TxnCommitted, sum.TxnReadCommitted, count+3)
	}

	adm := kadm.NewClient(client(t, b.Addr))
	checkCommitted(t, adm, "kafkajs", group, topic, sum.Committed, want)
	// The idempotent producer's records: values, headers, codecs, and a
	// producer id on every batch.
	for _, r := range checkRecords(t, b.Addr, topic, "prefix", want) {
		if r.ProducerID < 0 {
			t.Errorf("record %s was not written by an idempotent producer (producer id %d)", r.Key, r.ProducerID)
		}
	}

	// Transactions. The last transaction put one record on every partition,
	// after everything aborted: once all three are read, so is the rest.
	checkTopic(t, adm, txnTopic, 3)
	readTxn := func(isolation kgo.IsolationLevel) map[string]int {
		recs := readAll(t, b.Addr, txnTopic, func(r []*kgo.Record) bool {
			n := 0
			for _, rec := range r {
				if strings.HasPrefix(string(rec.Key), "txn-end-") {
					n++
				}
			}
			return n >= 3
		}, kgo.FetchIsolationLevel(isolation))
		byOutcome := map[string]int{}
		for _, r := range recs {
			outcome, _, _ := strings.Cut(strings.TrimPrefix(string(r.Key), "txn-"), "-")
			byOutcome[outcome]++
			if r.ProducerID < 0 {
				t.Errorf("transactional record %s has no producer id", r.Key)
			}
		}
		return byOutcome
	}
	if got, wantN := readTxn(kgo.ReadCommitted()), map[string]int{"commit": count, "end": 3}; fmt.Sprint(got) != fmt.Sprint(wantN) {
		t.Errorf("read_committed: records by transaction %v, want %v", got, wantN)
	}
	if got, wantN := readTxn(kgo.ReadUncommitted()), map[string]int{"commit": count, "abort": count, "end": 3}; fmt.Sprint(got) != fmt.Sprint(wantN) {
		t.Errorf("read_uncommitted: records by transaction %v, want %v", got, wantN)
	}

	// sendOffsets: the committed transaction's offset is the group's; the
	// aborted one's is not.
	if got := committed(t, adm, group+"-txn-commit", topic); fmt.Sprint(got) != "map[0:1]" {
		t.Errorf("group %s-txn-commit committed %v, want map[0:1] (sendOffsets in a committed transaction)", group, got)
	}
	if got := committed(t, adm, group+"-txn-abort", topic); len(got) != 0 {
		t.Errorf("group %s-txn-abort committed %v, want nothing (sendOffsets in an aborted transaction)", group, got)
	}
}
