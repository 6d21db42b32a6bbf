package main

import "syscall"

// childAttrs makes the kernel kill the server if the benchmark dies without
// cleaning up (SIGKILL, a crash), so no orphan keeps the port or the data.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
