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
