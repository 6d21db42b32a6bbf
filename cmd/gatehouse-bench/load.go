package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// newHTTPClient returns the one client every scenario, the floor included,
// goes through: keep-alive with an idle pool as large as the largest
// concurrency, so each worker keeps its own connection and no request pays
// for a TCP handshake after warm-up.
func newHTTPClient(maxConc int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only; never a proxy from the environment
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        2 * maxConc,
			MaxIdleConnsPerHost: maxConc,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// statusError is a completed request whose status was not 2xx.
type statusError struct {
	status     int
	retryAfter time.Duration
	body       string // the start of the response body, for messages
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.status, e.body)
}

// do sends one request and, for a 2xx answer, decodes the JSON body into
// out (when out is not nil); the body is always read to the end so the
// connection returns to the pool. A non-2xx answer is a *statusError; any
// other error is a transport or decoding failure.
func do(ctx context.Context, hc *http.Client, method, url, bearer string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		se := &statusError{status: resp.StatusCode, body: string(bytes.TrimSpace(b))}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			se.retryAfter = time.Duration(s) * time.Second
		}
		return se
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, url, err)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// requestFunc performs one logical request of a scenario.
type requestFunc func(ctx context.Context) error

// scenario is a named load: concurrency workers, each with its own request
// function (built before the clock starts), looping until the time is up.
type scenario struct {
	name        string
	concurrency int
	// worker returns the request function of worker i.
	worker func(i int) requestFunc
	// pids are the server processes whose CPU (summed) and peak RSS (the
	// largest) the scenario measures, each with its hash workers; for the
	// floor that is the benchmark itself, ["self"].
	pids []string
}

// runOptions are the knobs shared by all scenarios.
type runOptions struct {
	warmup   time.Duration // load applied but not recorded
	duration time.Duration // the measured window
	// backoff makes a worker that got 429 with Retry-After sleep that long,
	// plus up to half as long again at random, before its next request, as
	// a well-behaved client does. The jitter keeps the workers turned away
	// together from coming back together in lock step.
	backoff bool
	// dbName is the PostgreSQL database whose backends' CPU is reported
	// apart; "" on SQLite.
	dbName string
}

// Result is one scenario's figures over the measured window.
type Result struct {
	Name        string
	Concurrency int
	Window      time.Duration
	// OK counts 2xx answers completed in the window; ReqPerSec is OK per
	// second and Latency is over those requests only.
	OK        int
	ReqPerSec float64
	Latency   Summary
	// NonOK counts completed non-2xx answers by status code.
	NonOK map[int]int
	// TransportErrors counts requests that got no HTTP answer (or an
	// undecodable one).
	TransportErrors int
	FirstError      string
	// CPU is the cores used on average over the window by the server, by
	// the benchmark process, by the server's PostgreSQL backends and by
	// everything else on the machine (other people's builds share it).
	// For the floor the server is the benchmark process, and Server and
	// Gen are the same figure.
	CPU      cpuUse
	CPUKnown bool
	// PeakRSS is VmHWM of the server plus that of each of its hash
	// workers, over warm-up and window (reset just before the scenario);
	// -1 if it could not be read or reset.
	PeakRSS int64
}

// tally is one worker's private record, merged at the end.
type tally struct {
	lat       []time.Duration
	ok        int
	nonOK     map[int]int
	transport int
	firstErr  string
}

// runScenario drives sc for opts.warmup plus opts.duration. A request
// counts in the window when it completes inside it (so throughput is
// completions per second, unbiased by long requests straddling the
// edges); workers stop starting requests at the end of the window and the
// ones in flight are waited for but not counted.
func runScenario(ctx context.Context, sc scenario, opts runOptions) Result {
	fns := make([]requestFunc, sc.concurrency)
	for i := range fns {
		fns[i] = sc.worker(i)
	}
	res := Result{Name: sc.name, Concurrency: sc.concurrency, NonOK: map[int]int{}, PeakRSS: -1}
	resetOK := true
	for _, pid := range sc.pids {
		for _, p := range processTree(pid) {
			resetOK = resetOK && resetPeakRSS(p) == nil
		}
	}

	start := time.Now()
	from := start.Add(opts.warmup)
	end := from.Add(opts.duration)
	tallies := make([]tally, sc.concurrency)
	var wg sync.WaitGroup
	for i := range fns {
		wg.Add(1)
		go func(t *tally, fn requestFunc) {
			defer wg.Done()
			t.nonOK = map[int]int{}
			for ctx.Err() == nil && time.Now().Before(end) {
				t0 := time.Now()
				err := fn(ctx)
				t1 := time.Now()
				var se *statusError
				isStatus := errors.As(err, &se)
				if !t1.Before(from) && !t1.After(end) && ctx.Err() == nil {
					switch {
					case err == nil:
						t.ok++
						t.lat = append(t.lat, t1.Sub(t0))
					case isStatus:
						t.nonOK[se.status]++
					default:
						t.transport++
					}
					if err != nil && t.firstErr == "" {
						t.firstErr = err.Error()
					}
				}
				if isStatus && se.status == http.StatusTooManyRequests && opts.backoff && se.retryAfter > 0 {
					wait := se.retryAfter + rand.N(se.retryAfter/2+1)
					select {
					case <-time.After(wait):
					case <-time.After(time.Until(end)):
					case <-ctx.Done():
					}
				}
			}
		}(&tallies[i], fns[i])
	}

	// CPU is sampled at the window's edges by this goroutine.
	sleepUntil(ctx, from)
	c0 := sampleCPU(sc.pids, opts.dbName)
	sleepUntil(ctx, end)
	c1 := sampleCPU(sc.pids, opts.dbName)
	wg.Wait()
	if resetOK {
		for _, pid := range sc.pids {
			if hwm, err := treePeakRSS(pid); err == nil {
				res.PeakRSS = max(res.PeakRSS, hwm)
			}
		}
	}
	if u, ok := c1.since(c0, isSelf(sc.pids)); ok {
		res.CPU, res.CPUKnown = u, true
	}

	var all []time.Duration
	for _, t := range tallies {
		all = append(all, t.lat...)
		res.OK += t.ok
		res.TransportErrors += t.transport
		for k, v := range t.nonOK {
			res.NonOK[k] += v
		}
		if res.FirstError == "" {
			res.FirstError = t.firstErr
		}
	}
	// Completions are counted from from to end exactly.
	res.Window = opts.duration
	res.Latency = Summarize(all)
	res.ReqPerSec = Rate(res.OK, res.Window)
	return res
}

// sleepUntil sleeps until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-time.After(time.Until(t)):
	case <-ctx.Done():
	}
}
