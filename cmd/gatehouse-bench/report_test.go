package main

import (
	"strings"
	"testing"
)

// The login targets are judged against the mean of the raw rates measured
// just before and just after the login scenario, and against the one
// before alone when there is no second measurement.
func TestLoginJudgedAgainstTheMeanRawRate(t *testing.T) {
	login := map[string]ScenarioJSON{scLogin: {Name: scLogin, ReqPerSec: 81, OK: 400, P99Ms: 60, PeakRSSMiB: -1}}
	target := func(rep *Report, prefix string) Target {
		t.Helper()
		evaluate(rep, login)
		for _, tg := range rep.Targets {
			if strings.HasPrefix(tg.Name, prefix) {
				return tg
			}
		}
		t.Fatalf("no %q target in %+v", prefix, rep.Targets)
		return Target{}
	}
	before := ArgonReport{RatePerSec: 80, OneHashMs: 25}
	after := ArgonReport{RatePerSec: 100, OneHashMs: 15}

	rate := target(&Report{Argon: before, ArgonAfter: &after}, "login >=")
	if rate.Ratio != 0.9 || !rate.Pass || !strings.Contains(rate.Detail, "mean of 80.0 before and 100.0 after") {
		t.Fatalf("paired: %+v, want 81/90 = 90%% and both rates named", rate)
	}
	p99 := target(&Report{Argon: before, ArgonAfter: &after}, "login p99")
	if p99.Ratio != 3 || p99.Pass {
		t.Fatalf("paired p99: %+v, want 60 ms / 20 ms = 3x, a fail", p99)
	}
	alone := target(&Report{Argon: before}, "login >=")
	if alone.Ratio != 81.0/80 || strings.Contains(alone.Detail, "mean") {
		t.Fatalf("unpaired: %+v, want 81/80", alone)
	}
}

// The login scenario's CPU is split per 2xx answer between the hash
// workers, the rest of the server, the database, the generator, other
// processes and idle time, beside what the 90% target leaves a login and
// the hash workers' share of the cores.
func TestLoginCPUSplitPerAnswer(t *testing.T) {
	login := ScenarioJSON{Name: scLogin, ReqPerSec: 80, OK: 400, ServerCPU: 1.8, WorkersCPU: 1.6, GenCPU: 0.04, DBCPU: 0.08, OtherCPU: 0.02, PeakRSSMiB: -1}
	rep := Report{Cores: 2, Argon: ArgonReport{RatePerSec: 90, Goroutines: 2}, Scenarios: []ScenarioJSON{login}}
	var b strings.Builder
	if err := writeText(&b, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"login CPU per 2xx answer: hash workers 20.00 ms, rest of the server 2.50 ms, database 1.00 ms, generator 0.50 ms, other processes 0.25 ms, idle 0.75 ms",
		"at 90% of the raw rate a login may take 24.69 ms of CPU, one hash's 22.22 ms and 2.47 ms beside it",
		"; the hash workers used 80.0% of the 2 cores",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}

	// Unknown CPU figures print no split.
	login.ServerCPU, login.WorkersCPU = -1, -1
	rep.Scenarios = []ScenarioJSON{login}
	b.Reset()
	if err := writeText(&b, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "login CPU") {
		t.Errorf("a split without CPU figures:\n%s", b.String())
	}
}
