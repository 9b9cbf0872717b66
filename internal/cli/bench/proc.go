package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat: USER_HZ, which the
// kernel fixes at 100 on every architecture Go supports on Linux.
const userHZ = 100

// ProcCPU is a process's CPU time so far, from /proc/PID/stat.
type ProcCPU struct {
	User, System time.Duration
}

// Total is user plus system time.
func (c ProcCPU) Total() time.Duration { return c.User + c.System }

// ParseProcStat reads utime and stime (fields 14 and 15) from the
// contents of /proc/PID/stat. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func ParseProcStat(b []byte) (ProcCPU, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcCPU{}, errors.New("/proc stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return ProcCPU{}, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return ProcCPU{}, fmt.Errorf("/proc stat: utime/stime: %w", err)
	}
	tick := time.Second / userHZ
	return ProcCPU{User: time.Duration(ut) * tick, System: time.Duration(st) * tick}, nil
}

// ReadProcCPU reads the CPU time of process pid (0: this process).
func ReadProcCPU(pid int) (ProcCPU, error) {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return ProcCPU{}, err
	}
	return ParseProcStat(b)
}

// ProcMem is a process's memory from /proc/PID/status, in bytes.
type ProcMem struct {
	RSS     int64 // VmRSS: resident now
	PeakRSS int64 // VmHWM: the most ever resident
}

// ParseProcStatus reads VmRSS and VmHWM from the contents of
// /proc/PID/status ("VmHWM:	  123456 kB").
func ParseProcStatus(b []byte) (ProcMem, error) {
	var m ProcMem
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.PeakRSS
		default:
			continue
		}
		n, err := parseKB(v)
		if err != nil {
			return m, fmt.Errorf("/proc status %s: %w", k, err)
		}
		*dst = n
		found++
	}
	if found < 2 {
		return m, errors.New("/proc status: VmRSS or VmHWM missing (a kernel thread or a zombie?)")
	}
	return m, nil
}

// parseKB parses "  123456 kB" into bytes.
func parseKB(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, errors.New("empty value")
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, err
	}
	if len(f) > 1 {
		switch strings.ToLower(f[1]) {
		case "kb":
			n *= 1024
		default:
			return 0, fmt.Errorf("unit %q, want kB", f[1])
		}
	}
	return n, nil
}

// ReadProcMem reads the memory of process pid (0: this process).
func ReadProcMem(pid int) (ProcMem, error) {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		return ProcMem{}, err
	}
	return ParseProcStatus(b)
}

func procPath(pid int, file string) string {
	if pid == 0 {
		return "/proc/self/" + file
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + file
}

// LoadAvg is the 1, 5 and 15 minute load averages.
type LoadAvg [3]float64

func (l LoadAvg) String() string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }

// ParseLoadAvg parses the contents of /proc/loadavg.
func ParseLoadAvg(b []byte) (LoadAvg, error) {
	var l LoadAvg
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return l, errors.New("/proc/loadavg: want at least 3 fields")
	}
	for i := range 3 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return l, fmt.Errorf("/proc/loadavg: %w", err)
		}
		l[i] = v
	}
	return l, nil
}

// ReadLoadAvg reads /proc/loadavg.
func ReadLoadAvg() (LoadAvg, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return LoadAvg{}, err
	}
	return ParseLoadAvg(b)
}

// Machine describes where a benchmark ran.
type Machine struct {
	CPUs     int     `json:"cpus"`
	CPUModel string  `json:"cpu_model"`
	Kernel   string  `json:"kernel"`
	MemTotal int64   `json:"mem_total_bytes"`
	Disk     string  `json:"disk"`
	LoadAvg  LoadAvg `json:"load_avg"`
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo.
func ParseCPUModel(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ParseMemTotal returns MemTotal of /proc/meminfo in bytes.
func ParseMemTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == "MemTotal" {
			n, _ := parseKB(v)
			return n
		}
	}
	return 0
}

// mountEntry is one line of /proc/self/mountinfo: where it is mounted,
// the file system type and the source device.
type mountEntry struct{ point, fstype, source string }

// ParseMountFor finds the mount holding path (the longest mount point
// that is a prefix of it) in the contents of /proc/self/mountinfo and
// returns its source device and file system type.
func ParseMountFor(mountinfo []byte, path string) (source, fstype string) {
	var best mountEntry
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 2 {
			continue
		}
		mp := unescapeMount(pf[4])
		if !within(path, mp) || len(mp) < len(best.point) {
			continue
		}
		best = mountEntry{mp, qf[0], qf[1]}
	}
	return best.source, best.fstype
}

func within(path, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ReadMachine describes this machine and the disk holding dir, best
// effort: what cannot be read is left empty.
func ReadMachine(dir string) Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = ParseCPUModel(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = ParseMemTotal(b)
	}
	m.LoadAvg, _ = ReadLoadAvg()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return m
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		src, fs := ParseMountFor(b, abs)
		m.Disk = diskDescription(src, fs)
	}
	return m
}

// diskDescription names the device and says whether it is rotational,
// from /sys/block.
func diskDescription(src, fstype string) string {
	if src == "" {
		return ""
	}
	d := src + " (" + fstype
	dev := strings.TrimPrefix(src, "/dev/")
	if dev != src {
		// Partitions (vda1, nvme0n1p1) have their queue on the parent.
		for _, name := range []string{dev, strings.TrimRight(dev, "0123456789"), strings.TrimSuffix(strings.TrimRight(dev, "0123456789"), "p")} {
			if b, err := os.ReadFile("/sys/block/" + name + "/queue/rotational"); err == nil {
				if strings.TrimSpace(string(b)) == "1" {
					d += ", rotational"
				} else {
					d += ", non-rotational"
				}
				break
			}
		}
	}
	return d + ")"
}

// CPUTimes is the machine-wide CPU time from the "cpu" line of
// /proc/stat, in USER_HZ ticks summed over all CPUs.
type CPUTimes struct {
	Busy, Total uint64
}

// ParseCPUStat reads the aggregate "cpu" line of /proc/stat: busy is
// user+nice+system+irq+softirq+steal, total adds idle and iowait (guest
// time is already inside user and nice).
func ParseCPUStat(b []byte) (CPUTimes, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return CPUTimes{}, fmt.Errorf("/proc/stat: %w", err)
			}
			v[i] = n
		}
		user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		busy := user + nice + system + irq + softirq + steal
		return CPUTimes{Busy: busy, Total: busy + idle + iowait}, nil
	}
	return CPUTimes{}, errors.New("/proc/stat: no cpu line")
}

// ReadCPUStat reads /proc/stat.
func ReadCPUStat() (CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, err
	}
	return ParseCPUStat(b)
}

// BusyFraction is the share of the machine's CPU time that was busy
// between two readings (0 to 1).
func BusyFraction(a, b CPUTimes) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return float64(b.Busy-a.Busy) / float64(b.Total-a.Total)
}
