// Command gatehouse is the Gatehouse server and its admin CLI.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/gatehouse-auth/gatehouse/internal/app"
)

func main() {
	// `gatehouse serve` starts its password-hash worker processes with
	// this hidden command (password.ProcessOptions).
	if len(os.Args) == 2 && os.Args[1] == app.HashWorkerCommand {
		os.Exit(app.HashWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	withRuntimeDefaults(execve)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var o app.Options
	if exe, err := workerExecutable(); err == nil {
		o.HashWorker = []string{exe, app.HashWorkerCommand}
	}
	if err := app.RunWith(ctx, o, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

// workerExecutable is the binary the hash workers run. Workers start at
// the first hash and again after a failure, possibly long after the
// server did; on Linux /proc/self/exe is the running server's own image
// even if an upgrade has replaced the file since, so a worker is always
// the server's own version.
func workerExecutable() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			return "/proc/self/exe", nil
		}
	}
	return os.Executable()
}
