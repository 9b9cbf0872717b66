package cluster

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	plog "github.com/plexus/plexus/internal/log"
)

// MetaFile names the file, at the data directory's root, that records which
// cluster and node the directory belongs to (Kafka's meta.properties).
const MetaFile = "meta.properties"

// Meta is the identity a data directory belongs to.
type Meta struct {
	ClusterID string
	NodeID    int32
}

// LoadMeta reads the data directory's identity, creating it on first start.
// A directory written by another node id is refused: starting on it would
// serve another broker's data under the wrong identity.
func LoadMeta(fsys plog.FS, dir string, nodeID int32) (Meta, error) {
	path := filepath.Join(dir, MetaFile)
	if err := plog.MkdirDurable(fsys, dir); err != nil {
		return Meta{}, err
	}
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err == nil {
		defer f.Close()
		size, err := f.Size()
		if err != nil {
			return Meta{}, err
		}
		buf := make([]byte, min(size, 1<<16))
		if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
			return Meta{}, err
		}
		m, err := parseMeta(buf)
		if err != nil {
			return Meta{}, fmt.Errorf("%s: %w", path, err)
		}
		if m.NodeID != nodeID {
			return Meta{}, fmt.Errorf("%s belongs to node.id %d, but this broker is node.id %d: start with --node-id %d or use another --data-dir", path, m.NodeID, nodeID, m.NodeID)
		}
		return m, nil
	}
	if !os.IsNotExist(err) {
		return Meta{}, err
	}
	id := NewTopicID()
	m := Meta{ClusterID: base64.RawURLEncoding.EncodeToString(id[:]), NodeID: nodeID}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Written by plexus on first start; do not edit.\nversion=1\ncluster.id=%s\nnode.id=%d\n", m.ClusterID, m.NodeID)
	tmp := path + ".tmp"
	tf, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return Meta{}, err
	}
	if _, err := tf.Write(b.Bytes()); err != nil {
		tf.Close()
		return Meta{}, err
	}
	if err := tf.Sync(); err != nil {
		tf.Close()
		return Meta{}, err
	}
	if err := tf.Close(); err != nil {
		return Meta{}, err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return Meta{}, err
	}
	return m, fsys.SyncDir(dir)
}

func parseMeta(buf []byte) (Meta, error) {
	var m Meta
	haveNode := false
	sc := bufio.NewScanner(bytes.NewReader(buf))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "cluster.id":
			m.ClusterID = strings.TrimSpace(v)
		case "node.id":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return m, fmt.Errorf("bad node.id %q", v)
			}
			m.NodeID, haveNode = int32(n), true
		}
	}
	if m.ClusterID == "" || !haveNode {
		return m, fmt.Errorf("missing cluster.id or node.id")
	}
	return m, nil
}
