package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/password"
)

// ArgonStats is the raw argon2id cost on this machine, measured in the
// benchmark process with the server's own code and default parameters.
type ArgonStats struct {
	Params password.Params
	// Goroutines is GOMAXPROCS, the server's default hashing pool size.
	Goroutines int
	// Rate is hashes per second with Goroutines hashing side by side: the
	// most logins per second the cores could do if they did nothing else.
	Rate float64
	// Parallel is the latency of one hash while Goroutines run side by
	// side (what one login's hash costs on a server at full load).
	Parallel Summary
	// Alone is the median latency of one hash with nothing else running.
	Alone time.Duration
	// OtherCPU is the cores used by other processes during the parallel
	// measurement (-1 if unknown): the machine is shared.
	OtherCPU float64
}

// measureArgon hashes with password.DefaultParams: first a few hashes one
// at a time (after one to warm the heap), then GOMAXPROCS goroutines for d. The hasher's pool has one
// worker per goroutine, so no call ever waits for a slot.
func measureArgon(ctx context.Context, d time.Duration) (ArgonStats, error) {
	n := runtime.GOMAXPROCS(0)
	h, err := password.NewHasher(password.Options{Params: password.DefaultParams(), Workers: n, Queue: n})
	if err != nil {
		return ArgonStats{}, err
	}
	st := ArgonStats{Params: h.Params(), Goroutines: n}
	const pw = "argon2id raw-rate probe"

	// One unmeasured hash first: a fresh heap page-faults its 19 MiB in.
	if _, err := h.Hash(ctx, pw); err != nil {
		return st, fmt.Errorf("hash: %w", err)
	}
	alone := make([]time.Duration, 5)
	for i := range alone {
		t0 := time.Now()
		if _, err := h.Hash(ctx, pw); err != nil {
			return st, fmt.Errorf("hash: %w", err)
		}
		alone[i] = time.Since(t0)
	}
	st.Alone = Summarize(alone).P50

	lat := make([][]time.Duration, n)
	errs := make([]error, n)
	c0 := sampleCPU([]string{"self"}, "")
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				t0 := time.Now()
				if _, err := h.Hash(ctx, pw); err != nil {
					errs[g] = err
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	st.OtherCPU = -1
	if u, ok := sampleCPU([]string{"self"}, "").since(c0, true); ok {
		st.OtherCPU = u.Other
	}
	var all []time.Duration
	for g := range n {
		if errs[g] != nil {
			return st, fmt.Errorf("hash: %w", errs[g])
		}
		all = append(all, lat[g]...)
	}
	// Every hash that started finished, so the rate is all hashes over the
	// time until the last one ended.
	st.Rate = Rate(len(all), elapsed)
	st.Parallel = Summarize(all)
	return st, nil
}
