package proctree

import (
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// A started child is listed under this process, and gone once reaped.
func TestChildren(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/<pid>/task/<tid>/children is Linux's")
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	if got := Children("self"); !slices.Contains(got, pid) {
		t.Fatalf("Children(self) = %v, want it to hold %s", got, pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if got := Children("self"); slices.Contains(got, pid) {
		t.Fatalf("Children(self) = %v still holds the reaped %s", got, pid)
	}
}
