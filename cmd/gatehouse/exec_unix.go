//go:build unix

package main

import "syscall"

// execve replaces this process with path (same pid, so signals and
// supervisors are unaffected).
var execve = syscall.Exec
