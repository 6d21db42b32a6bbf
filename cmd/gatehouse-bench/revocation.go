package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// measureRevocation times, samples times, how long after one replica
// answered a logout every other replica refuses the session. Each sample
// logs in one of the accounts afresh on replica k (a new session, its own
// password hash), has every other replica answer whoami with its access
// token (so each holds the session in its cache, the case the fan-out
// exists for), logs it out on replica k and then polls every other
// replica, back to back, until it answers 401. The sample is the time from
// the logout's answer to the last replica's first 401 answer; a poll's
// round trip bounds its resolution.
func measureRevocation(ctx context.Context, hc *http.Client, bases []string, accts []*account, samples int) (RevocationReport, error) {
	var (
		worst []time.Duration // per sample: the slowest replica
		polls []time.Duration // round trips of the refused whoamis
		first int
	)
	for k := range samples {
		if err := ctx.Err(); err != nil {
			return RevocationReport{}, err
		}
		at := k % len(bases)
		a := *accts[k%len(accts)] // a copy: the setup session stays for the other scenarios
		if err := login(ctx, hc, bases[at], &a); err != nil {
			return RevocationReport{}, err
		}
		for j, b := range bases {
			if j == at {
				continue
			}
			if err := do(ctx, hc, http.MethodGet, b+"/v1/auth/whoami", a.accessToken, nil, nil); err != nil {
				return RevocationReport{}, fmt.Errorf("whoami on replica %d before the logout: %w", j, err)
			}
		}
		if err := do(ctx, hc, http.MethodPost, bases[at]+"/v1/auth/logout", a.accessToken, nil, nil); err != nil {
			return RevocationReport{}, fmt.Errorf("logout on replica %d: %w", at, err)
		}
		acked := time.Now()
		var (
			mu       sync.Mutex
			slowest  time.Duration
			allFirst = true
			errs     []error
			wg       sync.WaitGroup
		)
		for j, b := range bases {
			if j == at {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 1; ; n++ {
					t0 := time.Now()
					err := do(ctx, hc, http.MethodGet, b+"/v1/auth/whoami", a.accessToken, nil, nil)
					t1 := time.Now()
					var se *statusError
					if errors.As(err, &se) && se.status == http.StatusUnauthorized {
						mu.Lock()
						slowest = max(slowest, t1.Sub(acked))
						polls = append(polls, t1.Sub(t0))
						allFirst = allFirst && n == 1
						mu.Unlock()
						return
					}
					if t1.Sub(acked) > 10*time.Second || (err != nil && se == nil) {
						mu.Lock()
						errs = append(errs, fmt.Errorf("replica %d still accepts the session %s after the logout (%v)", j, t1.Sub(acked), err))
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return RevocationReport{}, err
		}
		worst = append(worst, slowest)
		if allFirst {
			first++
		}
	}
	s, p := Summarize(worst), Summarize(polls)
	return RevocationReport{Samples: len(worst), P50Ms: msOf(s.P50), P99Ms: msOf(s.P99), MaxMs: msOf(s.Max),
		PollMs: msOf(p.P50), FirstPoll: first}, nil
}
