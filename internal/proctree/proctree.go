// Package proctree lists a process's children from Linux's /proc, for the
// load generator and the cluster test, which account for and check the
// server's password-hash worker processes.
package proctree

import (
	"os"
	"strings"
)

// Children returns the pids of the child processes of pid (a number, or
// "self"), from /proc/<pid>/task/<tid>/children: a child is listed under
// the thread that started it, so every thread is read. It returns nil
// where /proc is missing (not Linux) or the process is gone.
func Children(pid string) []string {
	var out []string
	tasks, _ := os.ReadDir("/proc/" + pid + "/task")
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}
