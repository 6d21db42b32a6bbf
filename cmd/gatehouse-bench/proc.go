package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/proctree"
)

// The figures below come from Linux's /proc. Elsewhere every function
// returns an error and the report prints "n/a".

// userHZ is the unit of utime/stime in /proc/<pid>/stat. It is 100 on every
// Linux platform Go supports (USER_HZ is fixed by the kernel ABI).
const userHZ = 100

// procStatusBytes returns a "kB" field of /proc/<pid>/status (VmRSS, VmHWM)
// in bytes. pid may be "self".
func procStatusBytes(pid, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc/%s/status: unexpected %s line %q", pid, field, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%s/status %s: %w", pid, field, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%s/status has no %s", pid, field)
}

// resetPeakRSS resets VmHWM of the process to its current RSS (writing 5 to
// clear_refs, Linux 4.0+), so a later VmHWM is the peak of what happened in
// between. It needs the same permissions as ptrace, which a parent has over
// the child it started.
func resetPeakRSS(pid string) error {
	return os.WriteFile("/proc/"+pid+"/clear_refs", []byte("5"), 0)
}

// processTree returns pid and its descendants (a server's password-hash
// worker processes). "self" has none counted: the floor runs in this process, whose only
// children are the servers.
func processTree(pid string) []string {
	tree := []string{pid}
	if pid == "self" {
		return tree
	}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, proctree.Children(tree[i])...)
	}
	return tree
}

// treePeakRSS is the sum of VmHWM over pid's process tree: the most the
// server and its workers can have held at once.
func treePeakRSS(pid string) (int64, error) {
	var sum int64
	for _, p := range processTree(pid) {
		hwm, err := procStatusBytes(p, "VmHWM")
		if err != nil {
			return 0, err
		}
		sum += hwm
	}
	return sum, nil
}

// procCPU returns the user+system CPU time the process has used so far.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after the last ')' start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	// utime and stime are fields 14 and 15, i.e. f[11] and f[12].
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// machineBusy returns the CPU time all cores together have spent not idle
// (user, nice, system, irq, softirq, steal; not idle or iowait) since boot,
// from the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for i, s := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// databaseCPU returns the CPU time used so far by the processes that
// serve PostgreSQL database db on this machine (see isPostgresOf) and by
// the machine's redis-server processes, in one walk of /proc; 0 when db
// is "" (SQLite runs have neither). Processes that exited are missing
// from the sum.
func databaseCPU(db string) time.Duration {
	if db == "" {
		return 0
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var sum time.Duration
	for _, e := range ents {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil || !(isPostgresOf(db, cmd) || bytes.HasPrefix(cmd, []byte("redis-server"))) {
			continue
		}
		if t, err := procCPU(pid); err == nil {
			sum += t
		}
	}
	return sum
}

// isPostgresOf reports whether a process's cmdline is a PostgreSQL backend
// serving database db, whose process title is "postgres: [<cluster>:]
// <user> <db> ...", or one of the cluster's WAL writer, checkpointer,
// background writer and autovacuum processes, which work for every
// database (so another database's load would count too).
func isPostgresOf(db string, cmd []byte) bool {
	if !bytes.HasPrefix(cmd, []byte("postgres: ")) {
		return false
	}
	// "postgres: [<cluster name>:] <user> <db> <client> <state>"
	f := strings.Fields(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	i := 1
	if len(f) > i && strings.HasSuffix(f[i], ":") {
		i++
	}
	title := strings.Join(f[i:], " ")
	shared := strings.HasPrefix(title, "walwriter") || strings.HasPrefix(title, "checkpointer") ||
		strings.HasPrefix(title, "background writer") || strings.HasPrefix(title, "autovacuum")
	return shared || (len(f) >= i+2 && f[i+1] == db)
}

// cpuSample is a snapshot of the CPU time used by the server, by this
// process, by the server's PostgreSQL backends and by the whole machine,
// to attribute a window's CPU.
type cpuSample struct {
	at                     time.Time
	server, gen, db, total time.Duration
	// workers is the part of server used by the servers' descendants,
	// the password-hash worker processes.
	workers time.Duration
	ok      bool
}

// sampleCPU samples the server processes pids (["self"] for the floor)
// and the database processes of db ("" for none; see databaseCPU).
func sampleCPU(pids []string, db string) cpuSample {
	s := cpuSample{at: time.Now()}
	var e1, e2, e3 error
	s.server, s.workers, e1 = procsCPU(pids)
	s.gen, e2 = procCPU("self")
	s.total, e3 = machineBusy()
	s.db = databaseCPU(db)
	s.ok = e1 == nil && e2 == nil && e3 == nil
	return s
}

// procsCPU is the CPU time of every process in pids and their
// descendants together, and the descendants' part of it (the hash
// workers). A worker that exited between two samples takes its time with
// it; one started between them brings all of its own.
func procsCPU(pids []string) (all, descendants time.Duration, err error) {
	for _, pid := range pids {
		for _, p := range processTree(pid) {
			t, err := procCPU(p)
			if err != nil {
				if p != pid {
					continue // a worker gone meanwhile
				}
				return 0, 0, err
			}
			all += t
			if p != pid {
				descendants += t
			}
		}
	}
	return all, descendants, nil
}

// isSelf says whether pids is the benchmark process itself (the floor).
func isSelf(pids []string) bool { return len(pids) == 1 && pids[0] == "self" }

// cpuUse is the average number of cores used between two samples.
// Workers is the hash workers' part of Server.
type cpuUse struct {
	Server, Workers, Gen, DB, Other float64
}

// since returns the cores used between a and s. When the server is this
// process (the floor), Server and Gen are the same figure. Other is what
// the machine used beyond the server, the benchmark and the database.
func (s cpuSample) since(a cpuSample, sameProcess bool) (cpuUse, bool) {
	if !a.ok || !s.ok {
		return cpuUse{}, false
	}
	w := s.at.Sub(a.at).Seconds()
	if w <= 0 {
		return cpuUse{}, false
	}
	u := cpuUse{Server: (s.server - a.server).Seconds() / w, Workers: max(0, (s.workers-a.workers).Seconds()/w),
		Gen: (s.gen - a.gen).Seconds() / w, DB: (s.db - a.db).Seconds() / w}
	mine := u.Server + u.Gen + u.DB
	if sameProcess {
		mine = u.Gen + u.DB
	}
	u.Other = max(0, (s.total-a.total).Seconds()/w-mine)
	return u, true
}

// idleThreshold is how many cores other processes may use for the machine
// to count as quiet.
const idleThreshold = 0.25

// waitQuiet waits, up to max, until other processes (everything but the
// server, this process and the server's database backends) use less than
// idleThreshold cores over a one-second sample. It returns the last
// sample's figure (-1 if /proc cannot tell) and how long it waited.
func waitQuiet(ctx context.Context, max time.Duration, serverPIDs []string, db string) (float64, time.Duration) {
	start := time.Now()
	other := -1.0
	for {
		a := sampleCPU(serverPIDs, db)
		sleepUntil(ctx, a.at.Add(time.Second))
		u, ok := sampleCPU(serverPIDs, db).since(a, isSelf(serverPIDs))
		if !ok {
			return -1, time.Since(start)
		}
		other = u.Other
		if other < idleThreshold || time.Since(start) >= max || ctx.Err() != nil {
			return other, time.Since(start)
		}
	}
}
