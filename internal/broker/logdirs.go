package broker

// DescribeLogDirs (v1-v5): the one data directory, and the size of every
// partition in it.

import (
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/plexus/plexus/internal/server"
)

func handleDescribeLogDirs(b *Broker, r *server.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	abs, err := filepath.Abs(b.opts.DataDir)
	if err != nil {
		abs = b.opts.DataDir
	}
	dir.Dir = abs
	var st syscall.Statfs_t
	if err := syscall.Statfs(abs, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * st.Bsize
		dir.UsableBytes = int64(st.Bavail) * st.Bsize
	} else {
		dir.TotalBytes, dir.UsableBytes = -1, -1
	}
	img := b.store.Image()
	add := func(name string, parts []int32) {
		t := img.Topics[name]
		if t == nil {
			return
		}
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = name
		for _, i := range parts {
			p := b.Partition(t.ID, i)
			if p == nil {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = i
			dp.Size = p.Size()
			dp.OffsetLag = 0 // no future (moving) replicas
			dt.Partitions = append(dt.Partitions, dp)
		}
		dir.Topics = append(dir.Topics, dt)
	}
	if req.Topics == nil {
		for _, name := range img.TopicNames() {
			t := img.Topics[name]
			all := make([]int32, t.Partitions)
			for i := range all {
				all[i] = int32(i)
			}
			add(name, all)
		}
	} else {
		for _, rt := range req.Topics {
			add(rt.Topic, rt.Partitions)
		}
	}
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return resp
}
